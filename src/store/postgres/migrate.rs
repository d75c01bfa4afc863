//! Creating and migrating the trending tables to the layout this build writes.

use tokio_postgres::Client;

use super::{PgResult, TrendingTables};
use crate::store::pg::begin_migration;
use crate::store::StoreError;

/// Version of the table layout written by this build.
pub const SCHEMA_VERSION: i32 = 2;

pub(super) async fn migrate_tx(
    client: &mut Client,
    t: &TrendingTables,
) -> PgResult<Result<(), StoreError>> {
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
