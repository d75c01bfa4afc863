//! A Parquet file that is written under a hidden temp name and renamed when complete.
//!
//! Files go to `<dir>/date=YYYY-MM-DD/part-<UTC yyyymmddTHHMMSS.mmm>-<prefix>-<seq:06>.parquet`
//! (date and time of opening). While open the file is `.part-...parquet.tmp`; `close`
//! finishes the footer, fsyncs the file, renames it and fsyncs the directories.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use super::layout::walk_files;
use super::LakeError;

/// Rows per Parquet row group (bounds writer memory).
pub const ROW_GROUP_ROWS: usize = 64 * 1024;
/// Temp files untouched for longer than this are considered abandoned.
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

/// When to close the open file.
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

/// A file that became durable under its final name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedFile {
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
}

struct OpenFile {
    writer: ArrowWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
    opened: Instant,
    rows: u64,
}

/// Writes record batches into a sequence of complete Parquet files.
pub struct RollingParquet {
    dir: PathBuf,
    schema: SchemaRef,
    prefix: String,
    policy: RollPolicy,
    seq: u64,
    open: Option<OpenFile>,
}

impl RollingParquet {
    /// `prefix` must be unique per process and writer (e.g. `bronze-<pid>-<random hex>`).
    pub fn new(dir: PathBuf, schema: SchemaRef, prefix: String, policy: RollPolicy) -> Self {
        Self {
            dir,
            schema,
            prefix,
            policy,
            seq: 0,
            open: None,
        }
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    pub fn policy(&self) -> &RollPolicy {
        &self.policy
    }

    /// Writes `batch`, opening a temp file first if none is open.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), LakeError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let open = match &mut self.open {
            Some(open) => open,
            slot => slot.insert(open_file(
                &self.dir,
                &self.schema,
                &self.prefix,
                &mut self.seq,
            )?),
        };
        open.writer
            .write(batch)
            .map_err(|e| LakeError::parquet(&open.tmp, e))?;
        open.rows += batch.num_rows() as u64;
        Ok(())
    }

    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Rows written to the open file (0 if none).
    pub fn open_rows(&self) -> u64 {
        self.open.as_ref().map_or(0, |o| o.rows)
    }

    /// Approximate size of the open file: bytes flushed plus the encoded row group in progress.
    pub fn open_bytes(&self) -> u64 {
        self.open.as_ref().map_or(0, |o| {
            (o.writer.bytes_written() + o.writer.in_progress_size()) as u64
        })
    }

    /// True when a file is open and has reached a row, byte or age limit.
    pub fn should_roll(&self, now: Instant) -> bool {
        let Some(open) = &self.open else { return false };
        open.rows >= self.policy.max_rows as u64
            || self.open_bytes() >= self.policy.max_bytes
            || now.saturating_duration_since(open.opened) >= self.policy.max_age
    }

    /// Finishes the open file and makes it durable under its final name; `None` if nothing is open.
    pub fn close(&mut self) -> Result<Option<ClosedFile>, LakeError> {
        self.close_with_metadata(Vec::new())
    }

    /// As [`close`](Self::close), adding key-value pairs to the Parquet footer first.
    pub fn close_with_metadata(
        &mut self,
        metadata: Vec<(String, String)>,
    ) -> Result<Option<ClosedFile>, LakeError> {
        let Some(mut open) = self.open.take() else {
            return Ok(None);
        };
        for (k, v) in metadata {
            open.writer
                .append_key_value_metadata(parquet::file::metadata::KeyValue::new(k, v));
        }
        let OpenFile {
            writer,
            tmp,
            path,
            rows,
            ..
        } = open;
        let file = writer
            .into_inner()
            .map_err(|e| LakeError::parquet(&tmp, e))?;
        file.sync_all().map_err(|e| LakeError::io(&tmp, e))?;
        let bytes = file.metadata().map_err(|e| LakeError::io(&tmp, e))?.len();
        drop(file);
        std::fs::rename(&tmp, &path).map_err(|e| LakeError::io(&path, e))?;
        if let Some(date_dir) = path.parent() {
            sync_dir(date_dir)?;
        }
        sync_dir(&self.dir)?;
        Ok(Some(ClosedFile { path, rows, bytes }))
    }
}

fn open_file(
    dir: &Path,
    schema: &SchemaRef,
    prefix: &str,
    seq: &mut u64,
) -> Result<OpenFile, LakeError> {
    let now = chrono::Utc::now();
    let date_dir = dir.join(format!("date={}", now.format("%Y-%m-%d")));
    std::fs::create_dir_all(&date_dir).map_err(|e| LakeError::io(&date_dir, e))?;
    let stamp = now.format("%Y%m%dT%H%M%S%.3f");
    let (name, path, tmp) = loop {
        *seq += 1;
        let name = format!("part-{stamp}-{prefix}-{:06}.parquet", *seq);
        let path = date_dir.join(&name);
        let tmp = date_dir.join(format!(".{name}.tmp"));
        if !path.exists() && !tmp.exists() {
            break (name, path, tmp);
        }
    };
    let file = File::options()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| LakeError::io(&tmp, e))?;
    let writer = ArrowWriter::try_new(file, schema.clone(), Some(writer_properties(schema)))
        .map_err(|e| LakeError::parquet(&tmp, e))?;
    tracing::debug!(file = %name, "opened parquet temp file");
    Ok(OpenFile {
        writer,
        tmp,
        path,
        opened: Instant::now(),
        rows: 0,
    })
}

/// Snappy, bounded row groups, no dictionary for columns that are (nearly) unique per row.
fn writer_properties(schema: &SchemaRef) -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_size(ROW_GROUP_ROWS);
    for name in ["id_str", "text", "hash", "offset"] {
        if schema.column_with_name(name).is_some() {
            props = props.set_column_dictionary_enabled(ColumnPath::from(name), false);
        }
    }
    props.build()
}

fn sync_dir(dir: &Path) -> Result<(), LakeError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| LakeError::io(dir, e))
}

fn is_temp_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(".part-") && n.ends_with(".tmp"))
}

/// Deletes abandoned `.part-*.tmp` files under `dir` (recursively) that were last modified
/// more than [`STALE_TEMP_AGE`] ago; returns how many were removed.
///
/// Choice: by age, not by prefix, since prefixes are random per process and a killed
/// writer's prefix is unknown to its successor. A live writer touches its temp file at
/// least on every row-group flush and is rolled by `max_age`, far below the hour.
pub fn remove_stale_temp_files(dir: &Path) -> io::Result<usize> {
    remove_temp_files_older_than(dir, STALE_TEMP_AGE)
}

/// Like [`remove_stale_temp_files`] with an explicit minimum age.
pub fn remove_temp_files_older_than(dir: &Path, min_age: Duration) -> io::Result<usize> {
    let now = SystemTime::now();
    let mut removed = 0;
    for path in walk_files(dir, &is_temp_file)? {
        let modified = match std::fs::metadata(&path).and_then(|m| m.modified()) {
            Ok(t) => t,
            Err(_) => continue,
        };
        if now.duration_since(modified).unwrap_or_default() >= min_age {
            match std::fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::read::{list_complete_files, read_batches};
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("offset", DataType::Int64, false),
            Field::new("text", DataType::Utf8, false),
        ]))
    }

    fn batch(start: i64, n: usize) -> RecordBatch {
        let offsets = Int64Array::from_iter_values(start..start + n as i64);
        let texts = StringArray::from_iter_values((0..n).map(|i| format!("row {} {}", start, i)));
        RecordBatch::try_new(schema(), vec![Arc::new(offsets), Arc::new(texts)]).unwrap()
    }

    fn temp_files(dir: &Path) -> Vec<PathBuf> {
        walk_files(dir, &is_temp_file).unwrap()
    }

    #[test]
    fn temp_until_closed_then_renamed() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = RollingParquet::new(
            dir.path().into(),
            schema(),
            "t-1".into(),
            RollPolicy::default(),
        );
        assert!(w.close().unwrap().is_none());
        w.write(&batch(0, 100)).unwrap();
        assert_eq!(w.open_rows(), 100);
        assert!(list_complete_files(dir.path()).unwrap().is_empty());
        assert_eq!(temp_files(dir.path()).len(), 1);
        let closed = w.close().unwrap().unwrap();
        assert_eq!(closed.rows, 100);
        assert_eq!(closed.bytes, std::fs::metadata(&closed.path).unwrap().len());
        assert!(temp_files(dir.path()).is_empty());
        let name = closed
            .path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            name.starts_with("part-") && name.ends_with("-t-1-000001.parquet"),
            "{name}"
        );
        let parent = closed
            .path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        assert!(parent.starts_with("date="), "{parent}");
        let rows: usize = read_batches(&closed.path)
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum();
        assert_eq!(rows, 100);
    }

    #[test]
    fn rolls_by_rows_bytes_and_age() {
        let dir = tempfile::tempdir().unwrap();
        let now = Instant::now();
        let policy = RollPolicy {
            max_rows: 50,
            max_bytes: u64::MAX,
            max_age: Duration::from_secs(3600),
        };
        let mut w = RollingParquet::new(dir.path().into(), schema(), "rows".into(), policy);
        assert!(!w.should_roll(now));
        w.write(&batch(0, 49)).unwrap();
        assert!(!w.should_roll(Instant::now()));
        w.write(&batch(49, 1)).unwrap();
        assert!(w.should_roll(Instant::now()));

        let policy = RollPolicy {
            max_rows: usize::MAX,
            max_bytes: 4096,
            max_age: Duration::from_secs(3600),
        };
        let mut w = RollingParquet::new(dir.path().into(), schema(), "bytes".into(), policy);
        w.write(&batch(0, 10)).unwrap();
        assert!(!w.should_roll(Instant::now()));
        for i in 0..20 {
            w.write(&batch(i * 1000, 1000)).unwrap();
        }
        assert!(w.open_bytes() >= 4096);
        assert!(w.should_roll(Instant::now()));

        let policy = RollPolicy {
            max_rows: usize::MAX,
            max_bytes: u64::MAX,
            max_age: Duration::from_millis(20),
        };
        let mut w = RollingParquet::new(dir.path().into(), schema(), "age".into(), policy);
        w.write(&batch(0, 1)).unwrap();
        assert!(!w.should_roll(Instant::now()));
        std::thread::sleep(Duration::from_millis(30));
        assert!(w.should_roll(Instant::now()));
        assert_eq!(w.close().unwrap().unwrap().rows, 1);
        assert!(!w.should_roll(Instant::now()));
    }

    #[test]
    fn two_writers_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let p = RollPolicy::default();
        let mut a = RollingParquet::new(dir.path().into(), schema(), "bronze-1-aa".into(), p);
        let mut b = RollingParquet::new(dir.path().into(), schema(), "bronze-2-bb".into(), p);
        let mut closed = Vec::new();
        for i in 0..5 {
            a.write(&batch(i * 10, 10)).unwrap();
            b.write(&batch(i * 10, 10)).unwrap();
            closed.push(a.close().unwrap().unwrap().path);
            closed.push(b.close().unwrap().unwrap().path);
        }
        closed.sort();
        closed.dedup();
        assert_eq!(closed.len(), 10);
        assert_eq!(list_complete_files(dir.path()).unwrap(), closed);
    }

    #[test]
    fn stale_temp_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = RollingParquet::new(
            dir.path().into(),
            schema(),
            "x".into(),
            RollPolicy::default(),
        );
        w.write(&batch(0, 5)).unwrap();
        std::fs::write(dir.path().join("keep.parquet"), b"not really").unwrap();
        assert_eq!(remove_stale_temp_files(dir.path()).unwrap(), 0);
        drop(w); // killed writer: temp file left behind
        assert_eq!(temp_files(dir.path()).len(), 1);
        assert_eq!(
            remove_temp_files_older_than(dir.path(), Duration::ZERO).unwrap(),
            1
        );
        assert!(temp_files(dir.path()).is_empty());
        assert!(dir.path().join("keep.parquet").exists());
    }
}
