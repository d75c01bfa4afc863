//! The live state behind the status snapshot: counts, rates, latencies and the latest tweets,
//! fed by the stage and by its HTTP client (as a [`ClientObserver`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{EntityWindow, LatestTweet, NerStatus, LATEST, TOP_PER_LABEL};
use crate::nlp::entity::Entity;
use crate::nlp::ner_client::{ClientObserver, NerError};

/// Request latencies kept for the percentiles.
const LATENCIES: usize = 512;
/// Rates are averaged over this long (bronze arrives in bursts, one file per roll).
const RATE_WINDOW: Duration = Duration::from_secs(15);

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
