//! Reads for the UI and tools: the top tags chart and whole rows by key.

use tokio_postgres::Client;

use super::{PgResult, PostgresStore, TrendingTables, OP_TIMEOUT};
use crate::store::pg::is_missing_table;
use crate::store::trending::{TagRow, TopQuery, TopRow, TrendingMeta, TrendingTop};
use crate::store::StoreError;
use crate::tweet::hashtag_rule::NO_TAGS;

pub(super) async fn top_q(
    client: &mut Client,
    t: &TrendingTables,
    q: &TopQuery,
) -> PgResult<TrendingTop> {
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

impl PostgresStore {
    /// Rows of `keys`, or every row.
    pub(super) async fn rows(&self, keys: Option<&[String]>) -> Result<Vec<TagRow>, StoreError> {
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
