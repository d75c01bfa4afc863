//! The `ai_tweets` table: tweets the `classify` stage predicted positive.

use tokio_postgres::types::ToSql;

use super::{finish, ts_expr, PgConn, BULK_TIMEOUT, CHUNK};
use crate::learn::labels::Result;

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
