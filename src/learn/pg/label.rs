//! A label commit: the event row and the `label` column of its split table (and of the
//! de-duplicated table) in one transaction.

use tokio_postgres::Client;

use super::{ts_expr, PgConn, PgResult};
use crate::config::ident::Qualified;
use crate::learn::labels::NewEvent;

pub(super) async fn append_tx(
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
