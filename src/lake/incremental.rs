//! Incremental reading of a lake layer: which complete files a consumer has not processed yet.
//!
//! A consumer keeps the set of files it has processed (its checkpoint) *together with its own
//! output*, so a restart neither recounts nor skips a file: it stores the set in the same
//! transaction (PostgreSQL) or the same atomic file (embedded) as what it produced, or in a
//! [`FileCheckpoint`] written right after its output became durable. Temporary files are
//! never listed (see [`is_complete_file`](super::is_complete_file)).

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::list_complete_files;

/// Where a new consumer begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// Every file already in the lake.
    Beginning,
    /// Only files completed after the consumer first started.
    Now,
}

/// Files processed, by path relative to the layer folder (e.g. `date=2026-11-26/part-….parquet`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    pub done: BTreeSet<String>,
}

impl FileCheckpoint {
    /// Reads a checkpoint file; a missing file is an empty checkpoint.
    pub fn load(path: &Path) -> io::Result<Option<FileCheckpoint>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes atomically: temp file, fsync, rename.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(io::Error::other)?;
        write_atomic(path, &bytes)
    }
}

/// Replaces `path` with `bytes` so a reader (or a crash) sees the old or the new content only.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The complete files of one layer folder that are not in `done`.
pub struct LakeTail {
    dir: PathBuf,
    done: BTreeSet<String>,
}

impl LakeTail {
    /// `done` comes from the consumer's checkpoint; `None` means a first start, where
    /// `StartAt::Now` marks every file already there as done.
    pub fn new(
        dir: PathBuf,
        done: Option<BTreeSet<String>>,
        start: StartAt,
    ) -> io::Result<LakeTail> {
        let mut tail = LakeTail {
            dir,
            done: done.clone().unwrap_or_default(),
        };
        if done.is_none() && start == StartAt::Now {
            for (key, _) in tail.pending()? {
                tail.done.insert(key);
            }
        }
        Ok(tail)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Complete files not yet done, in name order (= creation time order per writer).
    pub fn pending(&self) -> io::Result<Vec<(String, PathBuf)>> {
        Ok(list_complete_files(&self.dir)?
            .into_iter()
            .filter_map(|p| {
                let key = p
                    .strip_prefix(&self.dir)
                    .ok()?
                    .to_string_lossy()
                    .into_owned();
                (!self.done.contains(&key)).then_some((key, p))
            })
            .collect())
    }

    pub fn mark(&mut self, key: String) {
        self.done.insert(key);
    }

    pub fn done(&self) -> &BTreeSet<String> {
        &self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_only_new_complete_files_and_checkpoints_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let day = dir.path().join("date=2026-01-01");
        std::fs::create_dir_all(&day).unwrap();
        std::fs::write(day.join("part-1.parquet"), b"x").unwrap();
        std::fs::write(day.join(".part-2.parquet.tmp"), b"x").unwrap();
        let mut tail = LakeTail::new(dir.path().to_path_buf(), None, StartAt::Beginning).unwrap();
        let keys: Vec<String> = tail
            .pending()
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, vec!["date=2026-01-01/part-1.parquet".to_string()]);
        tail.mark(keys[0].clone());
        assert!(tail.pending().unwrap().is_empty());
        std::fs::write(day.join("part-2.parquet"), b"x").unwrap();
        assert_eq!(tail.pending().unwrap().len(), 1);

        let cp_path = dir.path().join("cp/trending.json");
        assert_eq!(FileCheckpoint::load(&cp_path).unwrap(), None);
        let cp = FileCheckpoint {
            done: tail.done().clone(),
        };
        cp.save(&cp_path).unwrap();
        assert_eq!(FileCheckpoint::load(&cp_path).unwrap(), Some(cp.clone()));

        let from_now = LakeTail::new(dir.path().to_path_buf(), None, StartAt::Now).unwrap();
        assert!(
            from_now.pending().unwrap().is_empty(),
            "now skips existing files"
        );
        let resumed = LakeTail::new(dir.path().to_path_buf(), Some(cp.done), StartAt::Now).unwrap();
        assert_eq!(
            resumed.pending().unwrap().len(),
            1,
            "a checkpoint wins over StartAt"
        );
    }
}
