//! Counters a running stage updates and the supervisor reads (lock-free on the hot path).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use crate::latency::{LatencySummary, LatencyWindow, SentTimes};

#[derive(Debug, Default)]
pub struct StageMetrics {
    input: AtomicU64,
    output: AtomicU64,
    errors: AtomicU64,
    last_error: Mutex<Option<String>>,
    detail: Mutex<String>,
    /// Ready for stages that wait on it (`depends_on = name:ready`).
    ready: AtomicBool,
    /// Since when input has been waiting without a commit (see [`Self::waiting`]).
    waiting_since: Mutex<Option<std::time::Instant>>,
    /// Bus -> counted latencies of recent commits (stages that make tweets count).
    latency: Mutex<LatencyWindow>,
    /// The bronze table version a lake-reading stage has handled (see [`Self::read_to`]).
    read_version: Mutex<Option<i64>>,
    /// The table version this stage last committed (bronze; see [`Self::wrote`]).
    write_version: Mutex<Option<i64>>,
}

impl StageMetrics {
    pub fn add_in(&self, n: u64) {
        self.input.fetch_add(n, Relaxed);
    }
    pub fn add_out(&self, n: u64) {
        self.output.fetch_add(n, Relaxed);
    }
    pub fn input(&self) -> u64 {
        self.input.load(Relaxed)
    }
    pub fn output(&self) -> u64 {
        self.output.load(Relaxed)
    }
    pub fn errors(&self) -> u64 {
        self.errors.load(Relaxed)
    }
    /// Counts an error and remembers it as the last one.
    pub fn error(&self, message: impl Into<String>) {
        self.errors.fetch_add(1, Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(message.into());
    }
    /// Counts errors without replacing the last message (e.g. dead letters).
    pub fn add_errors(&self, n: u64) {
        self.errors.fetch_add(n, Relaxed);
    }
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Relaxed);
    }
    pub fn is_ready(&self) -> bool {
        self.ready.load(Relaxed)
    }
    /// Input arrived that is not committed yet (kept across runs: a stage failing to commit
    /// and restarting keeps waiting since the first time).
    pub fn waiting(&self) {
        let mut w = self.waiting_since.lock().unwrap_or_else(|e| e.into_inner());
        w.get_or_insert_with(std::time::Instant::now);
    }
    /// Everything received so far is committed.
    pub fn committed(&self) {
        *self.waiting_since.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
    /// How long input has waited for a commit.
    pub fn waiting_for(&self) -> Option<std::time::Duration> {
        self.waiting_since
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map(|t| t.elapsed())
    }
    /// A short free-form state line (e.g. "connected", "backing off: ...").
    pub fn set_detail(&self, detail: impl Into<String>) {
        *self.detail.lock().unwrap_or_else(|e| e.into_inner()) = detail.into();
    }
    /// Tweets sent to the bus at `sent` were made to count now.
    pub fn counted(&self, sent: &SentTimes) {
        let now = chrono::Utc::now().timestamp_millis();
        let mut w = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        w.record(now, sent);
    }
    /// A stage that reads the bronze table has handled it up to `version`.
    pub fn read_to(&self, version: i64) {
        *self.read_version.lock().unwrap_or_else(|e| e.into_inner()) = Some(version);
    }
    pub fn read_version(&self) -> Option<i64> {
        *self.read_version.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// A stage that writes the bronze table committed `version`.
    pub fn wrote(&self, version: i64) {
        *self.write_version.lock().unwrap_or_else(|e| e.into_inner()) = Some(version);
    }
    pub fn write_version(&self) -> Option<i64> {
        *self.write_version.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// p50 / p99 of the latencies of the last 30 s.
    pub fn latency(&self) -> Option<LatencySummary> {
        let now = chrono::Utc::now().timestamp_millis();
        let mut w = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        w.summary(now)
    }
    pub fn detail(&self) -> String {
        self.detail
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
