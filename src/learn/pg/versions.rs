//! Dataset versions: creating one (its manifest row, raw, de-duplicated and split tables) in
//! one transaction, and loading one back.

use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use super::{ts_expr, version_table, PgConn, PgResult, CHUNK, MS_OF};
use crate::learn::dataset::{Dataset, DatasetRow, Manifest, RawTweet, Split, SplitSpec};
use crate::learn::labels::{LabelStoreError, Result};

pub(super) async fn create_version_tx(
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

pub(super) async fn load_version_q(
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
