//! The batch transaction: reading the checkpoint (state, offsets, window) and committing a
//! batch of counts, offsets and the bronze version together under the state row's lock.

use tokio_postgres::Client;

use super::{PgResult, TrendingTables};
use crate::store::embedded::meta_mismatch;
use crate::store::trending::{Committed, TrendingBatch, TrendingCheckpoint, TrendingMeta};
use crate::store::StoreError;
use crate::tweet::hashtag_rule::{display_form, NO_TAGS};

pub(super) async fn checkpoint_q(
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

pub(super) async fn commit_tx(
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
