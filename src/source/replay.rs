//! Replays tweets from a JSONL file, or a folder of one-tweet `.json` files (and `.jsonl`
//! files), in name order, optionally looping.
//!
//! A replay is resumable: every record has a position (its index in the replay, counting on
//! across loops) and the input an identity (a hash of its path, sizes and first bytes). The
//! bronze table records, per input, how far it holds the replay (`txn` actions), so a
//! restarted replay skips what is already there (see `stage::source`).

use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use tokio::fs::File;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

pub struct Replay {
    id: String,
    /// Position of the next record.
    position: i64,
    files: Vec<PathBuf>,
    next_file: usize,
    open: Option<BufReader<File>>,
    looping: bool,
    records_this_pass: u64,
}

impl Replay {
    pub async fn open(path: &Path, looping: bool) -> io::Result<Replay> {
        let files = if tokio::fs::metadata(path).await?.is_dir() {
            list_tweet_files(path)?
        } else {
            vec![path.to_path_buf()]
        };
        let id = input_id(path, &files)?;
        Ok(Replay {
            id,
            position: 0,
            files,
            next_file: 0,
            open: None,
            looping,
            records_this_pass: 0,
        })
    }

    /// The input's identity (changes when the file or folder content does).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Position of the record the last [`next`](Self::next) returned.
    pub fn position(&self) -> i64 {
        self.position - 1
    }

    /// Skips the records before position `n`; false if the input ended first.
    pub async fn skip_to(&mut self, n: i64) -> io::Result<bool> {
        let mut buf = Vec::new();
        while self.position < n {
            if !self.next(&mut buf).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Reads the next record into `buf` (cleared first). False at the end.
    pub async fn next(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        let more = self.read(buf).await?;
        if more {
            self.position += 1;
        }
        Ok(more)
    }

    async fn read(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        loop {
            buf.clear();
            if let Some(reader) = &mut self.open {
                if reader.read_until(b'\n', buf).await? > 0 {
                    while matches!(buf.last(), Some(b'\n' | b'\r')) {
                        buf.pop();
                    }
                    self.records_this_pass += 1;
                    return Ok(true);
                }
                self.open = None;
                continue;
            }
            if self.next_file == self.files.len() {
                // A pass that found nothing would loop forever.
                if !self.looping || self.records_this_pass == 0 {
                    return Ok(false);
                }
                self.next_file = 0;
                self.records_this_pass = 0;
            }
            let path = &self.files[self.next_file];
            self.next_file += 1;
            let mut file = File::open(path).await?;
            if path.extension().is_some_and(|e| e == "json") {
                // One tweet per file: the whole file is the record.
                file.read_to_end(buf).await?;
                let end = buf
                    .iter()
                    .rposition(|b| !b.is_ascii_whitespace())
                    .map_or(0, |i| i + 1);
                buf.truncate(end);
                self.records_this_pass += 1;
                return Ok(true);
            }
            self.open = Some(BufReader::with_capacity(1 << 20, file));
        }
    }
}

/// Hash of the canonical path and, per file, its name, size and first 64 KiB.
fn input_id(path: &Path, files: &[PathBuf]) -> io::Result<String> {
    use std::io::Read as _;
    let mut h = Sha256::new();
    h.update(std::fs::canonicalize(path)?.to_string_lossy().as_bytes());
    for f in files {
        let mut file = std::fs::File::open(f)?;
        h.update(
            f.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .as_bytes(),
        );
        h.update(file.metadata()?.len().to_le_bytes());
        let mut head = Vec::with_capacity(64 * 1024);
        file.by_ref().take(64 * 1024).read_to_end(&mut head)?;
        h.update(&head);
    }
    Ok(hex::encode(&h.finalize()[..8]))
}

fn list_tweet_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension().is_some_and(|e| e == "json" || e == "jsonl")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn all(r: &mut Replay, max: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while out.len() < max && r.next(&mut buf).await.unwrap() {
            out.push(String::from_utf8_lossy(&buf).into_owned());
        }
        out
    }

    #[tokio::test]
    async fn reads_jsonl_and_folders_in_name_order_and_loops() {
        let dir = tempfile::tempdir().unwrap();
        let jsonl = dir.path().join("a.jsonl");
        std::fs::write(&jsonl, "{\"a\":1}\r\n\n{\"a\":2}").unwrap();
        let mut r = Replay::open(&jsonl, false).await.unwrap();
        assert_eq!(all(&mut r, 10).await, vec!["{\"a\":1}", "", "{\"a\":2}"]);

        let folder = dir.path().join("tweets");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("2.json"), "{\n \"b\": 2\n}\n").unwrap();
        std::fs::write(folder.join("1.json"), "{\"b\":1}").unwrap();
        std::fs::write(folder.join("notes.txt"), "ignored").unwrap();
        let mut r = Replay::open(&folder, true).await.unwrap();
        assert_eq!(
            all(&mut r, 3).await,
            vec!["{\"b\":1}", "{\n \"b\": 2\n}", "{\"b\":1}"]
        );

        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let mut r = Replay::open(&empty, true).await.unwrap();
        assert!(
            all(&mut r, 3).await.is_empty(),
            "an empty folder ends even when looping"
        );
    }
}
