//! The embedded store: one JSON state file per table under `<lake>/store/`, replaced
//! atomically (temp file, fsync, rename) on every commit, so the counts and the checkpoint
//! (bronze table version counted, bus offsets) can only change together.
//!
//! Handles opened on the same file in one process share the state in memory (the TUI's
//! collector reads what the stage committed without touching the disk); a reader in another
//! process reloads the file when its modification time or size changed. One process writes a
//! given file at a time.

mod state;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::SystemTime;

use async_trait::async_trait;

use self::state::{apply, top_of, StoredTag, TrendingState, FORMAT_VERSION};
use super::trending::{
    Committed, TagRow, TopQuery, TrendingBatch, TrendingCheckpoint, TrendingMeta, TrendingStore,
    TrendingTop,
};
use super::{Store, StoreError};
use crate::config::ident::Ident;
use crate::config::StoreKind;
use crate::lake::atomic::write_atomic;

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
            s.version = FORMAT_VERSION;
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
                    lake_version: s.lake_version,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(id: i64, base_seq: u64, lake_version: Option<i64>) -> TrendingBatch {
        TrendingBatch {
            id,
            base_seq,
            meta: TrendingMeta {
                rule: "twitter".into(),
                input: "lake".into(),
            },
            tags: vec![super::super::TagDelta {
                key: "#ai".into(),
                count: 2,
                spellings: vec![("#AI".into(), 2)],
            }],
            buckets: Vec::new(),
            window_cutoff_ms: 0,
            window: Vec::new(),
            lake_version,
            bus: String::new(),
            offsets: Vec::new(),
            tweets: 2,
            occurrences: 2,
            now_ms: 1_700_000_000_000,
        }
    }

    #[tokio::test]
    async fn the_bronze_version_is_committed_with_the_counts() {
        let dir = tempfile::tempdir().unwrap();
        let table = Ident::new("t", "trending_hashtags").unwrap();
        let st = EmbeddedStore::open(dir.path().to_path_buf(), &table).unwrap();
        st.migrate().await.unwrap();
        assert_eq!(st.checkpoint("", 0).await.unwrap().lake_version, None);
        st.commit(&batch(1, 0, Some(5))).await.unwrap();
        st.commit(&batch(2, 1, None)).await.unwrap();
        let cp = st.checkpoint("", 0).await.unwrap();
        assert_eq!(
            (cp.seq, cp.lake_version),
            (2, Some(5)),
            "None keeps the version"
        );
        let on_disk: serde_json::Value =
            serde_json::from_slice(&std::fs::read(st.path()).unwrap()).unwrap();
        assert_eq!(on_disk["lake_version"], 5);
        assert_eq!(on_disk["version"], FORMAT_VERSION);
    }

    #[tokio::test]
    async fn a_format_1_file_loads_without_its_file_set() {
        let dir = tempfile::tempdir().unwrap();
        let old = r#"{"version":1,"seq":3,"last_batch":9,"meta":{"rule":"twitter","input":"lake"},
            "tweets":7,"occurrences":7,"updated_ms":null,"tags":{},"buckets":{},
            "files":["date=2020-01-01/part-1.parquet"],"offsets":{}}"#;
        std::fs::write(dir.path().join("old_table.json"), old).unwrap();
        let table = Ident::new("t", "old_table").unwrap();
        let st = EmbeddedStore::open(dir.path().to_path_buf(), &table).unwrap();
        let cp = st.checkpoint("", 0).await.unwrap();
        assert_eq!((cp.seq, cp.lake_version), (3, None));
        st.commit(&batch(10, 3, Some(1))).await.unwrap();
        let text = std::fs::read_to_string(st.path()).unwrap();
        assert!(!text.contains("part-1.parquet"), "{text}");
    }
}
