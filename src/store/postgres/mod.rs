//! The PostgreSQL store (`[pipeline] store = postgres`), through `tokio-postgres`.
//!
//! Tables (schema `[postgresql] schema`, names from `[trending] table`, default
//! `trending_hashtags`):
//!
//! | table | columns |
//! | --- | --- |
//! | `trending_hashtags` | `tag_key` (lower-cased, key), `hashtag` (display form), `count`, `window_count`, `updated_at` |
//! | `trending_hashtags_spellings` | `tag_key`, `spelling`, `count` (for the display form) |
//! | `trending_hashtags_buckets` | `bucket_ms`, `tag_key`, `count` (the sliding window) |
//! | `trending_hashtags_offsets` | `bus`, `topic`, `partition`, `next_offset` (bus input) |
//! | `trending_hashtags_state` | one row: `schema_version`, `seq`, `last_batch`, `rule`, `input`, totals, `updated_at`, `lake_version` (last bronze table version counted) |
//!
//! A batch is one transaction that first locks the state row and checks its sequence number,
//! so counts, the bronze version and offsets change together or not at all. Layout 2 replaced
//! the set of counted bronze files (`trending_hashtags_files`, dropped by the migration) by
//! `lake_version`. The connection is made on
//! first use and dropped after a connection error; the next call connects again. The password
//! is never put in an error, a log line or [`Store::describe`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::MutexGuard;
use tokio_postgres::Client;

use super::pg::{is_connection_error, is_missing_table, pg_message, LazyClient};
use super::trending::{
    Committed, TagRow, TopQuery, TrendingBatch, TrendingCheckpoint, TrendingStore, TrendingTop,
};
use super::{Store, StoreError};
use crate::config::ident::{Ident, Qualified};
use crate::config::{PostgresSettings, StoreKind};

mod batch;
mod migrate;
mod read;
#[cfg(test)]
mod tests;

use batch::{checkpoint_q, commit_tx};
use migrate::migrate_tx;
use read::top_q;

pub use migrate::SCHEMA_VERSION;

/// Any one call (a whole batch transaction included) gives up after this.
const OP_TIMEOUT: Duration = Duration::from_secs(30);

/// Fully qualified names of the trending tables.
#[derive(Debug, Clone)]
pub struct TrendingTables {
    pub schema: Ident,
    pub hashtags: Qualified,
    pub spellings: Qualified,
    pub buckets: Qualified,
    /// Layout 1's set of counted bronze files; only dropped by the migration to layout 2.
    pub legacy_files: Qualified,
    pub offsets: Qualified,
    pub state: Qualified,
    pub count_index: Ident,
}

impl TrendingTables {
    /// Validates `schema` and `table` and every name derived from them.
    pub fn new(schema: &str, table: &Ident) -> Result<TrendingTables, StoreError> {
        let schema = Ident::new("postgresql.schema", schema)?;
        let q = |suffix: &str| -> Result<Qualified, StoreError> {
            Ok(Qualified {
                schema: schema.clone(),
                name: table.with_suffix("trending.table", suffix)?,
            })
        };
        Ok(TrendingTables {
            hashtags: q("")?,
            spellings: q("_spellings")?,
            buckets: q("_buckets")?,
            legacy_files: q("_files")?,
            offsets: q("_offsets")?,
            state: q("_state")?,
            count_index: table.with_suffix("trending.table", "_count_idx")?,
            schema,
        })
    }
}

pub struct PostgresStore {
    client: LazyClient,
    t: TrendingTables,
    migrated: AtomicBool,
}

type PgResult<T> = Result<T, tokio_postgres::Error>;

impl PostgresStore {
    pub fn new(settings: &PostgresSettings, table: &Ident) -> Result<PostgresStore, StoreError> {
        Ok(PostgresStore {
            client: LazyClient::new(settings)?,
            t: TrendingTables::new(&settings.schema, table)?,
            migrated: AtomicBool::new(false),
        })
    }

    pub fn tables(&self) -> &TrendingTables {
        &self.t
    }

    fn unavailable(&self, what: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Unavailable(format!("PostgreSQL {} {what}: {e}", self.client.target()))
    }

    async fn connect(&self) -> Result<MutexGuard<'_, Option<Client>>, StoreError> {
        self.client
            .get()
            .await
            .map_err(|e| self.unavailable("connect", e))
    }

    /// Maps a call's outcome, dropping the connection after connection trouble.
    fn finish<R>(
        &self,
        guard: &mut Option<Client>,
        what: &str,
        r: Result<PgResult<R>, tokio::time::error::Elapsed>,
    ) -> Result<R, StoreError> {
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if is_connection_error(&e) {
                    *guard = None;
                    Err(self.unavailable(what, pg_message(&e)))
                } else {
                    Err(StoreError::Sql(format!(
                        "PostgreSQL {} {what}: {}",
                        self.client.target(),
                        pg_message(&e)
                    )))
                }
            }
            Err(_) => {
                *guard = None;
                Err(self.unavailable(what, "timed out"))
            }
        }
    }

    async fn ensure_migrated(&self) -> Result<(), StoreError> {
        if !self.migrated.load(Ordering::Acquire) {
            TrendingStore::migrate(self).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl TrendingStore for PostgresStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut guard = self.connect().await?;
        let Some(client) = guard.as_mut() else {
            return Err(self.unavailable("migrate", "not connected"));
        };
        let r = tokio::time::timeout(OP_TIMEOUT, migrate_tx(client, &self.t)).await;
        self.finish(&mut guard, "creating tables", r)??;
        self.migrated.store(true, Ordering::Release);
        Ok(())
    }

    async fn checkpoint(
        &self,
        bus: &str,
        cutoff_ms: i64,
    ) -> Result<TrendingCheckpoint, StoreError> {
        self.ensure_migrated().await?;
        let mut guard = self.connect().await?;
        let Some(client) = guard.as_mut() else {
            return Err(self.unavailable("checkpoint", "not connected"));
        };
        let r =
            tokio::time::timeout(OP_TIMEOUT, checkpoint_q(client, &self.t, bus, cutoff_ms)).await;
        self.finish(&mut guard, "reading the checkpoint", r)
    }

    async fn commit(&self, batch: &TrendingBatch) -> Result<Committed, StoreError> {
        self.ensure_migrated().await?;
        let mut guard = self.connect().await?;
        let Some(client) = guard.as_mut() else {
            return Err(self.unavailable("commit", "not connected"));
        };
        let r = tokio::time::timeout(OP_TIMEOUT, commit_tx(client, &self.t, batch)).await;
        self.finish(&mut guard, "committing counts", r)?
    }

    async fn top(&self, q: TopQuery) -> Result<TrendingTop, StoreError> {
        let mut guard = self.connect().await?;
        let Some(client) = guard.as_mut() else {
            return Err(self.unavailable("top", "not connected"));
        };
        let r = tokio::time::timeout(OP_TIMEOUT, top_q(client, &self.t, &q)).await;
        match r {
            // Nothing written yet (tables not created): an empty chart, not an error.
            Ok(Err(e)) if is_missing_table(&e) => Ok(TrendingTop::default()),
            r => self.finish(&mut guard, "reading the top tags", r),
        }
    }

    async fn all(&self) -> Result<Vec<TagRow>, StoreError> {
        self.rows(None).await
    }

    async fn get(&self, keys: &[String]) -> Result<Vec<TagRow>, StoreError> {
        self.rows(Some(keys)).await
    }
}

impl Store for PostgresStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Postgres
    }

    fn describe(&self) -> String {
        format!(
            "postgres {} schema {}",
            self.client.target(),
            self.t.schema.as_str()
        )
    }

    fn trending(&self) -> &dyn TrendingStore {
        self
    }
}
