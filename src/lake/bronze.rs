//! Bronze writer: raw tweets buffered in Arrow builders and written into the `bronze` Delta
//! table, bad messages into the dead-letter log. A roll is one Delta commit that adds the new
//! files *and* records, per bus partition (and per replay input), how far the table now goes
//! (`txn` actions): the table's log, not the bus, is the truth about what is in bronze.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Int32Builder, Int64Builder, ListBuilder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Transaction};
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::parquet::schema::types::ColumnPath;
use deltalake::protocol::{DeltaOperation, OutputMode};
use deltalake::writer::{DeltaWriter as _, RecordBatchWriter};
use deltalake::DeltaTable;

use super::dead_letter::DeadLetter;
use super::layout::LakeLayout;
use super::schema::bronze_schema;
use super::table::{self, LakeLocation, TableError};
use super::LakeError;
use crate::tweet::Tweet;

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

/// Column builders in bronze schema order.
struct Columns {
    id: StringBuilder,
    created_at: TimestampMicrosecondBuilder,
    author: StringBuilder,
    source: StringBuilder,
    text: StringBuilder,
    urls: ListBuilder<StringBuilder>,
    media: ListBuilder<StringBuilder>,
    hash: StringBuilder,
    hashtags: ListBuilder<StringBuilder>,
    mentions: ListBuilder<StringBuilder>,
    lang: StringBuilder,
    is_retweet: BooleanBuilder,
    ingest_time: TimestampMicrosecondBuilder,
    date: Date32Builder,
    topic: StringBuilder,
    partition: Int32Builder,
    offset: Int64Builder,
    bus_time: TimestampMicrosecondBuilder,
    rows: usize,
}

/// Days since 1970-01-01 (Arrow `Date32`).
fn epoch_days(t: DateTime<Utc>) -> i32 {
    t.timestamp().div_euclid(86_400) as i32
}

fn list(values: &[String]) -> impl Iterator<Item = Option<&str>> {
    values.iter().map(|v| Some(v.as_str()))
}

impl Columns {
    fn new() -> Self {
        let ts = || TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS).with_timezone("UTC");
        let s = || StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 16);
        let l = || {
            ListBuilder::with_capacity(StringBuilder::new(), BATCH_ROWS)
                .with_field(super::schema::list_item())
        };
        Self {
            id: s(),
            created_at: ts(),
            author: s(),
            source: s(),
            text: StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 160),
            urls: l(),
            media: l(),
            hash: StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 64),
            hashtags: l(),
            mentions: l(),
            lang: s(),
            is_retweet: BooleanBuilder::with_capacity(BATCH_ROWS),
            ingest_time: ts(),
            date: Date32Builder::with_capacity(BATCH_ROWS),
            topic: s(),
            partition: Int32Builder::with_capacity(BATCH_ROWS),
            offset: Int64Builder::with_capacity(BATCH_ROWS),
            bus_time: ts(),
            rows: 0,
        }
    }

    fn push(&mut self, t: &Tweet, hash: &str, meta: &RecordMeta) {
        self.id.append_value(&t.id);
        self.created_at
            .append_option(t.created_at.map(|c| c.timestamp_micros()));
        self.author.append_option(t.author.as_deref());
        self.source.append_option(t.source.as_deref());
        self.text.append_value(&t.text);
        self.urls.append_value(list(&t.urls));
        self.media.append_value(list(&t.media));
        self.hash.append_value(hash);
        self.hashtags.append_value(list(&t.hashtags));
        self.mentions.append_value(list(&t.mentions));
        self.lang.append_option(t.lang.as_deref());
        self.is_retweet.append_value(t.is_retweet);
        self.ingest_time
            .append_value(meta.ingest_time.timestamp_micros());
        self.date.append_value(epoch_days(meta.ingest_time));
        self.topic.append_value(meta.topic);
        self.partition.append_value(meta.partition);
        self.offset.append_value(meta.offset);
        self.bus_time
            .append_option(meta.bus_time_ms.map(|ms| ms.saturating_mul(1000)));
        self.rows += 1;
    }

    /// Turns the buffered rows into a batch and resets the builders.
    fn finish(&mut self) -> Result<RecordBatch, LakeError> {
        self.rows = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.id.finish()),
            Arc::new(self.created_at.finish()),
            Arc::new(self.author.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.text.finish()),
            Arc::new(self.urls.finish()),
            Arc::new(self.media.finish()),
            Arc::new(self.hash.finish()),
            Arc::new(self.hashtags.finish()),
            Arc::new(self.mentions.finish()),
            Arc::new(self.lang.finish()),
            Arc::new(self.is_retweet.finish()),
            Arc::new(self.ingest_time.finish()),
            Arc::new(self.date.finish()),
            Arc::new(self.topic.finish()),
            Arc::new(self.partition.finish()),
            Arc::new(self.offset.finish()),
            Arc::new(self.bus_time.finish()),
        ];
        RecordBatch::try_new(bronze_schema(), columns)
            .map_err(|e| LakeError::arrow("bronze batch", e))
    }
}

/// Snappy, as delta-rs writes by default, without dictionaries for the columns whose values
/// hardly repeat (a dictionary there is built for each page only to be thrown away).
fn writer_properties() -> WriterProperties {
    let unique = [
        "id_str",
        "text",
        "hash",
        "offset",
        "ingest_time",
        "bus_time",
    ];
    unique
        .iter()
        .fold(
            WriterProperties::builder().set_compression(Compression::SNAPPY),
            |b, c| b.set_column_dictionary_enabled(ColumnPath::from(*c), false),
        )
        .build()
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

    /// Writes what is buffered, fsyncs the dead letters, and commits the new files with their
    /// transaction versions as one table version.
    pub async fn roll(&mut self) -> Result<Rolled, LakeError> {
        self.check()?;
        if !self.pending() {
            return Ok(Rolled::default());
        }
        self.flush().await?;
        if let Err(e) = self.dead.sync() {
            let context = self
                .dead
                .path()
                .map_or_else(|| "dead letter".into(), |p| p.display().to_string());
            return Err(self.fail(LakeError::Io { context, source: e }));
        }
        let adds = match self.writer.flush().await {
            Ok(a) => a,
            Err(e) => return Err(self.fail(TableError::delta(TABLE, e).into())),
        };
        let rows = self.rows;
        let bytes: u64 = adds.iter().map(|a| a.size.max(0) as u64).sum();
        let files = adds.len();
        match self.commit(adds).await {
            Ok(version) => {
                self.rows = 0;
                self.pending_since = None;
                for (app, v) in std::mem::take(&mut self.txns) {
                    self.expected.insert(app, Some(v));
                }
                Ok(Rolled {
                    version: Some(version),
                    files,
                    rows,
                    bytes,
                    dead_letters: std::mem::take(&mut self.dead_since_roll),
                    commit: std::mem::take(&mut self.commit),
                })
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Checks that nobody moved the transactions this roll advances, then commits.
    async fn commit(&mut self, adds: Vec<deltalake::kernel::Add>) -> Result<i64, LakeError> {
        self.table
            .update_incremental(None)
            .await
            .map_err(|e| TableError::delta(TABLE, e))?;
        let snapshot = self
            .table
            .snapshot()
            .map_err(|e| TableError::delta(TABLE, e))?;
        for app in self.txns.keys() {
            let now = snapshot
                .transaction_version(self.table.log_store().as_ref(), app)
                .await
                .map_err(|e| TableError::delta(TABLE, e))?;
            let expected = self.expected.get(app).copied().flatten();
            if now != expected {
                return Err(TableError::Fenced {
                    table: TABLE.to_string(),
                    what: format!(
                        "another writer advanced {app} to {now:?} (this one resumed at {expected:?}): not committing, resuming from the table"
                    ),
                }
                .into());
            }
        }
        self.epoch += 1;
        let now_ms = Utc::now().timestamp_millis();
        let mut actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
        actions.extend(
            self.txns.iter().map(|(app, v)| {
                Action::Txn(Transaction::new_with_last_update(app, *v, Some(now_ms)))
            }),
        );
        let operation = DeltaOperation::StreamingUpdate {
            output_mode: OutputMode::Append,
            query_id: self.writer_id.clone(),
            epoch_id: self.epoch,
        };
        let finalized = CommitBuilder::from(CommitProperties::default())
            .with_actions(actions)
            .build(Some(snapshot), self.table.log_store(), operation)
            .await
            .map_err(|e| TableError::delta(TABLE, e))?;
        let version = finalized.version() as i64;
        self.table.state = Some(finalized.snapshot());
        Ok(version)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::read::{read_bronze_rows, BronzeRow};
    use chrono::TimeZone;

    fn tweet(i: usize) -> Tweet {
        let tags = |n: usize, p: &str| (0..n).map(|k| format!("{p}{i}_{k}")).collect::<Vec<_>>();
        Tweet {
            id: (1_000_000_000 + i).to_string(),
            created_at: (!i.is_multiple_of(7)).then(|| {
                Utc.timestamp_millis_opt(1_600_000_000_000 + i as i64)
                    .unwrap()
            }),
            author: (!i.is_multiple_of(3)).then(|| format!("user{i}")),
            source: (i.is_multiple_of(2)).then(|| "Twitter for iPhone".to_owned()),
            text: format!("tweet number {i} with some text ✓"),
            urls: tags(i % 3, "https://example.com/"),
            media: tags(i % 2, "https://pbs.example.com/m"),
            hashtags: tags(i % 4, "tag"),
            mentions: tags(i % 5, "who"),
            lang: (!i.is_multiple_of(6)).then(|| "en".to_owned()),
            is_retweet: i.is_multiple_of(4),
        }
    }

    fn meta(i: usize) -> RecordMeta<'static> {
        RecordMeta {
            topic: "tweets.raw",
            partition: (i % 3) as i32,
            offset: (i / 3) as i64,
            ingest_time: Utc
                .timestamp_millis_opt(1_700_000_000_000 + i as i64)
                .unwrap(),
            bus_time_ms: Some(1_699_999_999_000 + i as i64),
        }
    }

    fn expected(i: usize) -> BronzeRow {
        let (t, m) = (tweet(i), meta(i));
        BronzeRow {
            id_str: t.id.clone(),
            created_at: t.created_at.map(|c| c.timestamp_millis()),
            author: t.author.clone(),
            source: t.source.clone(),
            hash: t.text_hash(),
            text: t.text,
            expanded_url: t.urls,
            media_url_https: t.media,
            hashtags: t.hashtags,
            mentions: t.mentions,
            lang: t.lang,
            is_retweet: t.is_retweet,
            ingest_time: m.ingest_time.timestamp_millis(),
            topic: m.topic.to_owned(),
            partition: m.partition,
            offset: m.offset,
        }
    }

    fn app(p: i32) -> String {
        format!("test/{p}")
    }

    async fn writer(dir: &std::path::Path, max_rows: usize) -> BronzeWriter {
        let location = LakeLocation::local(dir);
        let policy = RollPolicy {
            max_rows,
            max_bytes: u64::MAX,
            max_age: Duration::from_secs(3600),
        };
        BronzeWriter::open(&location, &LakeLayout::new(dir), policy, "t".into())
            .await
            .unwrap()
    }

    async fn append(w: &mut BronzeWriter, i: usize) {
        let m = meta(i);
        let a = app(m.partition);
        w.append(&tweet(i), &m, &[(a.as_str(), m.offset)])
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commits_rows_with_txn_versions_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = writer(dir.path(), 10_000).await;
        for p in 0..3 {
            assert_eq!(w.resume_point(&app(p)).await.unwrap(), None);
        }
        let mut rolls = Vec::new();
        for i in 0..25_000 {
            append(&mut w, i).await;
            if w.should_roll(Instant::now()) {
                rolls.push(w.roll().await.unwrap());
            }
        }
        assert_eq!(rolls.len(), 2);
        rolls.push(w.roll().await.unwrap());
        let rows: Vec<u64> = rolls.iter().map(|r| r.rows).collect();
        assert_eq!(rows, [10_000, 10_000, 5_000]);
        let versions: Vec<Option<i64>> = rolls.iter().map(|r| r.version).collect();
        assert_eq!(
            versions,
            [Some(1), Some(2), Some(3)],
            "version 0 creates the table"
        );
        assert_eq!(
            rolls[2].commit,
            BTreeMap::from([(0, 8334), (1, 8333), (2, 8333)])
        );
        assert_eq!(w.roll().await.unwrap(), Rolled::default());

        // A new writer (a restart) finds where each partition ends in the table's log.
        let mut again = writer(dir.path(), 10_000).await;
        assert_eq!(again.resume_point(&app(0)).await.unwrap(), Some(8333));
        assert_eq!(again.resume_point(&app(2)).await.unwrap(), Some(8332));

        let read = read_bronze_rows(&LakeLocation::local(dir.path()))
            .await
            .unwrap();
        assert_eq!(read.len(), 25_000);
        let mut read = read;
        read.sort_by_key(|r| (r.offset, r.partition));
        for i in [0, 1, 2, 3, 7, 8191, 8192, 9_999, 10_000, 12_345, 24_999] {
            assert_eq!(read[i], expected(i), "row {i}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_writer_that_resumed_before_another_committed_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = writer(dir.path(), 1_000_000).await;
        let mut b = writer(dir.path(), 1_000_000).await;
        assert_eq!(a.resume_point(&app(0)).await.unwrap(), None);
        assert_eq!(b.resume_point(&app(0)).await.unwrap(), None);
        append(&mut a, 0).await;
        append(&mut b, 0).await;
        assert_eq!(a.roll().await.unwrap().version, Some(1));
        let err = b.roll().await.unwrap_err().to_string();
        assert!(err.contains("another writer advanced test/0"), "{err}");
        b.recover();
        assert_eq!(b.resume_point(&app(0)).await.unwrap(), Some(0));
        append(&mut b, 3).await;
        assert_eq!(b.roll().await.unwrap().version, Some(2));
        let rows = read_bronze_rows(&LakeLocation::local(dir.path()))
            .await
            .unwrap();
        let mut ids: Vec<&str> = rows.iter().map(|r| r.id_str.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["1000000000", "1000000003"], "each tweet once");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dead_letters_advance_the_txn_and_count() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = writer(dir.path(), 1_000_000).await;
        w.resume_point(&app(7)).await.unwrap();
        let bad = RecordMeta {
            topic: "tweets.raw",
            partition: 7,
            offset: 41,
            ingest_time: Utc::now(),
            bus_time_ms: None,
        };
        let a = app(7);
        w.dead_letter(&bad, &[0xff, 0x00], "invalid json", &[(a.as_str(), 41)])
            .unwrap();
        let r = w.roll().await.unwrap();
        assert_eq!((r.rows, r.dead_letters, r.files), (0, 1, 0));
        assert_eq!(r.commit, BTreeMap::from([(7, 42)]));
        let layout = LakeLayout::new(dir.path());
        assert_eq!(
            super::super::dead_letter::count_dead_letters(&layout).unwrap(),
            1
        );
        let mut again = writer(dir.path(), 10).await;
        assert_eq!(again.resume_point(&a).await.unwrap(), Some(41));
    }
}
