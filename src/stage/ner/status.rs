//! What the `ner` stage publishes about itself for the NER pane: backend, health, rates,
//! latency, errors, counts per label, the top entities per label over the last minutes and
//! the latest tweets with their entities.
//!
//! The stage keeps a [`StatusTracker`] and writes its [`NerStatus`] snapshot about once a
//! second to `<lake>/_status/ner.json` (temp file + rename). The TUI reads that file on a
//! background task ([`watch_status_file`]), so the pane also works when the stage runs in
//! another process (`ssp-tui run ner` elsewhere, the TUI as a monitor), like the other panes
//! that read what stages write.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::lake::LakeLayout;
use crate::nlp::entity::Entity;
use crate::nlp::ner_client::{ClientObserver, NerError};

/// Latest tweets kept for the pane.
pub const LATEST: usize = 40;
/// Top entities per label shown.
pub const TOP_PER_LABEL: usize = 5;
/// Request latencies kept for the percentiles.
const LATENCIES: usize = 512;
/// Rates are averaged over this long (bronze arrives in bursts, one file per roll).
const RATE_WINDOW: Duration = Duration::from_secs(15);
/// Distinct entities counted per minute bucket (beyond that new ones are not counted).
const BUCKET_CAP: usize = 20_000;

/// Where the `ner` stage's status lives.
pub fn status_path(layout: &LakeLayout) -> PathBuf {
    layout.root().join("_status").join("ner.json")
}

/// A tweet as the pane shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatestTweet {
    pub id_str: String,
    pub text: String,
    pub entities: Vec<Entity>,
    pub error: Option<String>,
}

/// The top entities of one label over the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelTop {
    pub label: String,
    /// Entities of this label in the window.
    pub total: u64,
    pub entities: Vec<(String, u64)>,
}

/// The snapshot the stage publishes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NerStatus {
    /// When it was written (Unix epoch milliseconds).
    pub updated_ms: i64,
    pub pid: u32,
    /// False once the stage ended (its last word).
    pub running: bool,
    /// `spacy http://127.0.0.1:5000 (ssp)` or `rules`.
    pub backend: String,
    /// True for a spaCy service, false for the built-in rules.
    pub is_model: bool,
    pub healthy: bool,
    /// `ready: en_core_web_sm 3.8.0`, `waiting for …: connection refused`, `rules …`.
    pub health: String,
    /// Tweets through NER in this run, and those recorded with an error.
    pub tweets: u64,
    pub tweet_errors: u64,
    pub requests: u64,
    pub request_errors: u64,
    pub retries: u64,
    pub tweets_per_s: f64,
    pub requests_per_s: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub last_error: Option<String>,
    /// Entities per label in this run, most frequent first.
    pub label_counts: Vec<(String, u64)>,
    pub window_minutes: u64,
    pub top: Vec<LabelTop>,
    /// Newest first.
    pub latest: Vec<LatestTweet>,
    /// Bronze data files read from the log and not processed yet.
    pub pending_files: u64,
    /// Data files and rows committed to `silver/ner` in this run.
    pub silver_files: u64,
    pub silver_rows: u64,
}

impl NerStatus {
    /// Seconds since it was written.
    pub fn age(&self, now_ms: i64) -> Duration {
        Duration::from_millis(now_ms.saturating_sub(self.updated_ms).max(0) as u64)
    }

    /// Reads a status file; `None` when missing or unreadable.
    pub fn load(path: &Path) -> Option<NerStatus> {
        let bytes = std::fs::read(path).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Writes a status file: temp file then rename (no fsync: it is a view, not data).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        let tmp = dir.join(format!(".ner.status.{}.tmp", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    }
}

/// Counts per (label, text) in one minute.
type Bucket = HashMap<(String, String), u64>;

/// Entity counts in minute buckets, for "top entities over the last N minutes".
#[derive(Debug, Default)]
pub struct EntityWindow {
    minutes: u64,
    /// (minute since the epoch, counts), oldest first.
    buckets: VecDeque<(i64, Bucket)>,
}

impl EntityWindow {
    pub fn new(window: Duration) -> Self {
        EntityWindow {
            minutes: (window.as_secs() / 60).max(1),
            buckets: VecDeque::new(),
        }
    }

    fn prune(&mut self, now_minute: i64) {
        while self
            .buckets
            .front()
            .is_some_and(|(m, _)| *m <= now_minute - self.minutes as i64)
        {
            self.buckets.pop_front();
        }
    }

    pub fn add(&mut self, now_secs: i64, label: &str, text: &str) {
        let minute = now_secs.div_euclid(60);
        if self.buckets.back().map(|(m, _)| *m) != Some(minute) {
            self.buckets.push_back((minute, HashMap::new()));
            self.prune(minute);
        }
        let Some((_, bucket)) = self.buckets.back_mut() else {
            return;
        };
        let key = (label.to_string(), text.to_string());
        if let Some(n) = bucket.get_mut(&key) {
            *n += 1;
        } else if bucket.len() < BUCKET_CAP {
            bucket.insert(key, 1);
        }
    }

    /// Labels by entity count (most first), each with its `per_label` top entities.
    pub fn top(&mut self, now_secs: i64, per_label: usize) -> Vec<LabelTop> {
        self.prune(now_secs.div_euclid(60));
        let mut by_label: HashMap<&str, HashMap<&str, u64>> = HashMap::new();
        for (_, bucket) in &self.buckets {
            for ((label, text), n) in bucket {
                *by_label
                    .entry(label.as_str())
                    .or_default()
                    .entry(text.as_str())
                    .or_default() += n;
            }
        }
        let mut out: Vec<LabelTop> = by_label
            .into_iter()
            .map(|(label, texts)| {
                let total = texts.values().sum();
                let mut entities: Vec<(String, u64)> =
                    texts.into_iter().map(|(t, n)| (t.to_string(), n)).collect();
                entities.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                entities.truncate(per_label);
                LabelTop {
                    label: label.to_string(),
                    total,
                    entities,
                }
            })
            .collect();
        out.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.label.cmp(&b.label)));
        out
    }
}

#[derive(Debug)]
struct Inner {
    status: NerStatus,
    labels: BTreeMap<String, u64>,
    window: EntityWindow,
    latest: VecDeque<LatestTweet>,
    latencies: VecDeque<f64>,
    /// (when, tweets, requests) at recent snapshots, for rates over [`RATE_WINDOW`].
    samples: VecDeque<(Instant, u64, u64)>,
}

/// The live state behind [`NerStatus`]; shared by the stage and its HTTP client.
#[derive(Debug)]
pub struct StatusTracker {
    inner: Mutex<Inner>,
}

impl StatusTracker {
    pub fn new(backend: String, is_model: bool, window: Duration) -> Self {
        let status = NerStatus {
            pid: std::process::id(),
            running: true,
            backend,
            is_model,
            window_minutes: (window.as_secs() / 60).max(1),
            ..NerStatus::default()
        };
        StatusTracker {
            inner: Mutex::new(Inner {
                status,
                labels: BTreeMap::new(),
                window: EntityWindow::new(window),
                latest: VecDeque::new(),
                latencies: VecDeque::new(),
                samples: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_health(&self, healthy: bool, text: impl Into<String>) {
        let mut i = self.lock();
        i.status.healthy = healthy;
        i.status.health = text.into();
    }

    pub fn health(&self) -> (bool, String) {
        let i = self.lock();
        (i.status.healthy, i.status.health.clone())
    }

    pub fn set_pending(&self, files: u64) {
        self.lock().status.pending_files = files;
    }

    /// A `silver/ner` commit of `files` data files holding `rows` rows.
    pub fn silver_committed(&self, files: u64, rows: u64) {
        let mut i = self.lock();
        i.status.silver_files += files;
        i.status.silver_rows += rows;
    }

    pub fn set_running(&self, running: bool) {
        self.lock().status.running = running;
    }

    /// Tweets that went through NER (entities, or the error they are recorded with).
    pub fn record<'a>(
        &self,
        tweets: impl IntoIterator<Item = (&'a str, &'a str, &'a Result<Vec<Entity>, String>)>,
    ) {
        let now = chrono::Utc::now().timestamp();
        let mut i = self.lock();
        for (id, text, result) in tweets {
            i.status.tweets += 1;
            let (entities, error) = match result {
                Ok(e) => (e.clone(), None),
                Err(e) => {
                    i.status.tweet_errors += 1;
                    i.status.last_error = Some(e.clone());
                    (Vec::new(), Some(e.clone()))
                }
            };
            for e in &entities {
                *i.labels.entry(e.label.clone()).or_default() += 1;
                i.window.add(now, &e.label, &e.text);
            }
            i.latest.push_front(LatestTweet {
                id_str: id.to_string(),
                text: text.to_string(),
                entities,
                error,
            });
            i.latest.truncate(LATEST);
        }
    }

    /// The snapshot to publish; also advances the rate estimates.
    pub fn snapshot(&self) -> NerStatus {
        let now = Instant::now();
        let now_secs = chrono::Utc::now().timestamp();
        let mut i = self.lock();
        let (tweets, requests) = (i.status.tweets, i.status.requests);
        i.samples.push_back((now, tweets, requests));
        while i.samples.len() > 2
            && i.samples
                .front()
                .is_some_and(|(at, _, _)| now.duration_since(*at) > RATE_WINDOW)
        {
            i.samples.pop_front();
        }
        if let Some(&(at, t0, r0)) = i.samples.front() {
            let dt = now.duration_since(at).as_secs_f64();
            if dt >= 0.5 {
                i.status.tweets_per_s = tweets.saturating_sub(t0) as f64 / dt;
                i.status.requests_per_s = requests.saturating_sub(r0) as f64 / dt;
            }
        }
        let mut lat: Vec<f64> = i.latencies.iter().copied().collect();
        lat.sort_by(|a, b| a.total_cmp(b));
        let pct =
            |p: f64| (!lat.is_empty()).then(|| lat[((lat.len() - 1) as f64 * p).round() as usize]);
        i.status.p50_ms = pct(0.5);
        i.status.p95_ms = pct(0.95);
        let mut counts: Vec<(String, u64)> =
            i.labels.iter().map(|(l, n)| (l.clone(), *n)).collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        i.status.label_counts = counts;
        i.status.top = i.window.top(now_secs, TOP_PER_LABEL);
        i.status.latest = i.latest.iter().cloned().collect();
        i.status.updated_ms = chrono::Utc::now().timestamp_millis();
        i.status.clone()
    }
}

impl ClientObserver for StatusTracker {
    fn request(&self, latency: Duration, _texts: usize, result: Result<(), &NerError>) {
        let mut i = self.lock();
        i.status.requests += 1;
        match result {
            Ok(()) => {
                i.latencies.push_back(latency.as_secs_f64() * 1000.0);
                if i.latencies.len() > LATENCIES {
                    i.latencies.pop_front();
                }
                if !i.status.healthy {
                    i.status.healthy = true;
                    i.status.health = "ready".to_string();
                }
            }
            Err(e) => {
                i.status.request_errors += 1;
                i.status.last_error = Some(e.to_string());
            }
        }
    }

    fn retry(&self, error: &NerError, delay: Duration) {
        let mut i = self.lock();
        i.status.retries += 1;
        i.status.health = format!(
            "retrying in {:.1}s after {}: {error}",
            delay.as_secs_f64(),
            error.kind()
        );
    }

    fn down(&self, error: &NerError, delay: Duration) {
        let mut i = self.lock();
        i.status.healthy = false;
        i.status.health = format!("down, retrying in {:.1}s: {error}", delay.as_secs_f64());
    }
}

/// Reads the status file every `every` on a blocking thread and publishes changes; for the
/// TUI's background collectors. Ends when `cancel` fires or nobody listens.
pub async fn watch_status_file(
    path: PathBuf,
    tx: watch::Sender<Option<NerStatus>>,
    every: Duration,
    cancel: CancellationToken,
) {
    loop {
        let p = path.clone();
        let Ok(status) = tokio::task::spawn_blocking(move || NerStatus::load(&p)).await else {
            return;
        };
        if status.is_some() {
            tx.send_if_modified(|old| {
                let changed = *old != status;
                *old = status;
                changed
            });
        }
        if tx.is_closed() {
            return;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_keeps_the_last_minutes_and_ranks() {
        let mut w = EntityWindow::new(Duration::from_secs(120));
        let t0 = 1_000_000 * 60;
        w.add(t0, "ORG", "Google");
        w.add(t0, "ORG", "Google");
        w.add(t0 + 30, "ORG", "IBM");
        w.add(t0 + 61, "DATE", "Friday");
        let top = w.top(t0 + 61, 5);
        assert_eq!(top[0].label, "ORG");
        assert_eq!(top[0].total, 3);
        assert_eq!(top[0].entities[0], ("Google".to_string(), 2));
        assert_eq!(top[1].label, "DATE");
        // Two minutes later the first minute has left the window.
        let top = w.top(t0 + 120, 5);
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].label, "DATE");
        assert!(w.top(t0 + 240, 5).is_empty());
    }

    #[test]
    fn tracker_snapshot_and_file_round_trip() {
        let t = StatusTracker::new("rules".into(), false, Duration::from_secs(600));
        let ok: Result<Vec<Entity>, String> = Ok(vec![Entity::new("Friday", "DATE", 19, 25)]);
        let bad: Result<Vec<Entity>, String> = Err("timeout".into());
        t.record([("1", "Ram read a book on Friday", &ok), ("2", "x", &bad)]);
        t.request(Duration::from_millis(10), 1, Ok(()));
        t.request(Duration::from_millis(30), 1, Ok(()));
        let s = t.snapshot();
        assert_eq!((s.tweets, s.tweet_errors, s.requests), (2, 1, 2));
        assert_eq!(s.label_counts, vec![("DATE".to_string(), 1)]);
        assert_eq!(s.latest[0].id_str, "2");
        assert_eq!(s.latest[1].entities.len(), 1);
        assert!(s.p50_ms.is_some());
        let dir = tempfile::tempdir().unwrap();
        let path = status_path(&LakeLayout::new(dir.path()));
        s.save(&path).unwrap();
        assert_eq!(NerStatus::load(&path), Some(s));
    }
}
