//! Bronze writer: raw tweets buffered in Arrow builders, rolled into Parquet files,
//! bad messages into the dead-letter log, and the bus offsets that became durable.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    ArrayRef, BooleanBuilder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};

use super::dead_letter::DeadLetter;
use super::layout::LakeLayout;
use super::rolling::{ClosedFile, RollPolicy, RollingParquet};
use super::schema::bronze_schema;
use super::LakeError;
use crate::tweet::Tweet;

/// Rows buffered in builders before they are encoded as one record batch.
pub const BATCH_ROWS: usize = 8192;

/// Where a bus record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMeta<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub ingest_time: DateTime<Utc>,
}

/// What one [`BronzeWriter::roll`] made durable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rolled {
    pub file: Option<ClosedFile>,
    pub dead_letters: u64,
    /// Per partition, the next offset to commit (max offset seen + 1).
    pub commit: BTreeMap<i32, i64>,
}

/// Column builders in bronze schema order.
struct Columns {
    id: StringBuilder,
    created_at: TimestampMillisecondBuilder,
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
    ingest_time: TimestampMillisecondBuilder,
    topic: StringBuilder,
    partition: Int32Builder,
    offset: Int64Builder,
    rows: usize,
}

fn list(values: &[String]) -> impl Iterator<Item = Option<&str>> {
    values.iter().map(|v| Some(v.as_str()))
}

impl Columns {
    fn new() -> Self {
        let ts = || TimestampMillisecondBuilder::with_capacity(BATCH_ROWS).with_timezone("UTC");
        let s = || StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 16);
        let l = || ListBuilder::with_capacity(StringBuilder::new(), BATCH_ROWS);
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
            topic: s(),
            partition: Int32Builder::with_capacity(BATCH_ROWS),
            offset: Int64Builder::with_capacity(BATCH_ROWS),
            rows: 0,
        }
    }

    fn push(&mut self, t: &Tweet, meta: &RecordMeta) {
        self.id.append_value(&t.id);
        self.created_at
            .append_option(t.created_at.map(|c| c.timestamp_millis()));
        self.author.append_option(t.author.as_deref());
        self.source.append_option(t.source.as_deref());
        self.text.append_value(&t.text);
        self.urls.append_value(list(&t.urls));
        self.media.append_value(list(&t.media));
        self.hash.append_value(t.text_hash());
        self.hashtags.append_value(list(&t.hashtags));
        self.mentions.append_value(list(&t.mentions));
        self.lang.append_option(t.lang.as_deref());
        self.is_retweet.append_value(t.is_retweet);
        self.ingest_time
            .append_value(meta.ingest_time.timestamp_millis());
        self.topic.append_value(meta.topic);
        self.partition.append_value(meta.partition);
        self.offset.append_value(meta.offset);
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
            Arc::new(self.topic.finish()),
            Arc::new(self.partition.finish()),
            Arc::new(self.offset.finish()),
        ];
        RecordBatch::try_new(bronze_schema(), columns)
            .map_err(|e| LakeError::arrow("bronze batch", e))
    }
}

/// Writes tweets to `<lake>/bronze` and bad messages to `<lake>/dead_letter`.
///
/// Offsets are only reported by [`BronzeWriter::roll`] once their rows (or dead letters) are
/// durable. After any error the writer refuses to roll: drop it and resume from the last
/// committed offsets, so nothing is committed that was not written.
pub struct BronzeWriter {
    files: RollingParquet,
    columns: Columns,
    dead: DeadLetter,
    dead_since_roll: u64,
    commit: BTreeMap<i32, i64>,
    /// Topic of the records held (for the footer).
    topic: Option<String>,
    pending_since: Option<Instant>,
    failed: Option<String>,
}

impl BronzeWriter {
    /// `prefix` must be unique per process and writer (e.g. `bronze-<pid>-<random hex>`).
    pub fn new(layout: &LakeLayout, policy: RollPolicy, prefix: String) -> Result<Self, LakeError> {
        for dir in [layout.bronze(), layout.dead_letter()] {
            std::fs::create_dir_all(&dir).map_err(|e| LakeError::io(&dir, e))?;
        }
        Ok(Self {
            files: RollingParquet::new(layout.bronze(), bronze_schema(), prefix.clone(), policy),
            columns: Columns::new(),
            dead: DeadLetter::new(layout, prefix),
            dead_since_roll: 0,
            commit: BTreeMap::new(),
            topic: None,
            pending_since: None,
            failed: None,
        })
    }

    /// Buffers one tweet; every [`BATCH_ROWS`] rows the buffer is encoded into the open file.
    pub fn append(&mut self, tweet: &Tweet, meta: &RecordMeta) -> Result<(), LakeError> {
        self.check()?;
        self.columns.push(tweet, meta);
        self.seen(meta);
        if self.columns.rows >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    /// Records a message that could not be parsed (the whole payload is kept).
    pub fn dead_letter(
        &mut self,
        meta: &RecordMeta,
        payload: &[u8],
        error: &str,
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
        self.seen(meta);
        Ok(())
    }

    /// True when the open file or the pending records reached a row, byte or age limit.
    pub fn should_roll(&self, now: Instant) -> bool {
        let policy = self.files.policy();
        self.files.should_roll(now)
            || self.files.open_rows() + self.columns.rows as u64 >= policy.max_rows as u64
            || self
                .pending_since
                .is_some_and(|t| now.saturating_duration_since(t) >= policy.max_age)
    }

    /// Rows the open file (and the builders) hold.
    pub fn rows(&self) -> u64 {
        self.files.open_rows() + self.columns.rows as u64
    }

    /// Rows or dead letters not yet made durable.
    pub fn pending(&self) -> bool {
        self.pending_since.is_some()
    }

    /// Flushes buffered rows, closes + fsyncs + renames the open file, fsyncs the dead letters,
    /// and returns what became durable with the offsets to commit.
    pub fn roll(&mut self) -> Result<Rolled, LakeError> {
        self.check()?;
        self.flush()?;
        // The footer records the offsets this file makes durable, so a writer that dies
        // between the rename and its commit can be recovered (see `recover`).
        let metadata = match &self.topic {
            Some(topic) if !self.commit.is_empty() => vec![(
                super::recover::FOOTER_KEY.to_string(),
                super::recover::footer_value(topic, &self.commit),
            )],
            _ => Vec::new(),
        };
        let file = self
            .files
            .close_with_metadata(metadata)
            .map_err(|e| self.fail(e))?;
        if let Err(e) = self.dead.sync() {
            let context = self
                .dead
                .path()
                .map_or_else(|| "dead letter".into(), |p| p.display().to_string());
            return Err(self.fail(LakeError::Io { context, source: e }));
        }
        self.pending_since = None;
        Ok(Rolled {
            file,
            dead_letters: std::mem::take(&mut self.dead_since_roll),
            commit: std::mem::take(&mut self.commit),
        })
    }

    fn seen(&mut self, meta: &RecordMeta) {
        if self.topic.as_deref() != Some(meta.topic) {
            self.topic = Some(meta.topic.to_string());
        }
        let next = self.commit.entry(meta.partition).or_insert(meta.offset + 1);
        *next = (*next).max(meta.offset + 1);
        self.pending_since.get_or_insert_with(Instant::now);
    }

    fn flush(&mut self) -> Result<(), LakeError> {
        if self.columns.rows == 0 {
            return Ok(());
        }
        let batch = self.columns.finish().map_err(|e| self.fail(e))?;
        self.files.write(&batch).map_err(|e| self.fail(e))
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
    use crate::lake::dead_letter::count_dead_letters;
    use crate::lake::read::{list_complete_files, read_bronze_rows, BronzeRow};
    use chrono::TimeZone;
    use std::path::Path;
    use std::time::Duration;

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

    fn policy(max_rows: usize, max_bytes: u64, max_age: Duration) -> RollPolicy {
        RollPolicy {
            max_rows,
            max_bytes,
            max_age,
        }
    }

    fn temp_files(dir: &Path) -> usize {
        crate::lake::layout::walk_files(dir, &|p| p.to_string_lossy().ends_with(".tmp"))
            .unwrap()
            .len()
    }

    #[test]
    fn writes_rolls_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let layout = LakeLayout::new(dir.path());
        let mut w = BronzeWriter::new(
            &layout,
            policy(10_000, u64::MAX, Duration::from_secs(3600)),
            "bronze-t".into(),
        )
        .unwrap();
        assert!(!w.pending());
        let mut rolls = Vec::new();
        for i in 0..25_000 {
            w.append(&tweet(i), &meta(i)).unwrap();
            if i == 9_000 {
                assert!(list_complete_files(&layout.bronze()).unwrap().is_empty());
                assert_eq!(temp_files(&layout.bronze()), 1);
                assert!(w.pending());
            }
            if w.should_roll(Instant::now()) {
                rolls.push(w.roll().unwrap());
            }
        }
        assert_eq!(rolls.len(), 2);
        assert!(w.pending());
        rolls.push(w.roll().unwrap());
        assert!(!w.pending());
        assert_eq!(temp_files(&layout.bronze()), 0);

        let files = list_complete_files(&layout.bronze()).unwrap();
        assert_eq!(files.len(), 3);
        let sizes: Vec<u64> = rolls
            .iter()
            .map(|r| r.file.as_ref().unwrap().rows)
            .collect();
        assert_eq!(sizes, [10_000, 10_000, 5_000]);
        // Each roll commits exactly the offsets of its own file.
        let mut first = 0;
        for r in &rolls {
            let rows = r.file.as_ref().unwrap().rows as usize;
            let mut want = BTreeMap::new();
            for i in first..first + rows {
                let m = meta(i);
                let e = want.entry(m.partition).or_insert(0);
                *e = (*e).max(m.offset + 1);
            }
            assert_eq!(r.commit, want);
            assert_eq!(r.dead_letters, 0);
            first += rows;
        }
        let last = &rolls[2].commit;
        assert_eq!(last, &BTreeMap::from([(0, 8334), (1, 8333), (2, 8333)]));

        let rows = read_bronze_rows(&layout.bronze()).unwrap();
        assert_eq!(rows.len(), 25_000);
        for i in [
            0, 1, 2, 3, 4, 5, 6, 7, 8191, 8192, 9_999, 10_000, 12_345, 24_999,
        ] {
            assert_eq!(rows[i], expected(i), "row {i}");
        }
        let offsets: Vec<i64> = rows.iter().map(|r| r.offset).collect();
        assert!(offsets
            .iter()
            .enumerate()
            .all(|(i, &o)| o == (i / 3) as i64));
        assert_eq!(rows[1].hash.len(), 64);
        assert!(w.roll().unwrap() == Rolled::default());
    }

    #[test]
    fn dead_letters_are_committed() {
        let dir = tempfile::tempdir().unwrap();
        let layout = LakeLayout::new(dir.path());
        let mut w = BronzeWriter::new(&layout, RollPolicy::default(), "bronze-d".into()).unwrap();
        w.append(&tweet(0), &meta(0)).unwrap();
        let bad = RecordMeta {
            topic: "tweets.raw",
            partition: 0,
            offset: 41,
            ingest_time: Utc::now(),
        };
        w.dead_letter(&bad, &[0xff, 0x00], "invalid json").unwrap();
        let bad7 = RecordMeta {
            partition: 7,
            offset: 3,
            ..bad
        };
        w.dead_letter(&bad7, b"{", "eof").unwrap();
        let r = w.roll().unwrap();
        assert_eq!(r.dead_letters, 2);
        assert_eq!(r.commit, BTreeMap::from([(0, 42), (7, 4)]));
        assert_eq!(r.file.unwrap().rows, 1);
        assert_eq!(count_dead_letters(&layout).unwrap(), 2);

        // Only dead letters: no file, still committed, still pending until rolled.
        w.dead_letter(&RecordMeta { offset: 4, ..bad7 }, b"x", "bad")
            .unwrap();
        assert!(w.pending());
        let r = w.roll().unwrap();
        assert_eq!(
            (r.file, r.dead_letters, r.commit),
            (None, 1, BTreeMap::from([(7, 5)]))
        );
        assert!(!w.pending());
        assert_eq!(count_dead_letters(&layout).unwrap(), 3);
    }

    #[test]
    fn rolls_by_age_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let layout = LakeLayout::new(dir.path());
        let mut w = BronzeWriter::new(
            &layout,
            policy(usize::MAX, u64::MAX, Duration::from_millis(30)),
            "age".into(),
        )
        .unwrap();
        assert!(!w.should_roll(Instant::now()));
        w.append(&tweet(1), &meta(1)).unwrap();
        assert!(!w.should_roll(Instant::now()));
        std::thread::sleep(Duration::from_millis(40));
        assert!(w.should_roll(Instant::now()));
        assert_eq!(w.roll().unwrap().file.unwrap().rows, 1);
        assert!(!w.should_roll(Instant::now() + Duration::from_secs(10)));

        let mut w = BronzeWriter::new(
            &layout,
            policy(usize::MAX, 256 * 1024, Duration::from_secs(3600)),
            "bytes".into(),
        )
        .unwrap();
        let mut i = 0;
        while !w.should_roll(Instant::now()) {
            w.append(&tweet(i), &meta(i)).unwrap();
            i += 1;
            assert!(i < 200_000, "never rolled by bytes");
        }
        let closed = w.roll().unwrap().file.unwrap();
        assert_eq!(closed.rows, i as u64);
        assert!(closed.bytes >= 128 * 1024, "{closed:?}");
    }

    /// `cargo test --release --lib bronze_throughput -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn bronze_throughput() {
        let dir = tempfile::tempdir().unwrap();
        let layout = LakeLayout::new(dir.path());
        let n = 500_000;
        let tweets: Vec<Tweet> = (0..n).map(tweet).collect();
        let mut w = BronzeWriter::new(&layout, RollPolicy::default(), "bench".into()).unwrap();
        let start = Instant::now();
        for (i, t) in tweets.iter().enumerate() {
            w.append(t, &meta(i)).unwrap();
            if w.should_roll(Instant::now()) {
                w.roll().unwrap();
            }
        }
        w.roll().unwrap();
        let secs = start.elapsed().as_secs_f64();
        println!("{n} tweets in {secs:.2}s = {:.0} tweets/s", n as f64 / secs);
    }
}
