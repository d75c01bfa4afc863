//! Where counts, labels and checkpoints live: an embedded store (files under the lake, the
//! zero-service default) or PostgreSQL (`[pipeline] store = postgres`).
//!
//! A [`Store`] groups its parts by concern: [`Store::trending`] today; labels and datasets
//! get their own part next to it. Table and schema names come from configuration and are
//! validated as identifiers ([`ident`]); every value travels as a query parameter.

pub mod embedded;
pub mod pg;
mod pg_tls;
pub mod postgres;
pub mod trending;

use std::path::PathBuf;
use std::sync::Arc;

pub use crate::config::ident::{self, Ident, IdentError};
pub use embedded::EmbeddedStore;
pub use postgres::PostgresStore;
pub use trending::{
    Committed, TagDelta, TagRow, TopQuery, TopRow, TrendingBatch, TrendingCheckpoint, TrendingMeta,
    TrendingStore, TrendingTop,
};

use crate::config::{Settings, StoreKind};

/// Errors of a store. None of them ever carries a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Bad names or settings: retrying will not help.
    #[error("{0}")]
    Config(String),
    /// Cannot reach the database or log in (down, refused, wrong credentials, timeout).
    #[error("{0}")]
    Unavailable(String),
    /// A statement failed.
    #[error("{0}")]
    Sql(String),
    /// Reading or writing the embedded store's files.
    #[error("{0}")]
    Io(String),
    /// The store is at another sequence number than the batch expects: another writer, or
    /// the stage's view is stale. The stage restarts and reloads its checkpoint.
    #[error("store is at batch {found}, this batch expected {expected}: another writer on the same table?")]
    Conflict { expected: u64, found: u64 },
}

impl StoreError {
    /// Worth retrying with backoff (the database may come back).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::Sql(_) | StoreError::Io(_)
        )
    }
}

impl From<IdentError> for StoreError {
    fn from(e: IdentError) -> Self {
        StoreError::Config(format!("config error: {e}"))
    }
}

/// A store: its parts, grouped by concern.
pub trait Store: Send + Sync {
    /// `embedded` | `postgres`.
    fn kind(&self) -> StoreKind;
    /// Where it is, for people (never the password).
    fn describe(&self) -> String;
    /// Trending hashtag counts and the trending stage's checkpoint.
    fn trending(&self) -> &dyn TrendingStore;
}

/// Where the embedded store keeps its files: `<lake>/store`.
pub fn embedded_dir(settings: &Settings) -> PathBuf {
    settings.lake.root.join("store")
}

/// Opens the configured store (no I/O yet: PostgreSQL connects on first use).
pub fn open(settings: &Settings) -> Result<Arc<dyn Store>, StoreError> {
    let table = Ident::new("trending.table", &settings.trending.table)?;
    match settings.pipeline.store {
        StoreKind::Embedded => Ok(EmbeddedStore::open(embedded_dir(settings), &table)?),
        StoreKind::Postgres => Ok(Arc::new(PostgresStore::new(&settings.postgresql, &table)?)),
    }
}
