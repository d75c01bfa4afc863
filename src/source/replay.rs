//! Replays tweets from a JSONL file, or a folder of one-tweet `.json` files (and `.jsonl`
//! files), in name order, optionally looping.
//!
//! A replay is resumable: every record has a position (its index in the replay, counting on
//! across loops) and the input an identity (a hash of its path, sizes and first bytes). The
//! bronze table records, per input, how far it holds the replay (`txn` actions), so a
//! restarted replay skips what is already there (see `stage::source`).

use std::fs::File;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::chunks::ChunkPool;

/// How much of a JSONL file one read brings in; records are cut out of it without a copy.
const CHUNK: usize = 4 << 20;

/// Read buffers kept for reuse when a file cannot be mapped (a pipe): a few, as before; a
/// regular file is mapped and needs none.
const CHUNKS_KEPT: usize = 8;

pub struct Replay {
    id: String,
    /// Position of the next record.
    position: i64,
    files: Vec<PathBuf>,
    next_file: usize,
    open: Option<OpenFile>,
    looping: bool,
    records_this_pass: u64,
    /// Read buffers, reused across files and passes.
    chunks: Arc<ChunkPool>,
}

/// A JSONL file being read: what was read and not yet handed out is in `pending`.
struct OpenFile {
    file: Option<File>,
    pending: Bytes,
    chunks: Arc<ChunkPool>,
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
            chunks: ChunkPool::new(CHUNKS_KEPT),
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
        while self.position < n {
            if self.next().await?.is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The next record (line ends trimmed); `None` at the end.
    pub async fn next(&mut self) -> io::Result<Option<Bytes>> {
        let record = self.read().await?;
        if record.is_some() {
            self.position += 1;
        }
        Ok(record)
    }

    async fn read(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            if let Some(open) = &mut self.open {
                if let Some(line) = open.next_line().await? {
                    self.records_this_pass += 1;
                    return Ok(Some(line));
                }
                self.open = None;
                continue;
            }
            if self.next_file == self.files.len() {
                // A pass that found nothing would loop forever.
                if !self.looping || self.records_this_pass == 0 {
                    return Ok(None);
                }
                self.next_file = 0;
                self.records_this_pass = 0;
            }
            let path = self.files[self.next_file].clone();
            self.next_file += 1;
            if path.extension().is_some_and(|e| e == "json") {
                // One tweet per file: the whole file is the record.
                let all = tokio::fs::read(&path).await?;
                let end = all
                    .iter()
                    .rposition(|b| !b.is_ascii_whitespace())
                    .map_or(0, |i| i + 1);
                self.records_this_pass += 1;
                return Ok(Some(Bytes::from(all).slice(..end)));
            }
            let (file, mapped) = tokio::task::spawn_blocking(move || open_jsonl(&path))
                .await
                .map_err(io::Error::other)??;
            self.open = Some(OpenFile {
                file,
                pending: mapped.unwrap_or_default(),
                chunks: self.chunks.clone(),
            });
        }
    }
}

impl OpenFile {
    /// The next line without its `\n` / `\r\n`; `None` at the end of the file.
    async fn next_line(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.pending) {
                let line = self.pending.split_to(i + 1);
                return Ok(Some(trim_line_end(line)));
            }
            let Some(file) = self.file.take() else {
                // The last line may have no line end.
                if self.pending.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(trim_line_end(std::mem::take(&mut self.pending))));
            };
            // Read the next chunk on the blocking pool, after the unfinished line (records
            // are cut out of the chunk without a copy; `read_to_end` fills the spare capacity
            // without zeroing it first).
            let tail = std::mem::take(&mut self.pending);
            let pool = self.chunks.clone();
            let (file, chunk) = tokio::task::spawn_blocking(move || {
                // Room for the unfinished line without growing (usually).
                let mut chunk = pool.take(tail.len().max(CHUNK / 4) + CHUNK);
                chunk.extend_from_slice(&tail);
                drop(tail);
                let mut file = file;
                let n = (&mut file).take(CHUNK as u64).read_to_end(&mut chunk);
                (file, n.map(|n| (n, chunk)))
            })
            .await
            .map_err(io::Error::other)?;
            let (n, chunk) = chunk?;
            self.pending = self.chunks.share(chunk);
            if n > 0 {
                self.file = Some(file);
            }
        }
    }
}

/// A JSONL file, mapped into memory when it is a regular file (records are then slices of the
/// page cache: nothing is copied or allocated for them), else to be read in chunks.
fn open_jsonl(path: &Path) -> io::Result<(Option<File>, Option<Bytes>)> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() == 0 {
        return Ok((Some(file), None));
    }
    // SAFETY: the map is read only and private. A file truncated while it is replayed would
    // make later reads fault (SIGBUS); the README says not to rewrite a file being replayed.
    match unsafe { memmap2::MmapOptions::new().map_copy_read_only(&file) } {
        Ok(map) => {
            let _ = map.advise(memmap2::Advice::Sequential);
            Ok((None, Some(Bytes::from_owner(map))))
        }
        Err(e) => {
            tracing::debug!(error = %e, path = %path.display(), "mapping failed: reading in chunks");
            Ok((Some(file), None))
        }
    }
}

fn trim_line_end(mut line: Bytes) -> Bytes {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    line.truncate(end);
    line
}

/// Hash of the canonical path and, per file, its name, size and first 64 KiB.
fn input_id(path: &Path, files: &[PathBuf]) -> io::Result<String> {
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
        while out.len() < max {
            let Some(line) = r.next().await.unwrap() else {
                break;
            };
            out.push(String::from_utf8_lossy(&line).into_owned());
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
