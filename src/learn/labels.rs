//! Label events and where they are kept: the [`LabelStore`] trait, with an embedded
//! implementation here (append-only, fsync'd log per dataset version) and a PostgreSQL one in
//! [`super::pg`].
//!
//! Every hand label is an event (text id, label, the label it replaced, who, when, optional
//! note); undo is an event too, naming the label event it takes back and the label it
//! restores. The current label of a text is the label of its last event. `append` returns only
//! once the event is durable: the Label pane moves on after that, never before.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::dataset::{self, Dataset, Split};
use crate::config::ABSTAIN;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Label,
    Undo,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Label => "label",
            EventKind::Undo => "undo",
        }
    }
}

/// Where a label came from and what the labeller saw. Events written before these fields
/// existed read back with them empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Provenance {
    /// Client-generated id (UUID v4): a retried append after a lost reply stores one event.
    pub event_id: String,
    pub tweet_id: String,
    /// The bronze table versions the dataset version was collected from (`bronze v3..v40`).
    pub source: String,
    /// The model's version when labelling: the hand labels it had learned from.
    pub model_version: u64,
    /// The model's probability of the positive label shown when labelling.
    pub probability: Option<f32>,
}

impl Provenance {
    pub fn new_event_id() -> String {
        uuid::Uuid::new_v4().to_string()
    }
}

/// An event before it is committed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub version: u32,
    pub text_id: i64,
    pub split: Split,
    pub kind: EventKind,
    /// `Label`: the label given. `Undo`: the label restored.
    pub label: i32,
    /// `Label`: the text's label before. `Undo`: the label taken back.
    pub prev_label: i32,
    /// `Undo`: the sequence number of the label event it takes back.
    pub undoes: Option<u64>,
    pub who: String,
    pub at_ms: i64,
    pub note: Option<String>,
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// A committed event: its sequence number (1-based, commit order within a version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelEvent {
    pub seq: u64,
    #[serde(flatten)]
    pub event: NewEvent,
}

/// Errors of a label store; none carries a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelStoreError {
    /// The database cannot be reached (down, refused, bad credentials, timeout).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Sql(String),
    #[error("{0}")]
    Io(String),
    /// Bad names or settings.
    #[error("{0}")]
    Config(String),
    /// The version exists already, or does not exist.
    #[error("{0}")]
    Version(String),
    /// The stored log is damaged somewhere other than a torn last record.
    #[error("{0}")]
    Corrupt(String),
}

impl From<std::io::Error> for LabelStoreError {
    fn from(e: std::io::Error) -> Self {
        LabelStoreError::Io(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, LabelStoreError>;

/// Datasets and their labels.
#[async_trait]
pub trait LabelStore: Send + Sync {
    /// Where it is, for people (never a password).
    fn describe(&self) -> String;
    /// Dataset versions it holds, ascending.
    async fn versions(&self) -> Result<Vec<u32>>;
    /// Publishes version `ds.version` with its weak labels (one per row of `ds.rows`, in
    /// label values); fails if the version exists (versions are never overwritten).
    async fn create_version(&self, ds: &Dataset, slabels: &[i32]) -> Result<()>;
    async fn load_version(&self, version: u32) -> Result<Dataset>;
    /// Commits one event durably and returns it with its sequence number.
    async fn append(&self, event: NewEvent) -> Result<LabelEvent>;
    /// Every event of a version, in commit order.
    async fn events(&self, version: u32) -> Result<Vec<LabelEvent>>;
    /// The label per text id as stored (PostgreSQL: the split tables' `label` column;
    /// embedded: folded from the log). Texts never labelled are absent or `-1`.
    async fn stored_labels(&self, version: u32) -> Result<BTreeMap<i64, i32>>;
}

/// The current label per text id after `events` (texts whose label went back to -1 kept).
pub fn fold(events: &[LabelEvent]) -> BTreeMap<i64, i32> {
    let mut out = BTreeMap::new();
    for e in events {
        out.insert(e.event.text_id, e.event.label);
    }
    out
}

/// The label event behind each text's current label (undone events taken back): its
/// provenance is the label's.
pub fn current_label_events(events: &[LabelEvent]) -> BTreeMap<i64, &LabelEvent> {
    let mut stacks: BTreeMap<i64, Vec<&LabelEvent>> = BTreeMap::new();
    for e in events {
        let stack = stacks.entry(e.event.text_id).or_default();
        match e.event.kind {
            EventKind::Label => stack.push(e),
            EventKind::Undo => stack.retain(|l| Some(l.seq) != e.event.undoes),
        }
    }
    stacks
        .into_iter()
        .filter_map(|(t, s)| s.last().map(|e| (t, *e)))
        .collect()
}

/// The label event an undo takes back now: the newest label event not undone yet.
pub fn undo_target(events: &[LabelEvent]) -> Option<&LabelEvent> {
    let undone: std::collections::HashSet<u64> =
        events.iter().filter_map(|e| e.event.undoes).collect();
    events
        .iter()
        .rev()
        .find(|e| e.event.kind == EventKind::Label && !undone.contains(&e.seq))
}

/// The labelled texts only (label != -1).
pub fn labelled(events: &[LabelEvent]) -> BTreeMap<i64, i32> {
    fold(events)
        .into_iter()
        .filter(|(_, l)| *l != ABSTAIN)
        .collect()
}

/// CRC-32 (IEEE) of a log record, as the log stores it.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

// ---------------------------------------------------------------------------------------
// Embedded store.

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

/// Retries of a label append while the store cannot be reached, the first after this delay
/// (then doubling): 0.2 + 0.4 + 0.8 s.
const APPEND_RETRIES: usize = 3;
const APPEND_RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(200);

/// Appends `event`, retrying a store that cannot be reached (a lost connection, perhaps
/// after the commit) with the same event: its id makes the retry store it once.
pub async fn append_retrying(store: &dyn LabelStore, event: NewEvent) -> Result<LabelEvent> {
    let mut delay = APPEND_RETRY_FIRST;
    for _ in 0..APPEND_RETRIES {
        match store.append(event.clone()).await {
            Err(LabelStoreError::Unavailable(e)) => {
                tracing::warn!(error = %e, event_id = %event.provenance.event_id, "label append failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            done => return done,
        }
    }
    store.append(event).await
}

/// Opens the configured label store: embedded (the default) or PostgreSQL.
pub fn open(settings: &crate::config::Settings) -> Result<Arc<dyn LabelStore>> {
    match settings.pipeline.store {
        crate::config::StoreKind::Embedded => Ok(Arc::new(EmbeddedLabelStore::new(
            &settings.lake.root,
            &settings.lake.root.join("store"),
        ))),
        crate::config::StoreKind::Postgres => Ok(Arc::new(super::pg::PgLabelStore::new(settings)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(text_id: i64, label: i32) -> NewEvent {
        NewEvent {
            version: 0,
            text_id,
            split: Split::Train,
            kind: EventKind::Label,
            label,
            prev_label: -1,
            undoes: None,
            who: "t".into(),
            at_ms: 1,
            note: None,
            provenance: Default::default(),
        }
    }

    #[test]
    fn crc_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    /// A write that fails half-way (here: the file-size limit, as a full disk would) leaves
    /// no torn bytes behind: the next record is readable. Runs in a child process of its own,
    /// since the limit applies to the whole process.
    #[test]
    fn a_failed_append_leaves_no_torn_record_behind() {
        const NAME: &str = "learn::labels::tests::a_failed_append_leaves_no_torn_record_behind";
        if std::env::var_os("SSP_FSIZE_CHILD").is_none() {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
                .env("SSP_FSIZE_CHILD", "1")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success() && text.contains("1 passed"), "{text}");
            return;
        }
        use nix::sys::resource::{getrlimit, setrlimit, Resource};
        use nix::sys::signal::{signal, SigHandler, Signal};
        // EFBIG instead of the SIGXFSZ that would end the process.
        unsafe { signal(Signal::SIGXFSZ, SigHandler::SigIgn) }.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let s = EmbeddedLabelStore::new(dir.path(), &dir.path().join("store"));
        rt.block_on(s.append(ev(1, 1))).unwrap();
        let path = s.log_path(0);
        let good = std::fs::metadata(&path).unwrap().len();
        let (soft, hard) = getrlimit(Resource::RLIMIT_FSIZE).unwrap();
        setrlimit(Resource::RLIMIT_FSIZE, good + 10, hard).unwrap();
        assert!(
            rt.block_on(s.append(ev(2, 0))).is_err(),
            "the write hits the limit"
        );
        setrlimit(Resource::RLIMIT_FSIZE, soft, hard).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            good,
            "torn bytes cut off"
        );
        let c = rt.block_on(s.append(ev(3, 0))).unwrap();
        assert_eq!(c.seq, 2);
        drop(s);
        let s = EmbeddedLabelStore::new(dir.path(), &dir.path().join("store"));
        let events = rt.block_on(s.events(0)).unwrap();
        let ids: Vec<i64> = events.iter().map(|e| e.event.text_id).collect();
        assert_eq!(ids, [1, 3]);
    }

    #[tokio::test]
    async fn appends_survive_reopen_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let s = EmbeddedLabelStore::new(dir.path(), &dir.path().join("store"));
        let a = s.append(ev(1, 1)).await.unwrap();
        let b = s.append(ev(2, 0)).await.unwrap();
        assert_eq!((a.seq, b.seq), (1, 2));
        let path = s.log_path(0);
        drop(s);
        // A torn write: half a record, no newline.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"deadbeef {\"seq\":3,").unwrap();
        drop(f);
        let s = EmbeddedLabelStore::new(dir.path(), &dir.path().join("store"));
        let events = s.events(0).await.unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(fold(&events), BTreeMap::from([(1, 1), (2, 0)]));
        let c = s.append(ev(3, 1)).await.unwrap();
        assert_eq!(c.seq, 3);
        drop(s);
        let s = EmbeddedLabelStore::new(dir.path(), &dir.path().join("store"));
        assert_eq!(s.events(0).await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn damage_in_the_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let s = EmbeddedLabelStore::new(dir.path(), &dir.path().join("store"));
        s.append(ev(1, 1)).await.unwrap();
        s.append(ev(2, 1)).await.unwrap();
        let path = s.log_path(0);
        drop(s);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[12] ^= 0x20;
        std::fs::write(&path, bytes).unwrap();
        let s = EmbeddedLabelStore::new(dir.path(), &dir.path().join("store"));
        assert!(matches!(
            s.events(0).await,
            Err(LabelStoreError::Corrupt(_))
        ));
    }

    #[test]
    fn undo_targets_the_newest_label_not_undone() {
        let mk = |seq, kind, undoes| LabelEvent {
            seq,
            event: NewEvent {
                kind,
                undoes,
                ..ev(seq as i64, 1)
            },
        };
        let events = vec![
            mk(1, EventKind::Label, None),
            mk(2, EventKind::Label, None),
            mk(3, EventKind::Undo, Some(2)),
        ];
        assert_eq!(undo_target(&events).map(|e| e.seq), Some(1));
    }
}
