//! The embedded label store: datasets as Parquet in the lake, label events in an append-only,
//! CRC-checked, fsync'd log per dataset version.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{fold, LabelEvent, LabelStore, LabelStoreError, NewEvent, Result};
use crate::learn::dataset::{self, Dataset};

/// CRC-32 (IEEE) of a log record, as the log stores it.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}
/// Datasets as Parquet under `<lake>/datasets/v<N>/`, label events in
/// `<store>/labels/v<N>.log`: one `crc32-hex json` line per event, appended with one write and
/// `fdatasync`ed before `append` returns. A torn last line (a crash mid-write) is cut off when
/// the log is opened; damage anywhere else is an error, never silently skipped.
pub struct EmbeddedLabelStore {
    lake_root: PathBuf,
    dir: PathBuf,
    logs: Mutex<BTreeMap<u32, Arc<Mutex<Log>>>>,
}

impl EmbeddedLabelStore {
    /// `store_dir` is the embedded store's folder (`<lake>/store`).
    pub fn new(lake_root: &Path, store_dir: &Path) -> EmbeddedLabelStore {
        EmbeddedLabelStore {
            lake_root: lake_root.to_path_buf(),
            dir: store_dir.join("labels"),
            logs: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn log_path(&self, version: u32) -> PathBuf {
        self.dir.join(format!("v{version}.log"))
    }

    fn log(&self, version: u32) -> Result<Arc<Mutex<Log>>> {
        let mut logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = logs.get(&version) {
            return Ok(l.clone());
        }
        std::fs::create_dir_all(&self.dir)?;
        let log = Arc::new(Mutex::new(open_log(&self.log_path(version))?));
        // The new folder and file survive a crash too: fsync the folders that name them.
        for dir in [Some(self.dir.as_path()), self.dir.parent()]
            .into_iter()
            .flatten()
        {
            File::open(dir)?.sync_all()?;
        }
        logs.insert(version, log.clone());
        Ok(log)
    }
}

struct Log {
    path: PathBuf,
    file: File,
    events: Vec<LabelEvent>,
    /// Bytes of the file already parsed into `events`.
    len: u64,
}

/// Parses complete records from `bytes`: the events, the bytes consumed (up to the last
/// complete record), and the offset of a damaged record followed by more data, if any.
fn parse_records(bytes: &[u8]) -> (Vec<LabelEvent>, usize, Option<usize>) {
    let mut events = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let Some(end) = bytes[pos..]
            .iter()
            .position(|b| *b == b'\n')
            .map(|i| pos + i)
        else {
            break; // no newline yet: a torn (or still being written) last record
        };
        match parse_record(&bytes[pos..end]) {
            Some(ev) => events.push(ev),
            None if end + 1 == bytes.len() => break, // damaged last record
            None => return (events, pos, Some(pos)),
        }
        pos = end + 1;
    }
    (events, pos, None)
}

/// Reads (and repairs a torn tail of) a log file, leaving it open for appends.
/// The events of version `version` in the embedded store at `store_dir`, read without opening
/// the log for writing (a torn last record is left alone: a writer may be mid-append).
pub fn read_log(store_dir: &Path, version: u32) -> Result<Vec<LabelEvent>> {
    let path = store_dir.join("labels").join(format!("v{version}.log"));
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let (events, _, damaged) = parse_records(&bytes);
    match damaged {
        Some(at) => Err(LabelStoreError::Corrupt(format!(
            "{}: damaged record at byte {at}",
            path.display()
        ))),
        None => Ok(events),
    }
}

fn open_log(path: &Path) -> Result<Log> {
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let (events, good, damaged) = parse_records(&bytes);
    if let Some(at) = damaged {
        return Err(LabelStoreError::Corrupt(format!(
            "{}: damaged record at byte {at} (not the last one): refusing to guess",
            path.display()
        )));
    }
    if good < bytes.len() {
        tracing::warn!(path = %path.display(), bytes = bytes.len() - good, "cutting off a torn last label record");
        file.set_len(good as u64)?;
        file.sync_all()?;
    }
    file.seek(SeekFrom::End(0))?;
    Ok(Log {
        path: path.to_path_buf(),
        file,
        events,
        len: good as u64,
    })
}

fn parse_record(line: &[u8]) -> Option<LabelEvent> {
    let line = std::str::from_utf8(line).ok()?;
    let (crc, json) = line.split_once(' ')?;
    let crc = u32::from_str_radix(crc, 16).ok()?;
    (crc32(json.as_bytes()) == crc).then(|| serde_json::from_str(json).ok())?
}

fn record(ev: &LabelEvent) -> Result<Vec<u8>> {
    let json = serde_json::to_string(ev).map_err(|e| LabelStoreError::Io(e.to_string()))?;
    Ok(format!("{:08x} {json}\n", crc32(json.as_bytes())).into_bytes())
}

impl Log {
    /// Picks up records another handle (or process) appended since we last looked.
    fn catch_up(&mut self) -> Result<()> {
        let actual = self.file.metadata()?.len();
        if actual <= self.len {
            return Ok(());
        }
        let mut f = File::open(&self.path)?;
        f.seek(SeekFrom::Start(self.len))?;
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)?;
        let (events, good, damaged) = parse_records(&bytes);
        if let Some(at) = damaged {
            return Err(LabelStoreError::Corrupt(format!(
                "{}: damaged record at byte {}",
                self.path.display(),
                self.len as usize + at
            )));
        }
        self.events.extend(events);
        self.len += good as u64;
        Ok(())
    }

    fn append(&mut self, event: NewEvent) -> Result<LabelEvent> {
        self.catch_up()?;
        // A retried append of an event already stored (same id) returns it: one event.
        let id = &event.provenance.event_id;
        if !id.is_empty() {
            if let Some(stored) = self
                .events
                .iter()
                .rev()
                .find(|e| &e.event.provenance.event_id == id)
            {
                return Ok(stored.clone());
            }
        }
        let ev = LabelEvent {
            seq: self.events.last().map_or(0, |e| e.seq) + 1,
            event,
        };
        let rec = record(&ev)?;
        // One write(2) per record (O_APPEND), then fdatasync before acknowledging. A failed
        // write (a full disk) may leave part of the record: cut it off again, so the next
        // record starts where the last whole one ended.
        if let Err(e) = self
            .file
            .write_all(&rec)
            .and_then(|()| self.file.sync_data())
        {
            if let Err(cut) = self
                .file
                .set_len(self.len)
                .and_then(|()| self.file.sync_data())
            {
                tracing::error!(path = %self.path.display(), error = %cut, "could not cut off a torn label record");
            }
            return Err(e.into());
        }
        self.len += rec.len() as u64;
        self.events.push(ev.clone());
        Ok(ev)
    }
}

#[async_trait]
impl LabelStore for EmbeddedLabelStore {
    fn describe(&self) -> String {
        format!("embedded ({})", self.dir.display())
    }

    async fn versions(&self) -> Result<Vec<u32>> {
        let root = self.lake_root.clone();
        tokio::task::spawn_blocking(move || dataset::lake_versions(&root))
            .await
            .map_err(|e| LabelStoreError::Io(e.to_string()))?
            .map_err(Into::into)
    }

    async fn create_version(&self, ds: &Dataset, slabels: &[i32]) -> Result<()> {
        let root = self.lake_root.clone();
        let ds = ds.clone();
        let slabels = slabels.to_vec();
        tokio::task::spawn_blocking(move || dataset::write_version(&root, &ds, &slabels))
            .await
            .map_err(|e| LabelStoreError::Io(e.to_string()))?
            .map(|_| ())
            .map_err(|e| LabelStoreError::Version(format!("{e:#}")))
    }

    async fn load_version(&self, version: u32) -> Result<Dataset> {
        let root = self.lake_root.clone();
        tokio::task::spawn_blocking(move || dataset::read_version(&root, version))
            .await
            .map_err(|e| LabelStoreError::Io(e.to_string()))?
            .map_err(|e| LabelStoreError::Version(format!("{e:#}")))
    }

    async fn append(&self, event: NewEvent) -> Result<LabelEvent> {
        let log = self.log(event.version)?;
        tokio::task::spawn_blocking(move || {
            log.lock().unwrap_or_else(|e| e.into_inner()).append(event)
        })
        .await
        .map_err(|e| LabelStoreError::Io(e.to_string()))?
    }

    async fn events(&self, version: u32) -> Result<Vec<LabelEvent>> {
        let log = self.log(version)?;
        let mut g = log.lock().unwrap_or_else(|e| e.into_inner());
        g.catch_up()?;
        Ok(g.events.clone())
    }

    async fn stored_labels(&self, version: u32) -> Result<BTreeMap<i64, i32>> {
        Ok(fold(&self.events(version).await?))
    }
}
