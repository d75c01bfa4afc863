//! Bronze writer: raw tweets buffered in Arrow builders and written into the `bronze` Delta
//! table, bad messages into the dead-letter log. A roll is one Delta commit that adds the new
//! files *and* records, per bus partition (and per replay input), how far the table now goes
//! (`txn` actions): the table's log, not the bus, is the truth about what is in bronze.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use deltalake::writer::{DeltaWriter as _, RecordBatchWriter};
use deltalake::DeltaTable;

use super::dead_letter::DeadLetter;
use super::layout::LakeLayout;
use super::schema::bronze_schema;
use super::table::{self, LakeLocation, TableError};
use super::LakeError;
use crate::tweet::Tweet;

mod columns;
mod roll;
#[cfg(test)]
mod tests;

use columns::{writer_properties, Columns};

/// Name of the bronze table.
pub const TABLE: &str = "bronze";

/// Rows buffered in builders before they are encoded as one record batch.
pub const BATCH_ROWS: usize = 8192;

/// Where a bus record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMeta<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub ingest_time: DateTime<Utc>,
    /// When the message entered the bus (epoch ms), if the bus says.
    pub bus_time_ms: Option<i64>,
}

/// When to commit what is buffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollPolicy {
    pub max_rows: usize,
    pub max_bytes: u64,
    pub max_age: Duration,
}

impl Default for RollPolicy {
    fn default() -> Self {
        Self {
            max_rows: 1_000_000,
            max_bytes: 128 << 20,
            max_age: Duration::from_secs(60),
        }
    }
}

/// What one [`BronzeWriter::roll`] made durable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rolled {
    /// The table version of the commit (`None`: nothing to commit).
    pub version: Option<i64>,
    pub files: usize,
    pub rows: u64,
    pub bytes: u64,
    pub dead_letters: u64,
    /// Per partition, the next offset to commit to the bus (max offset seen + 1).
    pub commit: BTreeMap<i32, i64>,
}

/// Writes tweets to the `bronze` Delta table and bad messages to `<lake>/dead_letter`.
///
/// Every roll is one commit carrying the `txn` versions of what it covers; the caller says,
/// per transaction id, which version it resumed from ([`expect`](Self::expect)) and the commit
/// is refused if another writer moved it meanwhile (a zombie or a concurrent owner). After any
/// error the writer refuses to roll: drop it and resume from the table.
pub struct BronzeWriter {
    table: DeltaTable,
    writer: RecordBatchWriter,
    columns: Columns,
    policy: RollPolicy,
    dead: DeadLetter,
    dead_since_roll: u64,
    /// Next offset per bus partition (the monitoring copy committed to the bus).
    commit: BTreeMap<i32, i64>,
    /// Transaction id -> version this roll records.
    txns: BTreeMap<String, i64>,
    /// Transaction id -> version the table had when this writer resumed from it.
    expected: BTreeMap<String, Option<i64>>,
    /// Rows written into the Delta writer since the last roll (plus those in `columns`).
    rows: u64,
    writer_id: String,
    epoch: i64,
    pending_since: Option<Instant>,
    failed: Option<String>,
}

impl BronzeWriter {
    /// Opens (or creates) the bronze table. `writer_id` names this writer in the commit info.
    pub async fn open(
        location: &LakeLocation,
        layout: &LakeLayout,
        policy: RollPolicy,
        writer_id: String,
    ) -> Result<Self, LakeError> {
        let dir = layout.dead_letter();
        std::fs::create_dir_all(&dir).map_err(|e| LakeError::io(&dir, e))?;
        let table = table::open_or_create(location, TABLE, &bronze_schema(), &["date"]).await?;
        let writer = RecordBatchWriter::for_table(&table)
            .map_err(|e| TableError::delta(TABLE, e))?
            .with_writer_properties(writer_properties());
        Ok(Self {
            table,
            writer,
            columns: Columns::new(),
            policy,
            dead: DeadLetter::new(layout, writer_id.clone()),
            dead_since_roll: 0,
            commit: BTreeMap::new(),
            txns: BTreeMap::new(),
            expected: BTreeMap::new(),
            rows: 0,
            writer_id,
            epoch: 0,
            pending_since: None,
            failed: None,
        })
    }

    /// The table version this writer last saw.
    pub fn version(&self) -> Option<i64> {
        self.table.version().map(|v| v as i64)
    }

    /// Reads the latest version of transaction `app_id` (refreshing the table first) and
    /// remembers it as what the next commit expects to find.
    pub async fn resume_point(&mut self, app_id: &str) -> Result<Option<i64>, LakeError> {
        let v = table::latest_txn_version(&mut self.table, TABLE, app_id).await?;
        self.expected.insert(app_id.to_string(), v);
        Ok(v)
    }

    /// Buffers one tweet; `txns` are the transaction ids (and versions) it advances.
    pub async fn append(
        &mut self,
        tweet: &Tweet,
        meta: &RecordMeta<'_>,
        txns: &[(&str, i64)],
    ) -> Result<(), LakeError> {
        self.append_hashed(tweet, &tweet.text_hash(), meta, txns)
            .await
    }

    /// [`append`](Self::append) with the text's hash already computed (by the parse pool).
    pub async fn append_hashed(
        &mut self,
        tweet: &Tweet,
        hash: &str,
        meta: &RecordMeta<'_>,
        txns: &[(&str, i64)],
    ) -> Result<(), LakeError> {
        self.check()?;
        self.columns.push(tweet, hash, meta);
        self.seen(meta, txns);
        if self.columns.rows >= BATCH_ROWS {
            self.flush().await?;
        }
        Ok(())
    }

    /// Records a message that could not be parsed (the whole payload is kept).
    pub fn dead_letter(
        &mut self,
        meta: &RecordMeta,
        payload: &[u8],
        error: &str,
        txns: &[(&str, i64)],
    ) -> Result<(), LakeError> {
        self.check()?;
        if let Err(e) = self.dead.write(meta, payload, error) {
            let context = self
                .dead
                .path()
                .map_or_else(|| "dead letter".into(), |p| p.display().to_string());
            return Err(self.fail(LakeError::Io { context, source: e }));
        }
        self.dead_since_roll += 1;
        self.seen(meta, txns);
        Ok(())
    }

    /// Notes transaction versions reached without a row (e.g. a duplicate that was skipped).
    pub fn advance(&mut self, meta: &RecordMeta, txns: &[(&str, i64)]) {
        self.seen(meta, txns);
    }

    /// True when the buffered records reached a row or age limit.
    pub fn should_roll(&self, now: Instant) -> bool {
        self.rows() >= self.policy.max_rows as u64
            || self.writer.buffer_len() as u64 >= self.policy.max_bytes
            || self
                .pending_since
                .is_some_and(|t| now.saturating_duration_since(t) >= self.policy.max_age)
    }

    /// Rows buffered since the last roll.
    pub fn rows(&self) -> u64 {
        self.rows + self.columns.rows as u64
    }

    /// Records not yet committed.
    pub fn pending(&self) -> bool {
        self.pending_since.is_some()
    }

    /// Drops everything not committed (partitions moved to another writer: it resumes from
    /// the table) and forgets the resume points.
    pub fn discard(&mut self) {
        self.columns = Columns::new();
        self.writer.reset();
        self.rows = 0;
        self.commit.clear();
        self.txns.clear();
        self.expected.clear();
        self.pending_since = None;
        self.dead_since_roll = 0;
    }

    /// After a refused commit: drops what is buffered and accepts writes again.
    pub fn recover(&mut self) {
        self.discard();
        self.failed = None;
    }

    fn seen(&mut self, meta: &RecordMeta, txns: &[(&str, i64)]) {
        let next = self.commit.entry(meta.partition).or_insert(meta.offset + 1);
        *next = (*next).max(meta.offset + 1);
        for (app, v) in txns {
            match self.txns.get_mut(*app) {
                Some(cur) => *cur = (*cur).max(*v),
                None => {
                    self.txns.insert((*app).to_string(), *v);
                }
            }
        }
        self.pending_since.get_or_insert_with(Instant::now);
    }

    async fn flush(&mut self) -> Result<(), LakeError> {
        if self.columns.rows == 0 {
            return Ok(());
        }
        let n = self.columns.rows as u64;
        let batch = self.columns.finish().map_err(|e| self.fail(e))?;
        if let Err(e) = self.writer.write(batch).await {
            return Err(self.fail(TableError::delta(TABLE, e).into()));
        }
        self.rows += n;
        Ok(())
    }

    fn check(&self) -> Result<(), LakeError> {
        match &self.failed {
            Some(why) => Err(LakeError::Failed(why.clone())),
            None => Ok(()),
        }
    }

    fn fail(&mut self, e: LakeError) -> LakeError {
        self.failed = Some(e.to_string());
        e
    }
}
