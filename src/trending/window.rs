//! The committed sliding-window state, and turning a [`Counter`] into a store batch.
//!
//! The window is a ring of fixed-width buckets (`window / 60`, at least a second): the count
//! of a tag "in the last 15 minutes" is the sum of its last 60 buckets. The state here mirrors
//! what the store holds, so each batch can carry the new absolute window count of every tag
//! whose count changed (new occurrences, or buckets that slid out).

use std::collections::BTreeMap;
use std::time::Duration;

use super::counter::Counter;
use super::rule::HashtagRule;
use crate::store::trending::{window_cutoff, TagDelta, TrendingBatch, TrendingMeta};
use rustc_hash::FxHashMap;

/// Buckets per window.
pub const BUCKETS_PER_WINDOW: i64 = 60;

/// Window length and bucket width, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    pub window_ms: i64,
    pub bucket_ms: i64,
}

impl WindowSpec {
    pub fn new(window: Duration) -> WindowSpec {
        let window_ms = (window.as_millis() as i64).max(1000);
        let bucket_ms = (window_ms / BUCKETS_PER_WINDOW).max(1000);
        WindowSpec {
            window_ms,
            bucket_ms,
        }
    }

    pub fn cutoff(&self, now_ms: i64) -> i64 {
        window_cutoff(now_ms, self.window_ms, self.bucket_ms)
    }

    /// A counter for tweets seen at `now_ms` (older events are counted all-time only).
    pub fn counter(&self, rule: HashtagRule, now_ms: i64) -> Counter {
        // A little slack: events a bucket or two old may still be in the window at flush.
        Counter::new(rule, self.bucket_ms, self.cutoff(now_ms) - self.bucket_ms)
    }
}

/// The window as committed to the store (keys in stored form).
#[derive(Debug, Clone, Default)]
pub struct Window {
    buckets: BTreeMap<i64, FxHashMap<String, u64>>,
    totals: FxHashMap<String, u64>,
}

/// Stored form of a counter key / spelling under `rule`.
fn stored(rule: HashtagRule, s: &str) -> String {
    rule.stored(s)
}

impl Window {
    /// Rebuilds the window from the store's buckets.
    pub fn restore(buckets: impl IntoIterator<Item = (i64, String, u64)>) -> Window {
        let mut w = Window::default();
        for (b, k, n) in buckets {
            *w.totals.entry(k.clone()).or_default() += n;
            *w.buckets.entry(b).or_default().entry(k).or_default() += n;
        }
        w
    }

    /// Window count of a stored key.
    pub fn count(&self, key: &str) -> u64 {
        self.totals.get(key).copied().unwrap_or(0)
    }

    /// True when some bucket slid out of the window at `now_ms`.
    pub fn has_expired(&self, spec: &WindowSpec, now_ms: i64) -> bool {
        self.buckets
            .keys()
            .next()
            .is_some_and(|b| *b < spec.cutoff(now_ms))
    }

    /// The batch that adds `counter` (tagged with its bronze version / offsets by the caller) at
    /// `now_ms`. Does not change the window: call [`Window::apply`] once it committed.
    pub fn prepare(
        &self,
        spec: &WindowSpec,
        counter: &Counter,
        base_seq: u64,
        meta: TrendingMeta,
        now_ms: i64,
    ) -> TrendingBatch {
        let rule = counter.rule();
        let cutoff = spec.cutoff(now_ms);
        let mut tags = Vec::with_capacity(counter.len());
        let mut buckets = Vec::new();
        // key -> change of its window count
        let mut change: FxHashMap<String, i64> = FxHashMap::default();
        // (A spelling registered but never added has a zero count: nothing to write.)
        for (key, e) in counter.iter().filter(|(_, e)| e.count > 0) {
            let key = stored(rule, key);
            let mut spellings: Vec<(String, u64)> = e
                .spellings
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(s, n)| (stored(rule, s), *n))
                .collect();
            spellings.sort();
            let mut added = 0i64;
            for (b, n) in &e.buckets {
                if *b >= cutoff {
                    buckets.push((*b, key.clone(), *n));
                    added += *n as i64;
                }
            }
            if added > 0 {
                *change.entry(key.clone()).or_default() += added;
            }
            tags.push(TagDelta {
                key,
                count: e.count,
                spellings,
            });
        }
        for (_, keys) in self.buckets.range(..cutoff) {
            for (k, n) in keys {
                *change.entry(k.clone()).or_default() -= *n as i64;
            }
        }
        let mut window: Vec<(String, u64)> = change
            .into_iter()
            .filter(|(_, d)| *d != 0)
            .map(|(k, d)| {
                let v = (self.count(&k) as i64 + d).max(0) as u64;
                (k, v)
            })
            .collect();
        tags.sort_by(|a, b| a.key.cmp(&b.key));
        buckets.sort();
        window.sort();
        TrendingBatch {
            id: rand::random::<i64>() & i64::MAX,
            base_seq,
            meta,
            tags,
            buckets,
            window_cutoff_ms: cutoff,
            window,
            lake_version: None,
            bus: String::new(),
            offsets: Vec::new(),
            tweets: counter.tweets,
            occurrences: counter.occurrences,
            now_ms,
        }
    }

    /// Applies a committed batch: drops buckets before its cutoff, adds its buckets.
    pub fn apply(&mut self, batch: &TrendingBatch) {
        let keep = self.buckets.split_off(&batch.window_cutoff_ms);
        let expired = std::mem::replace(&mut self.buckets, keep);
        for (_, keys) in expired {
            for (k, n) in keys {
                if let Some(t) = self.totals.get_mut(&k) {
                    *t = t.saturating_sub(n);
                    if *t == 0 {
                        self.totals.remove(&k);
                    }
                }
            }
        }
        for (b, k, n) in &batch.buckets {
            if *b >= batch.window_cutoff_ms {
                *self.totals.entry(k.clone()).or_default() += n;
                *self
                    .buckets
                    .entry(*b)
                    .or_default()
                    .entry(k.clone())
                    .or_default() += n;
            }
        }
    }

    /// Number of buckets held.
    pub fn buckets(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> TrendingMeta {
        TrendingMeta {
            rule: "twitter".into(),
            input: "lake".into(),
        }
    }

    #[test]
    fn window_slides_and_batches_carry_absolute_counts() {
        let spec = WindowSpec::new(Duration::from_secs(60)); // 1 s buckets
        assert_eq!(spec.bucket_ms, 1000);
        let mut w = Window::default();
        let t0 = 1_000_000;
        let mut c = spec.counter(HashtagRule::Twitter, t0);
        c.add_tweet(["AI", "ai"], "", Some(t0));
        c.add_tweet(["Rust"], "", Some(t0 + 1500));
        let b = w.prepare(&spec, &c, 0, meta(), t0 + 2000);
        assert_eq!(b.tweets, 2);
        assert_eq!(
            b.tags[0],
            TagDelta {
                key: "#ai".into(),
                count: 2,
                spellings: vec![("#AI".into(), 1), ("#ai".into(), 1)]
            }
        );
        assert_eq!(b.window, vec![("#ai".into(), 2), ("#rust".into(), 1)]);
        assert_eq!(
            b.buckets,
            vec![(t0, "#ai".into(), 2), (t0 + 1000, "#rust".into(), 1)]
        );
        w.apply(&b);
        assert_eq!(w.count("#ai"), 2);

        // 60 s later the first bucket is out: only #ai's count changes.
        let now = t0 + 60_000;
        assert!(w.has_expired(&spec, now));
        let empty = spec.counter(HashtagRule::Twitter, now);
        let b = w.prepare(&spec, &empty, 1, meta(), now);
        assert_eq!(b.window, vec![("#ai".into(), 0)]);
        assert!(b.tags.is_empty());
        w.apply(&b);
        assert_eq!(w.count("#ai"), 0);
        assert_eq!(w.count("#rust"), 1);
        assert_eq!(w.buckets(), 1);

        // Restoring from the store's buckets gives the same counts.
        let r = Window::restore(vec![(t0 + 1000, "#rust".to_string(), 1)]);
        assert_eq!(r.count("#rust"), 1);
    }

    #[test]
    fn events_older_than_the_window_count_all_time_only() {
        let spec = WindowSpec::new(Duration::from_secs(900));
        assert_eq!(spec.bucket_ms, 15_000);
        let now = 10_000_000_000;
        let mut c = spec.counter(HashtagRule::Twitter, now);
        c.add_tweet(["old"], "", Some(now - 3_600_000));
        c.add_tweet(["new"], "", Some(now - 1000));
        let b = Window::default().prepare(&spec, &c, 0, meta(), now);
        assert_eq!(b.tags.len(), 2);
        assert_eq!(b.window, vec![("#new".into(), 1)]);
    }
}
