//! What the Trending pane shows, collected from the store on a background task (about once a
//! second) and handed to the event loop through a `watch` channel: the pane never does I/O.
//! It reads the store, not the stage, so it also works when the stage runs headless on
//! another host against the same PostgreSQL.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::window::WindowSpec;
use crate::config::Settings;
use crate::store::{self, trending::TopQuery, Store, TrendingTop};

/// One reading of the store for the pane.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendingView {
    pub top: TrendingTop,
    /// Where it was read (never a password).
    pub store: String,
    pub window: Duration,
    /// Tag occurrences counted per second, over the last [`RATE_SPAN`].
    pub tags_per_sec: f64,
    /// New distinct tags per second, same span.
    pub new_tags_per_sec: f64,
    /// The last read failed with this (the rest is the last good reading).
    pub error: Option<String>,
    /// Wall clock of the reading (epoch ms).
    pub read_at_ms: i64,
}

/// Span of the rates shown (counts arrive in steps: one per bronze file with lake input).
pub const RATE_SPAN: Duration = Duration::from_secs(15);

/// Rates from a short history of (time, occurrences, distinct) readings.
#[derive(Debug, Default)]
pub struct Rates {
    history: VecDeque<(Instant, u64, u64)>,
}

impl Rates {
    /// Adds a reading; returns (tags/s, new distinct tags/s).
    pub fn push(&mut self, at: Instant, occurrences: u64, distinct: u64) -> (f64, f64) {
        self.history.push_back((at, occurrences, distinct));
        while self
            .history
            .front()
            .is_some_and(|(t, _, _)| at.duration_since(*t) > RATE_SPAN)
            && self.history.len() > 2
        {
            self.history.pop_front();
        }
        let (Some(first), Some(last)) = (self.history.front(), self.history.back()) else {
            return (0.0, 0.0);
        };
        let dt = last.0.duration_since(first.0).as_secs_f64();
        if dt <= 0.0 {
            return (0.0, 0.0);
        }
        (
            last.1.saturating_sub(first.1) as f64 / dt,
            last.2.saturating_sub(first.2) as f64 / dt,
        )
    }
}

/// Reads the top tags every `every` into `tx` until `cancel`.
pub async fn watch_top(
    settings: Settings,
    tx: watch::Sender<Option<TrendingView>>,
    every: Duration,
    cancel: CancellationToken,
) {
    let store: Arc<dyn Store> = match store::open(&settings) {
        Ok(s) => s,
        Err(e) => {
            tx.send_replace(Some(TrendingView {
                top: TrendingTop::default(),
                store: settings.pipeline.store.to_string(),
                window: settings.trending.window,
                tags_per_sec: 0.0,
                new_tags_per_sec: 0.0,
                error: Some(e.to_string()),
                read_at_ms: chrono::Utc::now().timestamp_millis(),
            }));
            return;
        }
    };
    let spec = WindowSpec::new(settings.trending.window);
    let mut rates = Rates::default();
    let mut last: Option<TrendingView> = None;
    loop {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let q = TopQuery {
            n: settings.trending.top,
            window_ms: spec.window_ms,
            bucket_ms: spec.bucket_ms,
            now_ms,
        };
        let read = tokio::select! {
            _ = cancel.cancelled() => return,
            r = tokio::time::timeout(every.max(Duration::from_secs(2)) * 3, store.trending().top(q)) => r,
        };
        let view = match read {
            Ok(Ok(top)) => {
                let (tags_per_sec, new_tags_per_sec) =
                    rates.push(Instant::now(), top.occurrences, top.distinct);
                TrendingView {
                    top,
                    store: store.describe(),
                    window: settings.trending.window,
                    tags_per_sec,
                    new_tags_per_sec,
                    error: None,
                    read_at_ms: now_ms,
                }
            }
            Ok(Err(e)) => failed(&last, &*store, &settings, e.to_string(), now_ms),
            Err(_) => failed(&last, &*store, &settings, "timed out".into(), now_ms),
        };
        last = Some(view.clone());
        tx.send_if_modified(|old| {
            // The reading time alone is not a change worth a redraw.
            let changed = old.as_ref().is_none_or(|o| {
                o.top != view.top || o.error != view.error || o.tags_per_sec != view.tags_per_sec
            });
            *old = Some(view);
            changed
        });
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

fn failed(
    last: &Option<TrendingView>,
    store: &dyn Store,
    settings: &Settings,
    error: String,
    now_ms: i64,
) -> TrendingView {
    let mut v = last.clone().unwrap_or(TrendingView {
        top: TrendingTop::default(),
        store: store.describe(),
        window: settings.trending.window,
        tags_per_sec: 0.0,
        new_tags_per_sec: 0.0,
        error: None,
        read_at_ms: now_ms,
    });
    v.error = Some(error);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_over_a_short_span() {
        let mut r = Rates::default();
        let t = Instant::now();
        assert_eq!(r.push(t, 0, 0), (0.0, 0.0));
        let (tags, new) = r.push(t + Duration::from_secs(2), 100, 10);
        assert!((tags - 50.0).abs() < 1e-9 && (new - 5.0).abs() < 1e-9);
        let (tags, _) = r.push(t + Duration::from_secs(40), 100, 10);
        assert!(tags < 5.0, "old readings age out: {tags}");
    }
}
