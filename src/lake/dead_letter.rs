//! Append-only JSONL files of messages that could not be parsed.
//!
//! `<lake>/dead_letter/date=YYYY-MM-DD/dead-<prefix>.jsonl`, one line per message:
//! `{"topic","partition","offset","ingest_time","error","payload"}`, where `payload` is the
//! whole message if it is UTF-8, else `payload_base64` holds it base64-encoded.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use chrono::{NaiveDate, SecondsFormat, Utc};

use super::bronze::RecordMeta;
use super::layout::{walk_files, LakeLayout};

struct OpenLog {
    date: NaiveDate,
    path: PathBuf,
    out: BufWriter<File>,
}

/// Writer of one process's dead-letter file (one per UTC day).
pub struct DeadLetter {
    dir: PathBuf,
    prefix: String,
    open: Option<OpenLog>,
    unsynced: u64,
}

impl DeadLetter {
    /// `prefix` must be unique per process and writer.
    pub fn new(layout: &LakeLayout, prefix: String) -> Self {
        Self {
            dir: layout.dead_letter(),
            prefix,
            open: None,
            unsynced: 0,
        }
    }

    /// Path of the file currently appended to, if any.
    pub fn path(&self) -> Option<&Path> {
        self.open.as_ref().map(|o| o.path.as_path())
    }

    /// Lines written but not yet fsynced.
    pub fn unsynced(&self) -> u64 {
        self.unsynced
    }

    /// Appends one line for a bad message (buffered; call [`DeadLetter::sync`] to make it durable).
    pub fn write(&mut self, meta: &RecordMeta, payload: &[u8], error: &str) -> io::Result<()> {
        let mut line = serde_json::Map::new();
        line.insert("topic".into(), meta.topic.into());
        line.insert("partition".into(), meta.partition.into());
        line.insert("offset".into(), meta.offset.into());
        let ingest = meta
            .ingest_time
            .to_rfc3339_opts(SecondsFormat::Millis, true);
        line.insert("ingest_time".into(), ingest.into());
        line.insert("error".into(), error.into());
        match std::str::from_utf8(payload) {
            Ok(s) => line.insert("payload".into(), s.into()),
            Err(_) => {
                let b64 = base64::engine::general_purpose::STANDARD.encode(payload);
                line.insert("payload_base64".into(), b64.into())
            }
        };
        let out = self.current()?;
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
        self.unsynced += 1;
        Ok(())
    }

    /// Flushes and fsyncs the open file; returns how many lines became durable.
    pub fn sync(&mut self) -> io::Result<u64> {
        if let Some(open) = &mut self.open {
            open.out.flush()?;
            open.out.get_ref().sync_all()?;
        }
        Ok(std::mem::take(&mut self.unsynced))
    }

    /// The writer for today's file, switching (and syncing the old one) at midnight UTC.
    fn current(&mut self) -> io::Result<&mut BufWriter<File>> {
        let today = Utc::now().date_naive();
        if self.open.as_ref().is_some_and(|o| o.date != today) {
            self.sync()?;
            self.open = None;
        }
        let open = match &mut self.open {
            Some(open) => open,
            slot => slot.insert(open_log(&self.dir, &self.prefix, today)?),
        };
        Ok(&mut open.out)
    }
}

fn open_log(dir: &Path, prefix: &str, date: NaiveDate) -> io::Result<OpenLog> {
    let day_dir = dir.join(format!("date={}", date.format("%Y-%m-%d")));
    std::fs::create_dir_all(&day_dir)?;
    let path = day_dir.join(format!("dead-{prefix}.jsonl"));
    let mut file = File::options()
        .create(true)
        .read(true)
        .append(true)
        .open(&path)?;
    // A killed writer may have left a partial last line: terminate it so ours stay parseable.
    let len = file.metadata()?.len();
    if len > 0 {
        let mut last = [0u8];
        file.seek(SeekFrom::Start(len - 1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            file.write_all(b"\n")?;
        }
    }
    File::open(&day_dir)?.sync_all()?;
    Ok(OpenLog {
        date,
        path,
        out: BufWriter::with_capacity(64 * 1024, file),
    })
}

pub(crate) fn is_dead_letter_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".jsonl") && !n.starts_with('.'))
}

/// Dead-letter files under the lake, sorted by path.
pub fn list_dead_letter_files(layout: &LakeLayout) -> io::Result<Vec<PathBuf>> {
    walk_files(&layout.dead_letter(), &is_dead_letter_file)
}

/// Number of `\n` in bytes `from..to` of `path`.
pub(crate) fn count_lines_between(path: &Path, from: u64, to: u64) -> io::Result<u64> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(from))?;
    let mut file = file.take(to.saturating_sub(from));
    let mut buf = vec![0u8; 256 * 1024];
    let mut lines = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return Ok(lines),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

/// Total dead letters (lines) in the lake; a missing folder counts as zero.
pub fn count_dead_letters(layout: &LakeLayout) -> io::Result<u64> {
    let mut total = 0;
    for path in list_dead_letter_files(layout)? {
        match count_lines_between(&path, 0, u64::MAX) {
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn meta(offset: i64) -> RecordMeta<'static> {
        RecordMeta {
            topic: "tweets",
            partition: 3,
            offset,
            ingest_time: Utc::now(),
            bus_time_ms: None,
        }
    }

    fn lines(path: &Path) -> Vec<Value> {
        let text = std::fs::read_to_string(path).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn payloads_round_trip_whole() {
        let dir = tempfile::tempdir().unwrap();
        let layout = LakeLayout::new(dir.path());
        assert_eq!(count_dead_letters(&layout).unwrap(), 0);
        let mut dl = DeadLetter::new(&layout, "p1".into());
        let binary: Vec<u8> = vec![0xff, 0xfe, 0x00, 0x80, b'a'];
        let big = "x\"y\n".repeat(5 * 1024 * 1024 / 4);
        dl.write(&meta(7), &binary, "not utf-8").unwrap();
        dl.write(&meta(8), big.as_bytes(), "too big").unwrap();
        dl.write(&meta(9), b"{\"broken\": ", "eof").unwrap();
        assert_eq!(dl.unsynced(), 3);
        assert_eq!(dl.sync().unwrap(), 3);
        assert_eq!(dl.unsynced(), 0);

        let path = dl.path().unwrap().to_path_buf();
        assert!(path.ends_with(format!(
            "date={}/dead-p1.jsonl",
            Utc::now().format("%Y-%m-%d")
        )));
        let got = lines(&path);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0]["topic"], "tweets");
        assert_eq!(got[0]["partition"], 3);
        assert_eq!(got[0]["offset"], 7);
        assert_eq!(got[0]["error"], "not utf-8");
        assert!(got[0].get("payload").is_none());
        let b64 = got[0]["payload_base64"].as_str().unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(decoded, binary);
        assert_eq!(got[1]["payload"].as_str().unwrap(), big);
        assert_eq!(got[2]["payload"], "{\"broken\": ");
        assert!(got[2]["ingest_time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(count_dead_letters(&layout).unwrap(), 3);
    }

    #[test]
    fn partial_last_line_is_terminated_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let layout = LakeLayout::new(dir.path());
        let mut dl = DeadLetter::new(&layout, "p".into());
        dl.write(&meta(1), b"a", "e").unwrap();
        dl.sync().unwrap();
        let path = dl.path().unwrap().to_path_buf();
        drop(dl);
        let mut f = File::options().append(true).open(&path).unwrap();
        f.write_all(b"{\"torn").unwrap();
        let mut dl = DeadLetter::new(&layout, "p".into());
        dl.write(&meta(2), b"b", "e").unwrap();
        dl.sync().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(last["offset"], 2);
        assert_eq!(count_dead_letters(&layout).unwrap(), 3);
    }
}
