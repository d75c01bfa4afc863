//! The Delta table `gold/ai_tweets`: the tweets `classify` predicted positive. Every commit
//! also carries a `txn` action (app id [`TXN_APP`], version = the last bronze version the
//! commit covers): that is classify's checkpoint, so rows and checkpoint are one commit.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Array, Int32Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Transaction};
use deltalake::protocol::{DeltaOperation, OutputMode};
use deltalake::writer::{DeltaWriter as _, RecordBatchWriter};
use deltalake::DeltaTable;

use crate::lake::table::{self, LakeLocation, TableError};
use crate::learn::dataset::micros;
use crate::learn::pg::AiTweet;
pub use crate::learn::predictions::AI_TWEETS_TABLE as TABLE;

/// Transaction id of classify's position in `bronze`.
pub const TXN_APP: &str = "ssp-classify/bronze";

pub fn ai_tweets_schema() -> SchemaRef {
    let ts = crate::lake::schema::timestamp_utc;
    Arc::new(Schema::new(vec![
        Field::new("id_str", DataType::Utf8, false),
        Field::new("created_at", ts(), true),
        Field::new("author", DataType::Utf8, true),
        Field::new("text", DataType::Utf8, false),
        Field::new("probability", DataType::Float32, false),
        Field::new("label", DataType::Utf8, false),
        Field::new("model_version", DataType::Int32, false),
        Field::new("hand_labels", DataType::Int32, false),
        Field::new("bronze_version", DataType::Int64, false),
        Field::new("bronze_file", DataType::Utf8, false),
        Field::new("classified_at", ts(), false),
    ]))
}

/// A positive prediction and the bronze file (and version) it came from.
#[derive(Debug, Clone)]
pub struct GoldRow {
    pub tweet: AiTweet,
    pub bronze_version: i64,
    pub bronze_file: String,
}

pub fn gold_batch(rows: &[GoldRow]) -> Result<RecordBatch, arrow::error::ArrowError> {
    let now = chrono::Utc::now().timestamp_millis();
    let t =
        |f: fn(&AiTweet) -> &str| StringArray::from_iter_values(rows.iter().map(|r| f(&r.tweet)));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(t(|a| &a.id_str)),
        Arc::new(micros(rows.iter().map(|r| r.tweet.created_at))),
        Arc::new(StringArray::from(
            rows.iter()
                .map(|r| r.tweet.author.as_deref())
                .collect::<Vec<_>>(),
        )),
        Arc::new(t(|a| &a.text)),
        Arc::new(Float32Array::from_iter_values(
            rows.iter().map(|r| r.tweet.probability),
        )),
        Arc::new(t(|a| &a.label)),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.tweet.model_version as i32),
        )),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.tweet.hand_labels as i32),
        )),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.bronze_version),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.bronze_file.as_str()),
        )),
        Arc::new(micros(rows.iter().map(|_| Some(now)))),
    ];
    RecordBatch::try_new(ai_tweets_schema(), cols)
}

/// Appends to `gold/ai_tweets`, one commit per classified batch of bronze commits.
pub struct GoldWriter {
    table: DeltaTable,
    writer: RecordBatchWriter,
    writer_id: String,
    epoch: i64,
    /// The bronze version recorded by the last commit (this writer's or an earlier run's).
    checkpoint: Option<i64>,
}

impl GoldWriter {
    /// Opens (or creates) the table and reads the checkpoint recorded in it.
    pub async fn open(location: &LakeLocation) -> Result<GoldWriter, TableError> {
        let table = table::open_or_create(location, TABLE, &ai_tweets_schema(), &[]).await?;
        let writer =
            RecordBatchWriter::for_table(&table).map_err(|e| TableError::delta(TABLE, e))?;
        let mut w = GoldWriter {
            table,
            writer,
            writer_id: format!(
                "classify-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            ),
            epoch: 0,
            checkpoint: None,
        };
        w.checkpoint = w.recorded().await?;
        Ok(w)
    }

    /// The last bronze version classified (as committed in the table).
    pub fn checkpoint(&self) -> Option<i64> {
        self.checkpoint
    }

    /// The bronze version in the table's latest `txn` action of [`TXN_APP`].
    async fn recorded(&mut self) -> Result<Option<i64>, TableError> {
        crate::lake::table::latest_txn_version(&mut self.table, TABLE, TXN_APP).await
    }

    /// Commits `rows` (possibly none) with `bronze_version` as the new checkpoint, refusing if
    /// another writer moved the checkpoint since this one read it. Returns the table version.
    pub async fn commit(
        &mut self,
        rows: &[GoldRow],
        bronze_version: i64,
    ) -> Result<i64, TableError> {
        let mut actions: Vec<Action> = Vec::new();
        if !rows.is_empty() {
            let batch = gold_batch(rows).map_err(|e| TableError::other(TABLE, e.to_string()))?;
            self.writer
                .write(batch)
                .await
                .map_err(|e| TableError::delta(TABLE, e))?;
            let adds = self
                .writer
                .flush()
                .await
                .map_err(|e| TableError::delta(TABLE, e))?;
            actions.extend(adds.into_iter().map(Action::Add));
        }
        let now = self.recorded().await?;
        if now != self.checkpoint {
            return Err(TableError::other(
                TABLE,
                format!(
                    "another classify moved {TXN_APP} to {now:?} (this one resumed at {:?}): not committing",
                    self.checkpoint
                ),
            ));
        }
        let now_ms = chrono::Utc::now().timestamp_millis();
        actions.push(Action::Txn(Transaction::new_with_last_update(
            TXN_APP,
            bronze_version,
            Some(now_ms),
        )));
        self.epoch += 1;
        let operation = DeltaOperation::StreamingUpdate {
            output_mode: OutputMode::Append,
            query_id: self.writer_id.clone(),
            epoch_id: self.epoch,
        };
        let snapshot = self
            .table
            .snapshot()
            .map_err(|e| TableError::delta(TABLE, e))?;
        let finalized = CommitBuilder::from(CommitProperties::default())
            .with_actions(actions)
            .build(Some(snapshot), self.table.log_store(), operation)
            .await
            .map_err(|e| TableError::delta(TABLE, e))?;
        let version = finalized.version() as i64;
        self.table.state = Some(finalized.snapshot());
        self.checkpoint = Some(bronze_version);
        Ok(version)
    }
}
