//! The PostgreSQL label store (`[pipeline] store = postgres`) and the `ai_tweets` table.
//!
//! Connection settings, the password rule and identifier validation are the store's
//! (`crate::store::pg`, `crate::config::ident`). Tables, in `[postgresql]
//! schema`:
//!
//! | table | what |
//! | --- | --- |
//! | `dataset_versions` | one row per version (`version` key, split spec and counts as JSON) |
//! | `raw_tweet_dataset_<N>` | tweets as collected (`n`, `tweet_id`, `created_at`, `author`, `text`) |
//! | `deduplicated_raw_tweet_dataset_<N>` | unique texts: `text_id`, `tweet_id`, `created_at`, `author`, `text`, `split`, `label`, `slabel` |
//! | `test_dataset_<N>`, `dev_dataset_<N>`, `snorkel_train_dataset_<N>`, `train_dataset_<N>` | the splits: `text_id`, `tweet_id`, `created_at`, `author`, `text`, `label`, `slabel` |
//! | `label_events` | every label and undo (`seq`, `version`, `text_id`, `split`, `kind`, `label`, `prev_label`, `undoes`, `who`, `at`, `note`) |
//! | `ai_tweets` | tweets the `classify` stage predicted positive (`id_str` key) |
//!
//! A version is created in one transaction (its `dataset_versions` row first, so a second
//! creator of the same version fails instead of overwriting). A label is one transaction: the
//! event row and the `label` column of its split table (and of the de-duplicated table).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::MutexGuard;

use tokio_postgres::Client;

use super::dataset::{Dataset, Split};
use super::labels::{
    EventKind, LabelEvent, LabelStore, LabelStoreError, NewEvent, Provenance, Result,
};
use crate::config::ident::{Ident, Qualified};
use crate::config::Settings;
use crate::store::pg::{is_connection_error, pg_message, LazyClient};

mod ai_tweets;
mod label;
mod migrate;
mod versions;

pub use ai_tweets::{insert_ai_tweets, AiTweet};
use label::append_tx;
use migrate::migrate;
use versions::{create_version_tx, load_version_q};

/// A label commit gives up after this (the pane shows the error; nothing moves on).
const LABEL_TIMEOUT: Duration = Duration::from_secs(10);
/// Bulk work (creating a version, loading one) gives up after this.
const BULK_TIMEOUT: Duration = Duration::from_secs(300);
/// Rows per multi-row INSERT.
const CHUNK: usize = 1000;

type PgResult<T> = std::result::Result<T, tokio_postgres::Error>;

/// A lazily connected client shared by the label store and the `ai_tweets` writer.
pub struct PgConn {
    client: LazyClient,
    pub schema: Ident,
    migrated: AtomicBool,
}

impl PgConn {
    pub fn new(settings: &Settings) -> Result<PgConn> {
        let client = LazyClient::new(&settings.postgresql)
            .map_err(|e| LabelStoreError::Config(e.to_string()))?;
        let schema = Ident::new("postgresql.schema", &settings.postgresql.schema)
            .map_err(|e| LabelStoreError::Config(format!("config error: {e}")))?;
        Ok(PgConn {
            client,
            schema,
            migrated: AtomicBool::new(false),
        })
    }

    pub fn target(&self) -> &str {
        self.client.target()
    }

    /// `"schema"."name"`, the name validated.
    pub fn table(&self, name: &str) -> Result<Qualified> {
        Ok(Qualified {
            schema: self.schema.clone(),
            name: Ident::new("table", name)
                .map_err(|e| LabelStoreError::Config(format!("config error: {e}")))?,
        })
    }

    async fn connect(&self) -> Result<MutexGuard<'_, Option<Client>>> {
        let mut guard = self
            .client
            .get()
            .await
            .map_err(|e| self.unavailable("connect", e))?;
        if !self.migrated.load(Ordering::Acquire) {
            let client = guard
                .as_mut()
                .ok_or_else(|| self.unavailable("connect", "no client"))?;
            let r = tokio::time::timeout(BULK_TIMEOUT, migrate(client, self)).await;
            finish(self, &mut guard, "creating the label tables", r)?;
            self.migrated.store(true, Ordering::Release);
        }
        Ok(guard)
    }

    fn unavailable(&self, what: &str, e: impl std::fmt::Display) -> LabelStoreError {
        LabelStoreError::Unavailable(format!("PostgreSQL {} {what}: {e}", self.target()))
    }
}

/// Maps a call's outcome, dropping the connection after connection trouble.
fn finish<R>(
    conn: &PgConn,
    guard: &mut Option<Client>,
    what: &str,
    r: std::result::Result<PgResult<R>, tokio::time::error::Elapsed>,
) -> Result<R> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            if is_connection_error(&e) {
                *guard = None;
                Err(conn.unavailable(what, pg_message(&e)))
            } else if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
                || e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_TABLE)
            {
                Err(LabelStoreError::Version(format!(
                    "PostgreSQL {} {what}: {}",
                    conn.target(),
                    pg_message(&e)
                )))
            } else {
                Err(LabelStoreError::Sql(format!(
                    "PostgreSQL {} {what}: {}",
                    conn.target(),
                    pg_message(&e)
                )))
            }
        }
        Err(_) => {
            *guard = None;
            Err(conn.unavailable(what, "timed out"))
        }
    }
}

fn ts_expr(param: usize) -> String {
    format!("to_timestamp(${param}::bigint / 1000.0)")
}

const MS_OF: &str = "(extract(epoch from created_at) * 1000)::bigint";

fn version_table(c: &PgConn, stem: &str, version: u32) -> Result<Qualified> {
    c.table(&format!("{stem}_{version}"))
}

/// The PostgreSQL [`LabelStore`].
pub struct PgLabelStore {
    conn: PgConn,
}

impl PgLabelStore {
    pub fn new(settings: &Settings) -> Result<PgLabelStore> {
        Ok(PgLabelStore {
            conn: PgConn::new(settings)?,
        })
    }

    pub fn conn(&self) -> &PgConn {
        &self.conn
    }
}

#[async_trait]
impl LabelStore for PgLabelStore {
    fn describe(&self) -> String {
        format!(
            "postgres {} (schema {})",
            self.conn.target(),
            self.conn.schema.as_str()
        )
    }

    async fn versions(&self) -> Result<Vec<u32>> {
        let c = &self.conn;
        let mut g = c.connect().await?;
        let client = g
            .as_mut()
            .ok_or_else(|| c.unavailable("connect", "no client"))?;
        let q = format!(
            "SELECT version FROM {}.\"dataset_versions\" ORDER BY version",
            c.schema
        );
        let r = tokio::time::timeout(BULK_TIMEOUT, client.query(&q, &[])).await;
        let rows = finish(c, &mut g, "listing dataset versions", r)?;
        Ok(rows.iter().map(|r| r.get::<_, i32>(0) as u32).collect())
    }

    async fn create_version(&self, ds: &Dataset, slabels: &[i32]) -> Result<()> {
        let c = &self.conn;
        let mut g = c.connect().await?;
        let client = g
            .as_mut()
            .ok_or_else(|| c.unavailable("connect", "no client"))?;
        let r = tokio::time::timeout(BULK_TIMEOUT, create_version_tx(client, c, ds, slabels)).await;
        let what = format!("creating dataset version {}", ds.version);
        finish(c, &mut g, &what, r)?
    }

    async fn load_version(&self, version: u32) -> Result<Dataset> {
        let c = &self.conn;
        let mut g = c.connect().await?;
        let client = g
            .as_mut()
            .ok_or_else(|| c.unavailable("connect", "no client"))?;
        let r = tokio::time::timeout(BULK_TIMEOUT, load_version_q(client, c, version)).await;
        finish(c, &mut g, &format!("loading dataset version {version}"), r)?.ok_or_else(|| {
            LabelStoreError::Version(format!(
                "no dataset version {version} in {}",
                c.schema.as_str()
            ))
        })
    }

    async fn append(&self, event: NewEvent) -> Result<LabelEvent> {
        let c = &self.conn;
        let split_t = version_table(c, event.split.table(), event.version)?;
        let dedup_t = version_table(c, "deduplicated_raw_tweet_dataset", event.version)?;
        let mut g = c.connect().await?;
        let client = g
            .as_mut()
            .ok_or_else(|| c.unavailable("connect", "no client"))?;
        let r = tokio::time::timeout(
            LABEL_TIMEOUT,
            append_tx(client, c, &split_t, &dedup_t, &event),
        )
        .await;
        let seq = finish(c, &mut g, "committing a label", r)?;
        Ok(LabelEvent { seq, event })
    }

    async fn events(&self, version: u32) -> Result<Vec<LabelEvent>> {
        let c = &self.conn;
        let mut g = c.connect().await?;
        let client = g
            .as_mut()
            .ok_or_else(|| c.unavailable("connect", "no client"))?;
        let q = format!(
            "SELECT seq, text_id, split, kind, label, prev_label, undoes, who, (extract(epoch from at) * 1000)::bigint, note,
                    event_id, tweet_id, source, model_version, probability
             FROM {}.\"label_events\" WHERE version = $1 ORDER BY seq",
            c.schema
        );
        let r = tokio::time::timeout(BULK_TIMEOUT, client.query(&q, &[&(version as i32)])).await;
        let rows = finish(c, &mut g, "reading label events", r)?;
        Ok(rows
            .iter()
            .map(|r| LabelEvent {
                seq: r.get::<_, i64>(0) as u64,
                event: NewEvent {
                    version,
                    text_id: r.get(1),
                    split: Split::parse(r.get::<_, &str>(2)).unwrap_or(Split::Train),
                    kind: if r.get::<_, &str>(3) == "undo" {
                        EventKind::Undo
                    } else {
                        EventKind::Label
                    },
                    label: r.get(4),
                    prev_label: r.get(5),
                    undoes: r.get::<_, Option<i64>>(6).map(|u| u as u64),
                    who: r.get(7),
                    at_ms: r.get(8),
                    note: r.get(9),
                    provenance: Provenance {
                        event_id: r.get::<_, Option<String>>(10).unwrap_or_default(),
                        tweet_id: r.get::<_, Option<String>>(11).unwrap_or_default(),
                        source: r.get::<_, Option<String>>(12).unwrap_or_default(),
                        model_version: r.get::<_, Option<i64>>(13).unwrap_or(0) as u64,
                        probability: r.get(14),
                    },
                },
            })
            .collect())
    }

    async fn stored_labels(&self, version: u32) -> Result<BTreeMap<i64, i32>> {
        let c = &self.conn;
        let tables = Split::ALL
            .iter()
            .map(|s| version_table(c, s.table(), version))
            .collect::<Result<Vec<_>>>()?;
        let q = tables
            .iter()
            .map(|t| format!("SELECT text_id, label FROM {t} WHERE label <> -1"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let mut g = c.connect().await?;
        let client = g
            .as_mut()
            .ok_or_else(|| c.unavailable("connect", "no client"))?;
        let r = tokio::time::timeout(BULK_TIMEOUT, client.query(&q, &[])).await;
        let rows = finish(c, &mut g, "reading labels", r)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
