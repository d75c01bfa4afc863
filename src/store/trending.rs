//! What the store keeps for the trending stage, and how it is read back.
//!
//! Writes are *batches*: the counts a stage added since its last flush together with the
//! bronze table version / bus offsets those counts reach, applied atomically (one transaction, or
//! one renamed file). A batch names the sequence number it applies on top of; the store
//! refuses it if that is not the current one, and recognises its own batch id when a retry
//! follows a commit whose answer was lost, so nothing is ever counted twice.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::StoreError;

/// What a table was filled with; a restart with a different rule or input is refused
/// (mixing them would count tweets twice or under two rules).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrendingMeta {
    /// `twitter` | `seed`.
    pub rule: String,
    /// `lake` | `bus`.
    pub input: String,
}

/// The stage's durable progress, read when it starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrendingCheckpoint {
    /// Number of batches applied so far (0: nothing yet).
    pub seq: u64,
    pub meta: Option<TrendingMeta>,
    /// Last bronze table version counted (lake input); `None`: none yet.
    pub lake_version: Option<i64>,
    /// Next bus offset per (topic, partition), for the bus identity asked for.
    pub offsets: BTreeMap<(String, i32), i64>,
    /// Window buckets at or after the cutoff asked for: (bucket start ms, key, count).
    pub buckets: Vec<(i64, String, u64)>,
}

/// Counts of one key added by a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagDelta {
    /// Lower-cased stored form (`#ai`).
    pub key: String,
    pub count: u64,
    /// Stored spellings (`#AI`) and their counts; they sum to `count`.
    pub spellings: Vec<(String, u64)>,
}

/// Everything one flush writes, atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrendingBatch {
    /// Random; lets a retry recognise that an earlier attempt did commit.
    pub id: i64,
    /// The sequence number this batch applies on top of.
    pub base_seq: u64,
    pub meta: TrendingMeta,
    pub tags: Vec<TagDelta>,
    /// Window buckets to add: (bucket start ms, key, count).
    pub buckets: Vec<(i64, String, u64)>,
    /// Buckets starting before this are dropped.
    pub window_cutoff_ms: i64,
    /// New absolute window counts of every key whose window count changed.
    pub window: Vec<(String, u64)>,
    /// Last bronze table version this batch (and every batch before it) counted; `None`
    /// leaves the stored version as it is.
    pub lake_version: Option<i64>,
    /// Bus identity (see [`TrendingStore::checkpoint`]) and next offsets reached.
    pub bus: String,
    pub offsets: Vec<(String, i32, i64)>,
    /// Tweets counted by this batch.
    pub tweets: u64,
    /// Tag occurrences (without `no tags`).
    pub occurrences: u64,
    /// Wall-clock time of the flush (epoch ms).
    pub now_ms: i64,
}

impl TrendingBatch {
    /// True when applying it would change nothing but the sequence number.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
            && self.window.is_empty()
            && self.lake_version.is_none()
            && self.offsets.is_empty()
            && self.tweets == 0
    }
}

/// How a commit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// Applied now; the store is at this sequence number.
    Applied(u64),
    /// An earlier attempt of this very batch had committed; nothing was applied again.
    AlreadyApplied(u64),
}

impl Committed {
    pub fn seq(self) -> u64 {
        match self {
            Committed::Applied(s) | Committed::AlreadyApplied(s) => s,
        }
    }
}

/// Which count a top list ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopBy {
    AllTime,
    Window,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopQuery {
    pub n: usize,
    /// Window length and bucket width (ms); the window ends at `now_ms`.
    pub window_ms: i64,
    pub bucket_ms: i64,
    pub now_ms: i64,
}

impl TopQuery {
    /// Buckets starting at or after this are inside the window.
    pub fn cutoff_ms(&self) -> i64 {
        window_cutoff(self.now_ms, self.window_ms, self.bucket_ms)
    }
}

/// First bucket start inside the window that ends at `now_ms`: the window is the bucket
/// holding `now_ms` and the ones before it, `window_ms / bucket_ms` buckets in all.
pub fn window_cutoff(now_ms: i64, window_ms: i64, bucket_ms: i64) -> i64 {
    let bucket_ms = bucket_ms.max(1);
    let current = now_ms.div_euclid(bucket_ms) * bucket_ms;
    let buckets = (window_ms / bucket_ms).max(1);
    current - (buckets - 1) * bucket_ms
}

/// One bar of the chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopRow {
    pub hashtag: String,
    pub count: u64,
}

/// What the Trending pane shows, read from the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrendingTop {
    pub all_time: Vec<TopRow>,
    pub window: Vec<TopRow>,
    /// Distinct tags (without `no tags`).
    pub distinct: u64,
    /// Tag occurrences counted all-time (without `no tags`).
    pub occurrences: u64,
    pub tweets: u64,
    pub seq: u64,
    pub meta: Option<TrendingMeta>,
    /// When the last batch was applied (epoch ms).
    pub updated_at_ms: Option<i64>,
}

/// One row of the full table (gold snapshots, tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    pub key: String,
    pub hashtag: String,
    pub count: u64,
    pub window: u64,
}

/// The trending part of a store.
#[async_trait]
pub trait TrendingStore: Send + Sync {
    /// Creates or migrates the tables (idempotent, safe to race with another process).
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Progress so far: bronze version, offsets of bus identity `bus`, window buckets from
    /// `cutoff_ms`.
    async fn checkpoint(&self, bus: &str, cutoff_ms: i64)
        -> Result<TrendingCheckpoint, StoreError>;
    /// Applies a batch atomically (see the module doc).
    async fn commit(&self, batch: &TrendingBatch) -> Result<Committed, StoreError>;
    /// Top `n` all-time and in the window, plus totals. Tables that do not exist yet read
    /// as empty.
    async fn top(&self, q: TopQuery) -> Result<TrendingTop, StoreError>;
    /// Every tag (key order).
    async fn all(&self) -> Result<Vec<TagRow>, StoreError>;
    /// The rows of these keys (lower-cased stored form) that exist.
    async fn get(&self, keys: &[String]) -> Result<Vec<TagRow>, StoreError>;
}
