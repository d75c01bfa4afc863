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

use super::embedded::meta_mismatch;
use super::pg::{begin_migration, is_connection_error, is_missing_table, pg_message, LazyClient};
use super::trending::{
    Committed, TagRow, TopQuery, TopRow, TrendingBatch, TrendingCheckpoint, TrendingMeta,
    TrendingStore, TrendingTop,
};
use super::{Store, StoreError};
use crate::config::ident::{Ident, Qualified};
use crate::config::{PostgresSettings, StoreKind};
use crate::tweet::hashtag_rule::{display_form, NO_TAGS};

/// Version of the table layout written by this build.
pub const SCHEMA_VERSION: i32 = 2;
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

async fn migrate_tx(client: &mut Client, t: &TrendingTables) -> PgResult<Result<(), StoreError>> {
    let tx = client.transaction().await?;
    begin_migration(&tx, &format!("ssp-tui {}", t.hashtags), &t.schema).await?;
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {h} (
            tag_key text PRIMARY KEY,
            hashtag text NOT NULL,
            count bigint NOT NULL,
            window_count bigint NOT NULL DEFAULT 0,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX IF NOT EXISTS {idx} ON {h} (count DESC);
        CREATE TABLE IF NOT EXISTS {sp} (
            tag_key text NOT NULL,
            spelling text NOT NULL,
            count bigint NOT NULL,
            PRIMARY KEY (tag_key, spelling)
        );
        CREATE TABLE IF NOT EXISTS {b} (
            bucket_ms bigint NOT NULL,
            tag_key text NOT NULL,
            count bigint NOT NULL,
            PRIMARY KEY (bucket_ms, tag_key)
        );
        CREATE TABLE IF NOT EXISTS {o} (
            bus text NOT NULL,
            topic text NOT NULL,
            partition integer NOT NULL,
            next_offset bigint NOT NULL,
            PRIMARY KEY (bus, topic, partition)
        );
        CREATE TABLE IF NOT EXISTS {s} (
            id integer PRIMARY KEY CHECK (id = 1),
            schema_version integer NOT NULL,
            seq bigint NOT NULL DEFAULT 0,
            last_batch bigint NOT NULL DEFAULT 0,
            rule text,
            input text,
            tweets bigint NOT NULL DEFAULT 0,
            occurrences bigint NOT NULL DEFAULT 0,
            distinct_tags bigint NOT NULL DEFAULT 0,
            updated_at timestamptz,
            lake_version bigint
        );",
        h = t.hashtags,
        idx = t.count_index,
        sp = t.spellings,
        b = t.buckets,
        o = t.offsets,
        s = t.state,
    ))
    .await?;
    tx.execute(
        &format!(
            "INSERT INTO {} (id, schema_version) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
            t.state
        ),
        &[&SCHEMA_VERSION],
    )
    .await?;
    let version: i32 = tx
        .query_one(
            &format!("SELECT schema_version FROM {} WHERE id = 1", t.state),
            &[],
        )
        .await?
        .get(0);
    if version > SCHEMA_VERSION {
        return Ok(Err(StoreError::Config(format!(
            "{} was created by a newer ssp-tui (table layout {version}, this build knows {SCHEMA_VERSION})",
            t.state
        ))));
    }
    if version < 2 {
        // The bronze lake became a Delta table: its checkpoint is one table version, and the
        // file names counted from the old plain-Parquet folders mean nothing to it. Counts
        // made from those folders are dropped and recounted from the table (whose first
        // version holds the converted files), so nothing is counted twice; counts from the
        // bus keep their offsets.
        tx.batch_execute(&format!(
            "ALTER TABLE {s} ADD COLUMN IF NOT EXISTS lake_version bigint;
             DROP TABLE IF EXISTS {f};
             DO $$ BEGIN
               IF (SELECT input FROM {s} WHERE id = 1) IS DISTINCT FROM 'bus' THEN
                 DELETE FROM {h}; DELETE FROM {sp}; DELETE FROM {b};
                 UPDATE {s} SET tweets = 0, occurrences = 0, distinct_tags = 0,
                   lake_version = NULL WHERE id = 1;
               END IF;
             END $$;
             UPDATE {s} SET schema_version = 2 WHERE id = 1;",
            s = t.state,
            f = t.legacy_files,
            h = t.hashtags,
            sp = t.spellings,
            b = t.buckets,
        ))
        .await?;
    }
    // Later layouts add their `ALTER TABLE`s here, guarded by `version < N`.
    tx.commit().await?;
    Ok(Ok(()))
}

async fn checkpoint_q(
    client: &mut Client,
    t: &TrendingTables,
    bus: &str,
    cutoff_ms: i64,
) -> PgResult<TrendingCheckpoint> {
    // One snapshot for all four reads.
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let state = tx
        .query_one(
            &format!(
                "SELECT seq, rule, input, lake_version FROM {} WHERE id = 1",
                t.state
            ),
            &[],
        )
        .await?;
    let seq: i64 = state.get(0);
    let rule: Option<String> = state.get(1);
    let input: Option<String> = state.get(2);
    let lake_version: Option<i64> = state.get(3);
    let offsets = tx
        .query(
            &format!(
                "SELECT topic, partition, next_offset FROM {} WHERE bus = $1",
                t.offsets
            ),
            &[&bus],
        )
        .await?
        .iter()
        .map(|r| {
            (
                (r.get::<_, String>(0), r.get::<_, i32>(1)),
                r.get::<_, i64>(2),
            )
        })
        .collect();
    let buckets = tx
        .query(
            &format!(
                "SELECT bucket_ms, tag_key, count FROM {} WHERE bucket_ms >= $1",
                t.buckets
            ),
            &[&cutoff_ms],
        )
        .await?
        .iter()
        .map(|r| {
            (
                r.get::<_, i64>(0),
                r.get::<_, String>(1),
                r.get::<_, i64>(2) as u64,
            )
        })
        .collect();
    tx.commit().await?;
    Ok(TrendingCheckpoint {
        seq: seq as u64,
        meta: match (rule, input) {
            (Some(rule), Some(input)) => Some(TrendingMeta { rule, input }),
            _ => None,
        },
        lake_version,
        offsets,
        buckets,
    })
}

async fn commit_tx(
    client: &mut Client,
    t: &TrendingTables,
    b: &TrendingBatch,
) -> PgResult<Result<Committed, StoreError>> {
    let tx = client.transaction().await?;
    let row = tx
        .query_one(
            &format!(
                "SELECT seq, last_batch, rule, input FROM {} WHERE id = 1 FOR UPDATE",
                t.state
            ),
            &[],
        )
        .await?;
    let seq = row.get::<_, i64>(0) as u64;
    let last_batch: i64 = row.get(1);
    if seq != b.base_seq {
        // Dropping `tx` rolls back.
        if last_batch == b.id && seq == b.base_seq + 1 {
            return Ok(Ok(Committed::AlreadyApplied(seq)));
        }
        return Ok(Err(StoreError::Conflict {
            expected: b.base_seq,
            found: seq,
        }));
    }
    if let (Some(rule), Some(input)) = (
        row.get::<_, Option<String>>(2),
        row.get::<_, Option<String>>(3),
    ) {
        let stored = TrendingMeta { rule, input };
        if stored != b.meta {
            return Ok(Err(meta_mismatch(
                &t.hashtags.to_string(),
                &stored,
                &b.meta,
            )));
        }
    }
    let now = b.now_ms as f64;
    let mut new_tags = 0i64;
    if !b.tags.is_empty() {
        let mut sp_keys = Vec::new();
        let mut sp_names = Vec::new();
        let mut sp_counts = Vec::new();
        let mut keys = Vec::with_capacity(b.tags.len());
        let mut displays = Vec::with_capacity(b.tags.len());
        let mut counts = Vec::with_capacity(b.tags.len());
        for tag in &b.tags {
            for (s, n) in &tag.spellings {
                sp_keys.push(tag.key.as_str());
                sp_names.push(s.as_str());
                sp_counts.push(*n as i64);
            }
            keys.push(tag.key.as_str());
            displays.push(
                display_form(tag.spellings.iter().map(|(s, n)| (s.as_str(), *n)))
                    .unwrap_or(tag.key.as_str()),
            );
            counts.push(tag.count as i64);
        }
        tx.execute(
            &format!(
                "INSERT INTO {sp} AS s (tag_key, spelling, count)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::int8[])
                 ON CONFLICT (tag_key, spelling) DO UPDATE SET count = s.count + EXCLUDED.count",
                sp = t.spellings
            ),
            &[&sp_keys, &sp_names, &sp_counts],
        )
        .await?;
        new_tags = tx
            .query_one(
                &format!(
                    "WITH up AS (
                        INSERT INTO {h} AS h (tag_key, hashtag, count, window_count, updated_at)
                        SELECT k, d, c, 0, to_timestamp($4::float8 / 1000)
                        FROM unnest($1::text[], $2::text[], $3::int8[]) AS u(k, d, c)
                        ON CONFLICT (tag_key) DO UPDATE
                           SET count = h.count + EXCLUDED.count, updated_at = EXCLUDED.updated_at
                        RETURNING (xmax = 0) AS inserted, tag_key)
                     SELECT count(*) FILTER (WHERE inserted AND tag_key <> $5) FROM up",
                    h = t.hashtags
                ),
                &[&keys, &displays, &counts, &now, &NO_TAGS],
            )
            .await?
            .get(0);
        // The display form is the most frequent spelling over all batches.
        tx.execute(
            &format!(
                "UPDATE {h} AS h SET hashtag = d.spelling
                 FROM (SELECT DISTINCT ON (tag_key) tag_key, spelling FROM {sp}
                       WHERE tag_key = ANY($1)
                       ORDER BY tag_key, count DESC, spelling COLLATE \"C\") AS d
                 WHERE h.tag_key = d.tag_key AND h.hashtag IS DISTINCT FROM d.spelling",
                h = t.hashtags,
                sp = t.spellings
            ),
            &[&keys],
        )
        .await?;
    }
    tx.execute(
        &format!("DELETE FROM {} WHERE bucket_ms < $1", t.buckets),
        &[&b.window_cutoff_ms],
    )
    .await?;
    if !b.buckets.is_empty() {
        let starts: Vec<i64> = b.buckets.iter().map(|(s, _, _)| *s).collect();
        let keys: Vec<&str> = b.buckets.iter().map(|(_, k, _)| k.as_str()).collect();
        let counts: Vec<i64> = b.buckets.iter().map(|(_, _, n)| *n as i64).collect();
        tx.execute(
            &format!(
                "INSERT INTO {bk} AS b (bucket_ms, tag_key, count)
                 SELECT * FROM unnest($1::int8[], $2::text[], $3::int8[]) AS u(s, k, c)
                 WHERE s >= $4
                 ON CONFLICT (bucket_ms, tag_key) DO UPDATE SET count = b.count + EXCLUDED.count",
                bk = t.buckets
            ),
            &[&starts, &keys, &counts, &b.window_cutoff_ms],
        )
        .await?;
    }
    if !b.window.is_empty() {
        let keys: Vec<&str> = b.window.iter().map(|(k, _)| k.as_str()).collect();
        let counts: Vec<i64> = b.window.iter().map(|(_, n)| *n as i64).collect();
        tx.execute(
            &format!(
                "UPDATE {h} AS h SET window_count = w.c, updated_at = to_timestamp($3::float8 / 1000)
                 FROM unnest($1::text[], $2::int8[]) AS w(k, c) WHERE h.tag_key = w.k",
                h = t.hashtags
            ),
            &[&keys, &counts, &now],
        )
        .await?;
    }
    let new_seq = (b.base_seq + 1) as i64;
    if !b.offsets.is_empty() {
        let topics: Vec<&str> = b.offsets.iter().map(|(t, _, _)| t.as_str()).collect();
        let parts: Vec<i32> = b.offsets.iter().map(|(_, p, _)| *p).collect();
        let nexts: Vec<i64> = b.offsets.iter().map(|(_, _, o)| *o).collect();
        tx.execute(
            &format!(
                "INSERT INTO {} (bus, topic, partition, next_offset)
                 SELECT $1, t, p, o FROM unnest($2::text[], $3::int4[], $4::int8[]) AS u(t, p, o)
                 ON CONFLICT (bus, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
                t.offsets
            ),
            &[&b.bus, &topics, &parts, &nexts],
        )
        .await?;
    }
    tx.execute(
        &format!(
            "UPDATE {} SET seq = $1, last_batch = $2, rule = $3, input = $4,
                tweets = tweets + $5, occurrences = occurrences + $6,
                distinct_tags = distinct_tags + $7, updated_at = to_timestamp($8::float8 / 1000),
                lake_version = COALESCE($9, lake_version)
             WHERE id = 1",
            t.state
        ),
        &[
            &new_seq,
            &b.id,
            &b.meta.rule,
            &b.meta.input,
            &(b.tweets as i64),
            &(b.occurrences as i64),
            &new_tags,
            &now,
            &b.lake_version,
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(Committed::Applied(new_seq as u64)))
}

async fn top_q(client: &mut Client, t: &TrendingTables, q: &TopQuery) -> PgResult<TrendingTop> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let state = tx
        .query_opt(
            &format!(
                "SELECT seq, rule, input, tweets, occurrences, distinct_tags,
                        (extract(epoch FROM updated_at) * 1000)::int8
                 FROM {} WHERE id = 1",
                t.state
            ),
            &[],
        )
        .await?;
    let n = q.n as i64;
    let rows = |rows: Vec<tokio_postgres::Row>| -> Vec<TopRow> {
        rows.iter()
            .map(|r| TopRow {
                hashtag: r.get(0),
                count: r.get::<_, i64>(1) as u64,
            })
            .collect()
    };
    let all_time = rows(
        tx.query(
            &format!(
                "SELECT hashtag, count FROM {} WHERE tag_key <> $1 AND count > 0
                 ORDER BY count DESC, hashtag COLLATE \"C\" LIMIT $2",
                t.hashtags
            ),
            &[&NO_TAGS, &n],
        )
        .await?,
    );
    let window = rows(
        tx.query(
            &format!(
                "SELECT h.hashtag, w.c FROM
                   (SELECT tag_key, sum(count)::int8 AS c FROM {b}
                    WHERE bucket_ms >= $1 AND tag_key <> $2 GROUP BY tag_key) AS w
                 JOIN {h} AS h USING (tag_key)
                 WHERE w.c > 0
                 ORDER BY w.c DESC, h.hashtag COLLATE \"C\" LIMIT $3",
                b = t.buckets,
                h = t.hashtags
            ),
            &[&q.cutoff_ms(), &NO_TAGS, &n],
        )
        .await?,
    );
    tx.commit().await?;
    let mut top = TrendingTop {
        all_time,
        window,
        ..Default::default()
    };
    if let Some(s) = state {
        top.seq = s.get::<_, i64>(0) as u64;
        top.meta = match (s.get::<_, Option<String>>(1), s.get::<_, Option<String>>(2)) {
            (Some(rule), Some(input)) => Some(TrendingMeta { rule, input }),
            _ => None,
        };
        top.tweets = s.get::<_, i64>(3) as u64;
        top.occurrences = s.get::<_, i64>(4) as u64;
        top.distinct = s.get::<_, i64>(5) as u64;
        top.updated_at_ms = s.get(6);
    }
    Ok(top)
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

impl PostgresStore {
    /// Rows of `keys`, or every row.
    async fn rows(&self, keys: Option<&[String]>) -> Result<Vec<TagRow>, StoreError> {
        let mut guard = self.connect().await?;
        let Some(client) = guard.as_mut() else {
            return Err(self.unavailable("reading", "not connected"));
        };
        let cols = format!(
            "SELECT tag_key, hashtag, count, window_count FROM {}",
            self.t.hashtags
        );
        let r = match keys {
            None => {
                let sql = format!("{cols} ORDER BY tag_key COLLATE \"C\"");
                tokio::time::timeout(OP_TIMEOUT, client.query(&sql, &[])).await
            }
            Some(keys) => {
                let sql = format!("{cols} WHERE tag_key = ANY($1)");
                tokio::time::timeout(OP_TIMEOUT, client.query(&sql, &[&keys])).await
            }
        };
        match r {
            Ok(Err(e)) if is_missing_table(&e) => Ok(Vec::new()),
            r => Ok(self
                .finish(&mut guard, "reading the table", r)?
                .iter()
                .map(|row| TagRow {
                    key: row.get(0),
                    hashtag: row.get(1),
                    count: row.get::<_, i64>(2) as u64,
                    window: row.get::<_, i64>(3) as u64,
                })
                .collect()),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: Option<&str>) -> PostgresSettings {
        PostgresSettings {
            host: "db.example".into(),
            port: 6543,
            database: "sparkstreamingdb".into(),
            user: "sparkstreaming".into(),
            password: "s3cret-pw".into(),
            url: url.map(str::to_string),
            schema: "public".into(),
            ssl_mode: crate::config::SslMode::Prefer,
            ssl_root_cert: None,
        }
    }

    #[test]
    fn describe_and_errors_never_show_the_password() {
        let t = Ident::new("t", "trending_hashtags").unwrap();
        let s = PostgresStore::new(&settings(None), &t).unwrap();
        assert_eq!(
            s.describe(),
            "postgres sparkstreaming@db.example:6543/sparkstreamingdb schema public"
        );
        let s = PostgresStore::new(&settings(Some("postgres://u:s3cret-pw@h:1/d")), &t).unwrap();
        assert!(!s.describe().contains("s3cret"), "{}", s.describe());
        let e = PostgresStore::new(&settings(Some("postgres://u:s3cret-pw@h:notaport/d")), &t)
            .err()
            .unwrap();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert!(!format!("{:?}", settings(Some("postgres://u:s3cret-pw@h/d"))).contains("s3cret"));
    }

    #[test]
    fn table_names_are_validated_with_their_suffixes() {
        let ok = TrendingTables::new("ssp_test_1", &Ident::new("t", "trending_hashtags").unwrap())
            .unwrap();
        assert_eq!(
            ok.legacy_files.to_string(),
            "\"ssp_test_1\".\"trending_hashtags_files\""
        );
        assert!(TrendingTables::new("Bad-Schema", &Ident::new("t", "x").unwrap()).is_err());
        let long = Ident::new("t", &"a".repeat(55)).unwrap();
        let e = TrendingTables::new("public", &long).unwrap_err();
        assert!(e.to_string().contains("trending.table"), "{e}");
    }
}
