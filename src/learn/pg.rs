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
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use super::dataset::{Dataset, DatasetRow, Manifest, RawTweet, Split, SplitSpec};
use super::labels::{
    EventKind, LabelEvent, LabelStore, LabelStoreError, NewEvent, Provenance, Result,
};
use crate::config::ident::{Ident, Qualified};
use crate::config::Settings;
use crate::store::pg::{is_connection_error, pg_message, LazyClient};

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

async fn migrate(client: &mut Client, c: &PgConn) -> PgResult<()> {
    let tx = client.transaction().await?;
    crate::store::pg::begin_migration(&tx, &format!("ssp-tui labels {}", c.schema), &c.schema)
        .await?;
    let s = &c.schema;
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {s}.\"dataset_versions\" (
            version integer PRIMARY KEY,
            manifest text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE IF NOT EXISTS {s}.\"label_events\" (
            seq bigserial PRIMARY KEY,
            version integer NOT NULL,
            text_id bigint NOT NULL,
            split text NOT NULL,
            kind text NOT NULL,
            label integer NOT NULL,
            prev_label integer NOT NULL,
            undoes bigint,
            who text NOT NULL,
            at timestamptz NOT NULL,
            note text
        );
        CREATE INDEX IF NOT EXISTS \"label_events_version_idx\" ON {s}.\"label_events\" (version, seq);
        ALTER TABLE {s}.\"label_events\"
            ADD COLUMN IF NOT EXISTS event_id text,
            ADD COLUMN IF NOT EXISTS tweet_id text,
            ADD COLUMN IF NOT EXISTS source text,
            ADD COLUMN IF NOT EXISTS model_version bigint,
            ADD COLUMN IF NOT EXISTS probability real;
        CREATE UNIQUE INDEX IF NOT EXISTS \"label_events_event_id_idx\" ON {s}.\"label_events\" (event_id);
        CREATE TABLE IF NOT EXISTS {s}.\"ai_tweets\" (
            id_str text PRIMARY KEY,
            created_at timestamptz,
            author text,
            text text NOT NULL,
            probability real NOT NULL,
            label text NOT NULL,
            model_version integer NOT NULL,
            hand_labels integer NOT NULL,
            classified_at timestamptz NOT NULL DEFAULT now()
        );"
    ))
    .await?;
    tx.commit().await
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

async fn create_version_tx(
    client: &mut Client,
    c: &PgConn,
    ds: &Dataset,
    slabels: &[i32],
) -> PgResult<std::result::Result<(), LabelStoreError>> {
    let v = ds.version;
    let names = match (|| -> Result<_> {
        Ok((
            version_table(c, "raw_tweet_dataset", v)?,
            version_table(c, "deduplicated_raw_tweet_dataset", v)?,
            Split::ALL
                .iter()
                .map(|s| Ok((*s, version_table(c, s.table(), v)?)))
                .collect::<Result<Vec<_>>>()?,
        ))
    })() {
        Ok(n) => n,
        Err(e) => return Ok(Err(e)),
    };
    let (raw_t, dedup_t, split_ts) = names;
    let tx = client.transaction().await?;
    let manifest = serde_json::to_string(&Manifest::of(ds)).unwrap_or_default();
    tx.execute(
        &format!(
            "INSERT INTO {}.\"dataset_versions\" (version, manifest) VALUES ($1, $2)",
            c.schema
        ),
        &[&(v as i32), &manifest],
    )
    .await?;
    tx.batch_execute(&format!(
        "CREATE TABLE {raw_t} (n bigint PRIMARY KEY, tweet_id text NOT NULL, created_at timestamptz, author text, text text NOT NULL);
         CREATE TABLE {dedup_t} (text_id bigint PRIMARY KEY, tweet_id text NOT NULL, created_at timestamptz, author text, text text NOT NULL, split text NOT NULL, label integer NOT NULL DEFAULT -1, slabel integer NOT NULL DEFAULT -1);"
    ))
    .await?;
    for (_, t) in &split_ts {
        tx.batch_execute(&format!(
            "CREATE TABLE {t} (text_id bigint PRIMARY KEY, tweet_id text NOT NULL, created_at timestamptz, author text, text text NOT NULL, label integer NOT NULL DEFAULT -1, slabel integer NOT NULL DEFAULT -1)"
        ))
        .await?;
    }
    // Raw tweets.
    for (chunk_i, chunk) in ds.raw.chunks(CHUNK).enumerate() {
        let mut sql =
            format!("INSERT INTO {raw_t} (n, tweet_id, created_at, author, text) VALUES ");
        let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::with_capacity(chunk.len() * 5);
        for (i, r) in chunk.iter().enumerate() {
            let b = i * 5;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${}, ${}, {}, ${}, ${})",
                b + 1,
                b + 2,
                ts_expr(b + 3),
                b + 4,
                b + 5
            ));
            params.push(Box::new((chunk_i * CHUNK + i) as i64 + 1));
            params.push(Box::new(r.tweet_id.clone()));
            params.push(Box::new(r.created_at));
            params.push(Box::new(r.author.clone()));
            params.push(Box::new(r.text.clone()));
        }
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        tx.execute(&sql, &refs).await?;
    }
    // Unique texts, then each split.
    let rows: Vec<(&DatasetRow, i32)> = ds
        .rows
        .iter()
        .zip(slabels.iter().copied().chain(std::iter::repeat(-1)))
        .collect();
    let targets =
        std::iter::once((None, &dedup_t)).chain(split_ts.iter().map(|(s, t)| (Some(*s), t)));
    for (split, table) in targets {
        let selected: Vec<&(&DatasetRow, i32)> = rows
            .iter()
            .filter(|(r, _)| split.is_none_or(|s| r.split == s))
            .collect();
        let per = if split.is_none() { 7 } else { 6 };
        for chunk in selected.chunks(CHUNK) {
            let mut sql = if split.is_none() {
                format!("INSERT INTO {table} (text_id, tweet_id, created_at, author, text, slabel, split) VALUES ")
            } else {
                format!("INSERT INTO {table} (text_id, tweet_id, created_at, author, text, slabel) VALUES ")
            };
            let mut params: Vec<Box<dyn ToSql + Sync + Send>> =
                Vec::with_capacity(chunk.len() * per);
            for (i, (r, slabel)) in chunk.iter().enumerate() {
                let b = i * per;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${}, ${}, {}, ${}, ${}, ${}",
                    b + 1,
                    b + 2,
                    ts_expr(b + 3),
                    b + 4,
                    b + 5,
                    b + 6
                ));
                if split.is_none() {
                    sql.push_str(&format!(", ${}", b + 7));
                }
                sql.push(')');
                params.push(Box::new(r.text_id));
                params.push(Box::new(r.tweet_id.clone()));
                params.push(Box::new(r.created_at));
                params.push(Box::new(r.author.clone()));
                params.push(Box::new(r.text.clone()));
                params.push(Box::new(*slabel));
                if split.is_none() {
                    params.push(Box::new(r.split.name().to_string()));
                }
            }
            let refs: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            tx.execute(&sql, &refs).await?;
        }
    }
    tx.commit().await?;
    Ok(Ok(()))
}

async fn load_version_q(
    client: &mut Client,
    c: &PgConn,
    version: u32,
) -> PgResult<Option<Dataset>> {
    let Ok(raw_t) = version_table(c, "raw_tweet_dataset", version) else {
        return Ok(None);
    };
    let Ok(dedup_t) = version_table(c, "deduplicated_raw_tweet_dataset", version) else {
        return Ok(None);
    };
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let Some(m) = tx
        .query_opt(
            &format!(
                "SELECT manifest FROM {}.\"dataset_versions\" WHERE version = $1",
                c.schema
            ),
            &[&(version as i32)],
        )
        .await?
    else {
        return Ok(None);
    };
    let manifest: String = m.get(0);
    let (spec, source) = serde_json::from_str::<Manifest>(&manifest)
        .map(|m| (m.spec, m.source))
        .unwrap_or((
            SplitSpec {
                test: 0,
                dev: 0,
                weak_train: 0,
                seed: 0,
            },
            None,
        ));
    let raw = tx
        .query(
            &format!("SELECT tweet_id, {MS_OF}, author, text FROM {raw_t} ORDER BY n"),
            &[],
        )
        .await?
        .iter()
        .map(|r| RawTweet {
            tweet_id: r.get(0),
            created_at: r.get(1),
            author: r.get(2),
            text: r.get(3),
        })
        .collect();
    let rows = tx
        .query(
            &format!("SELECT text_id, tweet_id, {MS_OF}, author, text, split FROM {dedup_t} ORDER BY text_id"),
            &[],
        )
        .await?
        .iter()
        .map(|r| DatasetRow {
            text_id: r.get(0),
            tweet_id: r.get(1),
            created_at: r.get(2),
            author: r.get(3),
            text: r.get(4),
            split: Split::parse(r.get::<_, &str>(5)).unwrap_or(Split::Train),
        })
        .collect();
    tx.commit().await?;
    Ok(Some(Dataset {
        version,
        spec,
        raw,
        rows,
        source,
    }))
}

async fn append_tx(
    client: &mut Client,
    c: &PgConn,
    split_t: &Qualified,
    dedup_t: &Qualified,
    e: &NewEvent,
) -> PgResult<u64> {
    let tx = client.transaction().await?;
    let p = &e.provenance;
    let event_id = (!p.event_id.is_empty()).then_some(p.event_id.as_str());
    // A retry of an append whose commit reply was lost finds its event already stored: the
    // client-generated id makes it one row.
    let inserted = tx
        .query_opt(
            &format!(
                "INSERT INTO {}.\"label_events\" (version, text_id, split, kind, label, prev_label, undoes, who, at, note,
                    event_id, tweet_id, source, model_version, probability)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, {}, $10, $11, $12, $13, $14, $15)
                 ON CONFLICT (event_id) DO NOTHING RETURNING seq",
                c.schema,
                ts_expr(9)
            ),
            &[
                &(e.version as i32),
                &e.text_id,
                &e.split.name(),
                &e.kind.name(),
                &e.label,
                &e.prev_label,
                &e.undoes.map(|u| u as i64),
                &e.who,
                &e.at_ms,
                &e.note,
                &event_id,
                &p.tweet_id,
                &p.source,
                &(p.model_version as i64),
                &p.probability,
            ],
        )
        .await?;
    let seq: i64 = match inserted {
        Some(row) => row.get(0),
        None => {
            let row = tx
                .query_one(
                    &format!(
                        "SELECT seq FROM {}.\"label_events\" WHERE event_id = $1",
                        c.schema
                    ),
                    &[&event_id],
                )
                .await?;
            tx.commit().await?;
            return Ok(row.get::<_, i64>(0) as u64);
        }
    };
    tx.execute(
        &format!("UPDATE {split_t} SET label = $1 WHERE text_id = $2"),
        &[&e.label, &e.text_id],
    )
    .await?;
    tx.execute(
        &format!("UPDATE {dedup_t} SET label = $1 WHERE text_id = $2"),
        &[&e.label, &e.text_id],
    )
    .await?;
    tx.commit().await?;
    Ok(seq as u64)
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

/// One tweet the classifier predicted positive.
#[derive(Debug, Clone, PartialEq)]
pub struct AiTweet {
    pub id_str: String,
    pub created_at: Option<i64>,
    pub author: Option<String>,
    pub text: String,
    pub probability: f32,
    pub label: String,
    pub model_version: u32,
    pub hand_labels: u32,
}

/// Inserts rows into `ai_tweets` in one transaction; a tweet already there is kept (the
/// table is keyed by tweet id, so replaying a bronze file after a crash adds nothing).
pub async fn insert_ai_tweets(conn: &PgConn, rows: &[AiTweet]) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut g = conn.connect().await?;
    let client = g
        .as_mut()
        .ok_or_else(|| conn.unavailable("connect", "no client"))?;
    let schema = conn.schema.clone();
    let work = async {
        let tx = client.transaction().await?;
        let mut n = 0;
        for chunk in rows.chunks(CHUNK) {
            let mut sql = format!(
                "INSERT INTO {schema}.\"ai_tweets\" (id_str, created_at, author, text, probability, label, model_version, hand_labels) VALUES "
            );
            let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
            for (i, r) in chunk.iter().enumerate() {
                let b = i * 8;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${}, {}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    ts_expr(b + 2),
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8
                ));
                params.push(Box::new(r.id_str.clone()));
                params.push(Box::new(r.created_at));
                params.push(Box::new(r.author.clone()));
                params.push(Box::new(r.text.clone()));
                params.push(Box::new(r.probability));
                params.push(Box::new(r.label.clone()));
                params.push(Box::new(r.model_version as i32));
                params.push(Box::new(r.hand_labels as i32));
            }
            sql.push_str(" ON CONFLICT (id_str) DO NOTHING");
            let refs: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            n += tx.execute(&sql, &refs).await?;
        }
        tx.commit().await?;
        Ok(n)
    };
    let r = tokio::time::timeout(BULK_TIMEOUT, work).await;
    finish(conn, &mut g, "writing ai_tweets", r)
}
