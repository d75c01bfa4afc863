//! The embedded store: one JSON state file per table under `<lake>/store/`, replaced
//! atomically (temp file, fsync, rename) on every commit, so the counts and the checkpoint
//! (files done, offsets) can only change together.
//!
//! Handles opened on the same file in one process share the state in memory (the TUI's
//! collector reads what the stage committed without touching the disk); a reader in another
//! process reloads the file when its modification time or size changed. One process writes a
//! given file at a time.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::SystemTime;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::ident::Ident;
use super::trending::{
    Committed, TagRow, TopQuery, TopRow, TrendingBatch, TrendingCheckpoint, TrendingMeta,
    TrendingStore, TrendingTop,
};
use super::{Store, StoreError};
use crate::config::StoreKind;
use crate::lake::incremental::write_atomic;
use crate::trending::{display_form, NO_TAGS};

const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StoredTag {
    hashtag: String,
    count: u64,
    window: u64,
    spellings: BTreeMap<String, u64>,
    updated_ms: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TrendingState {
    version: u32,
    seq: u64,
    last_batch: i64,
    meta: Option<TrendingMeta>,
    tweets: u64,
    occurrences: u64,
    updated_ms: Option<i64>,
    tags: BTreeMap<String, StoredTag>,
    /// bucket start ms -> key -> count
    buckets: BTreeMap<i64, BTreeMap<String, u64>>,
    files: BTreeSet<String>,
    /// bus identity -> topic -> partition -> next offset
    offsets: BTreeMap<String, BTreeMap<String, BTreeMap<i32, i64>>>,
}

/// (modification time, length) of the file as last read or written.
type Stamp = Option<(SystemTime, u64)>;

struct Loaded {
    state: TrendingState,
    stamp: Stamp,
}

struct Shared {
    path: PathBuf,
    loaded: Mutex<Option<Loaded>>,
}

fn registry() -> &'static Mutex<HashMap<PathBuf, Weak<Shared>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<PathBuf, Weak<Shared>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// See the module documentation.
pub struct EmbeddedStore {
    shared: Arc<Shared>,
}

impl EmbeddedStore {
    /// The store whose trending table lives in `<dir>/<table>.json`.
    pub fn open(dir: PathBuf, table: &Ident) -> Result<Arc<EmbeddedStore>, StoreError> {
        let path = std::path::absolute(dir.join(format!("{}.json", table.as_str())))
            .map_err(|e| StoreError::Io(format!("{}: {e}", dir.display())))?;
        let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
        reg.retain(|_, w| w.strong_count() > 0);
        let shared = match reg.get(&path).and_then(Weak::upgrade) {
            Some(s) => s,
            None => {
                let s = Arc::new(Shared {
                    path: path.clone(),
                    loaded: Mutex::new(None),
                });
                reg.insert(path, Arc::downgrade(&s));
                s
            }
        };
        Ok(Arc::new(EmbeddedStore { shared }))
    }

    pub fn path(&self) -> &Path {
        &self.shared.path
    }
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(format!("{}: {e}", path.display()))
}

fn stamp(path: &Path) -> Result<Stamp, StoreError> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some((m.modified().map_err(|e| io_err(path, e))?, m.len()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path, e)),
    }
}

fn read_state(path: &Path) -> Result<TrendingState, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let s: TrendingState = serde_json::from_slice(&bytes).map_err(|e| io_err(path, e))?;
            if s.version > FORMAT_VERSION {
                return Err(StoreError::Config(format!(
                    "{}: written by a newer ssp-tui (format {})",
                    path.display(),
                    s.version
                )));
            }
            Ok(s)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TrendingState {
            version: FORMAT_VERSION,
            ..Default::default()
        }),
        Err(e) => Err(io_err(path, e)),
    }
}

impl Shared {
    /// Runs `f` on the current state, reloading it first if the file changed underneath.
    fn with<R>(
        &self,
        f: impl FnOnce(&mut Loaded) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut guard = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        let now = stamp(&self.path)?;
        let stale = guard.as_ref().is_none_or(|l| l.stamp != now);
        if stale {
            *guard = Some(Loaded {
                state: read_state(&self.path)?,
                stamp: now,
            });
        }
        let loaded = guard
            .as_mut()
            .ok_or_else(|| StoreError::Io("state not loaded".into()))?;
        let result = f(loaded);
        if result.is_err() {
            // The state may be half-applied: read the file again next time.
            *guard = None;
        }
        result
    }

    fn commit(&self, batch: &TrendingBatch) -> Result<Committed, StoreError> {
        self.with(|loaded| {
            let s = &mut loaded.state;
            if s.seq != batch.base_seq {
                if s.last_batch == batch.id && s.seq == batch.base_seq + 1 {
                    return Ok(Committed::AlreadyApplied(s.seq));
                }
                return Err(StoreError::Conflict {
                    expected: batch.base_seq,
                    found: s.seq,
                });
            }
            if let Some(m) = &s.meta {
                if *m != batch.meta {
                    return Err(meta_mismatch(
                        &self.path.display().to_string(),
                        m,
                        &batch.meta,
                    ));
                }
            }
            apply(s, batch);
            let bytes = serde_json::to_vec(&*s).map_err(|e| io_err(&self.path, e))?;
            write_atomic(&self.path, &bytes).map_err(|e| io_err(&self.path, e))?;
            loaded.stamp = stamp(&self.path)?;
            Ok(Committed::Applied(loaded.state.seq))
        })
    }
}

/// The error for a table filled under another rule or input.
pub fn meta_mismatch(table: &str, stored: &TrendingMeta, wanted: &TrendingMeta) -> StoreError {
    StoreError::Config(format!(
        "{table} holds counts made with rule = {}, input = {}; this run uses rule = {}, input = {} \
         (mixing them would count tweets twice or under two rules): set [trending] table to \
         another name, or remove the old table",
        stored.rule, stored.input, wanted.rule, wanted.input
    ))
}

fn apply(s: &mut TrendingState, b: &TrendingBatch) {
    for t in &b.tags {
        let tag = s.tags.entry(t.key.clone()).or_default();
        tag.count += t.count;
        for (sp, n) in &t.spellings {
            *tag.spellings.entry(sp.clone()).or_default() += n;
        }
        if let Some(d) = display_form(tag.spellings.iter().map(|(k, v)| (k.as_str(), *v))) {
            if tag.hashtag != d {
                tag.hashtag = d.to_string();
            }
        }
        tag.updated_ms = b.now_ms;
    }
    let keep = s.buckets.split_off(&b.window_cutoff_ms);
    s.buckets = keep;
    for (bucket, k, n) in &b.buckets {
        if *bucket >= b.window_cutoff_ms {
            *s.buckets
                .entry(*bucket)
                .or_default()
                .entry(k.clone())
                .or_default() += n;
        }
    }
    for (k, v) in &b.window {
        if let Some(tag) = s.tags.get_mut(k) {
            tag.window = *v;
            tag.updated_ms = b.now_ms;
        }
    }
    s.files.extend(b.files.iter().cloned());
    for (topic, p, next) in &b.offsets {
        s.offsets
            .entry(b.bus.clone())
            .or_default()
            .entry(topic.clone())
            .or_default()
            .insert(*p, *next);
    }
    s.tweets += b.tweets;
    s.occurrences += b.occurrences;
    s.seq += 1;
    s.last_batch = b.id;
    s.meta = Some(b.meta.clone());
    s.updated_ms = Some(b.now_ms);
}

/// Top `n` by count, then display form (byte order).
fn top_n(rows: impl Iterator<Item = TopRow>, n: usize) -> Vec<TopRow> {
    let mut v: Vec<TopRow> = rows.filter(|r| r.count > 0).collect();
    v.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.hashtag.cmp(&b.hashtag))
    });
    v.truncate(n);
    v
}

fn top_of(s: &TrendingState, q: &TopQuery) -> TrendingTop {
    let all_time = top_n(
        s.tags
            .iter()
            .filter(|(k, _)| k.as_str() != NO_TAGS)
            .map(|(_, t)| TopRow {
                hashtag: t.hashtag.clone(),
                count: t.count,
            }),
        q.n,
    );
    let mut window: HashMap<&str, u64> = HashMap::new();
    for (_, keys) in s.buckets.range(q.cutoff_ms()..) {
        for (k, n) in keys {
            if k != NO_TAGS {
                *window.entry(k.as_str()).or_default() += n;
            }
        }
    }
    let window = top_n(
        window.into_iter().map(|(k, count)| TopRow {
            hashtag: s
                .tags
                .get(k)
                .map_or_else(|| k.to_string(), |t| t.hashtag.clone()),
            count,
        }),
        q.n,
    );
    TrendingTop {
        all_time,
        window,
        distinct: s.tags.len() as u64 - s.tags.contains_key(NO_TAGS) as u64,
        occurrences: s.occurrences,
        tweets: s.tweets,
        seq: s.seq,
        meta: s.meta.clone(),
        updated_at_ms: s.updated_ms,
    }
}

#[async_trait]
impl TrendingStore for EmbeddedStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        let dir = self.shared.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        self.shared.with(|_| Ok(()))
    }

    async fn checkpoint(
        &self,
        bus: &str,
        cutoff_ms: i64,
    ) -> Result<TrendingCheckpoint, StoreError> {
        let shared = self.shared.clone();
        let bus = bus.to_string();
        blocking(move || {
            shared.with(|l| {
                let s = &l.state;
                let mut offsets = BTreeMap::new();
                for (topic, parts) in s.offsets.get(&bus).into_iter().flatten() {
                    for (p, next) in parts {
                        offsets.insert((topic.clone(), *p), *next);
                    }
                }
                let buckets = s
                    .buckets
                    .range(cutoff_ms..)
                    .flat_map(|(b, keys)| keys.iter().map(move |(k, n)| (*b, k.clone(), *n)))
                    .collect();
                Ok(TrendingCheckpoint {
                    seq: s.seq,
                    meta: s.meta.clone(),
                    files: s.files.clone(),
                    offsets,
                    buckets,
                })
            })
        })
        .await
    }

    async fn commit(&self, batch: &TrendingBatch) -> Result<Committed, StoreError> {
        let shared = self.shared.clone();
        let batch = batch.clone();
        blocking(move || shared.commit(&batch)).await
    }

    async fn top(&self, q: TopQuery) -> Result<TrendingTop, StoreError> {
        let shared = self.shared.clone();
        blocking(move || shared.with(|l| Ok(top_of(&l.state, &q)))).await
    }

    async fn all(&self) -> Result<Vec<TagRow>, StoreError> {
        self.rows(None).await
    }

    async fn get(&self, keys: &[String]) -> Result<Vec<TagRow>, StoreError> {
        self.rows(Some(keys.to_vec())).await
    }
}

async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, StoreError> + Send + 'static,
) -> Result<R, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Io(format!("embedded store task: {e}")))?
}

impl EmbeddedStore {
    fn rows(
        &self,
        keys: Option<Vec<String>>,
    ) -> impl std::future::Future<Output = Result<Vec<TagRow>, StoreError>> {
        let shared = self.shared.clone();
        blocking(move || {
            shared.with(|l| {
                let row = |(k, t): (&String, &StoredTag)| TagRow {
                    key: k.clone(),
                    hashtag: t.hashtag.clone(),
                    count: t.count,
                    window: t.window,
                };
                Ok(match &keys {
                    None => l.state.tags.iter().map(row).collect(),
                    Some(keys) => keys
                        .iter()
                        .filter_map(|k| l.state.tags.get_key_value(k))
                        .map(row)
                        .collect(),
                })
            })
        })
    }
}

impl Store for EmbeddedStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Embedded
    }

    fn describe(&self) -> String {
        format!("embedded {}", self.shared.path.display())
    }

    fn trending(&self) -> &dyn TrendingStore {
        self
    }
}
