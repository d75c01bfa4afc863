//! Lake statistics for `ssp-tui lake stats` and the TUI's Lake pane.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use parquet::file::reader::{FileReader, SerializedFileReader};
use serde::Serialize;

use super::dead_letter::{count_lines_between, list_dead_letter_files};
use super::layout::{LakeLayout, Layer};
use super::read::list_complete_files;

/// Totals of one Parquet layer (complete files only).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LayerStats {
    pub files: u64,
    pub rows: u64,
    pub bytes: u64,
    /// Modification time of the newest file.
    #[serde(skip)]
    pub newest: Option<SystemTime>,
    /// Files modified within the last minute.
    #[serde(skip)]
    pub files_last_minute: u64,
}

/// Totals of the whole lake.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LakeStats {
    pub bronze: LayerStats,
    pub silver: LayerStats,
    pub gold: LayerStats,
    pub dead_letter: u64,
}

impl LakeStats {
    /// `{"bronze":{"files","rows","bytes"},"silver":{..},"gold":{..},"dead_letter":N}`
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "bronze": self.bronze,
            "silver": self.silver,
            "gold": self.gold,
            "dead_letter": self.dead_letter,
        })
    }

    pub fn layer(&self, layer: Layer) -> &LayerStats {
        match layer {
            Layer::Bronze => &self.bronze,
            Layer::Silver => &self.silver,
            Layer::Gold => &self.gold,
        }
    }
}

/// What was known about a file the last time it was seen, keyed by (len, mtime).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Seen {
    len: u64,
    mtime: SystemTime,
    count: u64,
}

/// Scans the lake, re-reading only files that are new or changed since the previous scan.
pub struct StatsScanner {
    layout: LakeLayout,
    parquet: HashMap<PathBuf, Seen>,
    dead: HashMap<PathBuf, Seen>,
    footer_reads: u64,
}

impl StatsScanner {
    pub fn new(layout: LakeLayout) -> Self {
        Self {
            layout,
            parquet: HashMap::new(),
            dead: HashMap::new(),
            footer_reads: 0,
        }
    }

    /// Parquet footers read so far (cache misses).
    pub fn footer_reads(&self) -> u64 {
        self.footer_reads
    }

    pub fn scan(&mut self) -> io::Result<LakeStats> {
        let now = SystemTime::now();
        let mut seen = HashMap::new();
        let mut layers = Layer::ALL.map(|_| LayerStats::default());
        for (layer, stats) in Layer::ALL.iter().zip(layers.iter_mut()) {
            for path in list_complete_files(&self.layout.layer(*layer))? {
                let Some((len, mtime)) = stat(&path)? else {
                    continue;
                };
                let rows = match self.parquet.get(&path) {
                    Some(s) if s.len == len && s.mtime == mtime => s.count,
                    _ => match self.read_rows(&path) {
                        Some(rows) => rows,
                        None => continue,
                    },
                };
                seen.insert(
                    path,
                    Seen {
                        len,
                        mtime,
                        count: rows,
                    },
                );
                stats.files += 1;
                stats.rows += rows;
                stats.bytes += len;
                stats.newest = stats.newest.max(Some(mtime));
                if now.duration_since(mtime).unwrap_or_default() < Duration::from_secs(60) {
                    stats.files_last_minute += 1;
                }
            }
        }
        self.parquet = seen;
        let dead_letter = self.scan_dead_letters()?;
        let [bronze, silver, gold] = layers;
        Ok(LakeStats {
            bronze,
            silver,
            gold,
            dead_letter,
        })
    }

    fn read_rows(&mut self, path: &Path) -> Option<u64> {
        self.footer_reads += 1;
        let rows = File::open(path)
            .map_err(parquet::errors::ParquetError::from)
            .and_then(SerializedFileReader::new)
            .map(|r| r.metadata().file_metadata().num_rows());
        match rows {
            Ok(n) => Some(u64::try_from(n).unwrap_or(0)),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "skipping unreadable parquet file");
                None
            }
        }
    }

    /// Dead-letter files are append-only: a grown file is counted from its old length on.
    fn scan_dead_letters(&mut self) -> io::Result<u64> {
        let mut seen = HashMap::new();
        let mut total = 0;
        for path in list_dead_letter_files(&self.layout)? {
            let Some((len, mtime)) = stat(&path)? else {
                continue;
            };
            let count = match self.dead.get(&path) {
                Some(s) if s.len == len && s.mtime == mtime => s.count,
                Some(s) if s.len < len => s.count + lines_between(&path, s.len, len)?,
                _ => lines_between(&path, 0, len)?,
            };
            seen.insert(path, Seen { len, mtime, count });
            total += count;
        }
        self.dead = seen;
        Ok(total)
    }
}

fn lines_between(path: &Path, from: u64, to: u64) -> io::Result<u64> {
    match count_lines_between(path, from, to) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        r => r,
    }
}

/// (len, mtime) of a file, `None` if it vanished.
fn stat(path: &Path) -> io::Result<Option<(u64, SystemTime)>> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some((m.len(), m.modified()?))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::bronze::RecordMeta;
    use crate::lake::dead_letter::DeadLetter;
    use crate::lake::rolling::{RollPolicy, RollingParquet};
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;
    use std::sync::Arc;

    fn write_file(dir: PathBuf, prefix: &str, rows: i64) -> u64 {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "offset",
            DataType::Int64,
            false,
        )]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from_iter_values(0..rows))],
        )
        .unwrap();
        let mut w = RollingParquet::new(dir, schema, prefix.into(), RollPolicy::default());
        w.write(&batch).unwrap();
        w.close().unwrap().unwrap().bytes
    }

    #[test]
    fn counts_caches_and_ignores_junk() {
        let dir = tempfile::tempdir().unwrap();
        let layout = LakeLayout::new(dir.path());
        let mut scanner = StatsScanner::new(layout.clone());
        assert_eq!(scanner.scan().unwrap(), LakeStats::default());

        let b1 = write_file(layout.bronze(), "a", 10);
        let b2 = write_file(layout.bronze(), "b", 32);
        let g1 = write_file(layout.gold(), "g", 5);
        let day = layout.bronze().join("date=2024-01-01");
        std::fs::create_dir_all(&day).unwrap();
        std::fs::write(day.join(".part-x.parquet.tmp"), b"half written").unwrap();
        std::fs::write(day.join("notes.txt"), b"hello").unwrap();
        std::fs::write(day.join("broken.parquet"), b"not parquet at all").unwrap();
        let mut dl = DeadLetter::new(&layout, "d".into());
        let meta = RecordMeta {
            topic: "t",
            partition: 0,
            offset: 1,
            ingest_time: chrono::Utc::now(),
        };
        dl.write(&meta, b"x", "bad").unwrap();
        dl.write(&meta, b"y", "bad").unwrap();
        dl.sync().unwrap();

        let s = scanner.scan().unwrap();
        assert_eq!(
            (s.bronze.files, s.bronze.rows, s.bronze.bytes),
            (2, 42, b1 + b2)
        );
        assert_eq!((s.gold.files, s.gold.rows, s.gold.bytes), (1, 5, g1));
        assert_eq!(s.silver, LayerStats::default());
        assert_eq!(s.dead_letter, 2);
        assert_eq!(s.bronze.files_last_minute, 2);
        assert!(s.bronze.newest.is_some());
        let reads = scanner.footer_reads();
        assert_eq!(reads, 4, "3 good files + 1 broken (not cached)");

        assert_eq!(scanner.scan().unwrap(), s);
        assert_eq!(
            scanner.footer_reads(),
            reads + 1,
            "only the broken file is retried"
        );

        write_file(layout.silver(), "s", 7);
        dl.write(&meta, b"z", "bad").unwrap();
        dl.sync().unwrap();
        let s2 = scanner.scan().unwrap();
        assert_eq!((s2.silver.files, s2.silver.rows), (1, 7));
        assert_eq!(s2.dead_letter, 3);
        assert_eq!(scanner.footer_reads(), reads + 3);
        assert_eq!(
            s2.dead_letter,
            crate::lake::count_dead_letters(&layout).unwrap()
        );
    }

    #[test]
    fn json_shape() {
        let s = LakeStats {
            bronze: LayerStats {
                files: 1,
                rows: 2,
                bytes: 3,
                newest: Some(SystemTime::now()),
                files_last_minute: 1,
            },
            silver: LayerStats::default(),
            gold: LayerStats {
                files: 4,
                rows: 5,
                bytes: 6,
                ..Default::default()
            },
            dead_letter: 7,
        };
        let expected = serde_json::json!({
            "bronze": {"files": 1, "rows": 2, "bytes": 3},
            "silver": {"files": 0, "rows": 0, "bytes": 0},
            "gold": {"files": 4, "rows": 5, "bytes": 6},
            "dead_letter": 7
        });
        assert_eq!(s.to_json(), expected);
    }
}
