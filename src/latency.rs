//! End-to-end latency from timestamps carried in the data: when a tweet entered the bus (the
//! bus message time, set as the source sent it; bronze keeps it as `bus_time`) to when a
//! stage made it count (trending: its counts committed to the store).
//!
//! Both ends read wall clocks, so across hosts the figure includes their clock offset.

use std::collections::VecDeque;

/// Bus times (epoch ms) of the tweets in a batch, sampled evenly down to a fixed size: the
/// percentiles of a batch of any size cost the same to keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentTimes {
    kept: Vec<i64>,
    /// Keep one time in `stride` (doubles whenever `kept` fills up).
    stride: u64,
    seen: u64,
}

/// Most bus times kept per batch.
const KEEP: usize = 2048;

impl SentTimes {
    #[inline]
    pub fn add(&mut self, at_ms: i64) {
        let stride = self.stride.max(1);
        if self.seen.is_multiple_of(stride) {
            self.kept.push(at_ms);
            if self.kept.len() >= KEEP {
                self.halve();
            }
        }
        self.seen += 1;
    }

    fn halve(&mut self) {
        let mut i = 0;
        self.kept.retain(|_| {
            i += 1;
            i % 2 == 1
        });
        self.stride = self.stride.max(1) * 2;
    }

    /// Adds another batch's samples (each keeps its own evenness).
    pub fn merge(&mut self, other: SentTimes) {
        self.seen += other.seen;
        self.stride = self.stride.max(other.stride).max(1);
        self.kept.extend(other.kept);
        while self.kept.len() >= KEEP {
            self.halve();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    pub fn samples(&self) -> &[i64] {
        &self.kept
    }
}

/// p50 / p99 of the latencies of the last [`WINDOW_MS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LatencySummary {
    pub p50_ms: u64,
    pub p99_ms: u64,
    /// Sampled tweets the figures come from.
    pub samples: u64,
}

impl LatencySummary {
    pub fn text(&self) -> String {
        format!(
            "p50 {} · p99 {}",
            duration_text(self.p50_ms),
            duration_text(self.p99_ms)
        )
    }
}

/// `830 ms`, `1.4 s`, `12 s`, `3 min`.
pub fn duration_text(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..10_000 => format!("{:.1} s", ms as f64 / 1000.0),
        10_000..120_000 => format!("{} s", ms / 1000),
        _ => format!("{} min", ms / 60_000),
    }
}

/// Latencies are summarised over this much recent time.
pub const WINDOW_MS: i64 = 30_000;
/// At most this many latencies are kept for the window.
const WINDOW_KEEP: usize = 16_384;

/// Latencies (ms) of recent batches, by the time they were made to count.
#[derive(Debug, Default)]
pub struct LatencyWindow {
    batches: VecDeque<(i64, Vec<u64>)>,
    kept: usize,
    /// The last summary and when it was made: every reader of a stage snapshot (screen,
    /// status publisher, status lines) asks, and sorting the window once serves them all.
    cached: Option<(i64, Option<LatencySummary>)>,
}

/// A summary younger than this is given again (nothing was recorded since).
const CACHE_MS: i64 = 500;

impl LatencyWindow {
    /// The tweets sent at `sent` counted at `now_ms` (a clock behind the sender's reads 0).
    pub fn record(&mut self, now_ms: i64, sent: &SentTimes) {
        if sent.is_empty() {
            return;
        }
        self.cached = None;
        let lat: Vec<u64> = sent
            .samples()
            .iter()
            .map(|t| now_ms.saturating_sub(*t).max(0) as u64)
            .collect();
        self.kept += lat.len();
        self.batches.push_back((now_ms, lat));
        self.expire(now_ms);
        while self.kept > WINDOW_KEEP && self.batches.len() > 1 {
            self.drop_oldest();
        }
    }

    fn drop_oldest(&mut self) {
        if let Some((_, l)) = self.batches.pop_front() {
            self.kept -= l.len();
        }
    }

    fn expire(&mut self, now_ms: i64) {
        while self
            .batches
            .front()
            .is_some_and(|(at, _)| now_ms - at > WINDOW_MS)
        {
            self.drop_oldest();
        }
    }

    /// p50 / p99 of the batches counted in the last [`WINDOW_MS`] before `now_ms`.
    pub fn summary(&mut self, now_ms: i64) -> Option<LatencySummary> {
        if let Some((at, s)) = self.cached {
            if (0..CACHE_MS).contains(&(now_ms - at)) {
                return s;
            }
        }
        let s = self.compute(now_ms);
        self.cached = Some((now_ms, s));
        s
    }

    fn compute(&mut self, now_ms: i64) -> Option<LatencySummary> {
        self.expire(now_ms);
        let mut all: Vec<u64> = self
            .batches
            .iter()
            .flat_map(|(_, l)| l.iter().copied())
            .collect();
        if all.is_empty() {
            return None;
        }
        all.sort_unstable();
        let at = |q: f64| all[((all.len() - 1) as f64 * q).round() as usize];
        Some(LatencySummary {
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            samples: all.len() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_latencies() {
        let mut sent = SentTimes::default();
        // Sent at 0..1000 ms, counted at 1000: latencies 1..=1000 ms.
        for t in 0..1000 {
            sent.add(t);
        }
        let mut w = LatencyWindow::default();
        w.record(1000, &sent);
        let s = w.summary(1000).unwrap();
        assert_eq!(s.samples, 1000);
        assert_eq!(s.p50_ms, 501, "{s:?}");
        assert_eq!(s.p99_ms, 990, "the 1% slowest are the earliest sent: {s:?}");
        // Out of the window, nothing is left.
        assert_eq!(w.summary(1000 + WINDOW_MS + 1), None);
    }

    #[test]
    fn a_large_batch_is_sampled_evenly() {
        let mut sent = SentTimes::default();
        for t in 0..1_000_000 {
            sent.add(t);
        }
        assert!(sent.samples().len() < KEEP);
        assert!(sent.samples().len() > KEEP / 4);
        let mut w = LatencyWindow::default();
        w.record(1_000_000, &sent);
        let s = w.summary(1_000_000).unwrap();
        // Latencies are uniform over 1..=1,000,000 ms: the median is about 500,000.
        assert!((480_000..520_000).contains(&s.p50_ms), "{s:?}");
        let mut a = SentTimes::default();
        let mut b = SentTimes::default();
        (0..3000).for_each(|t| a.add(t));
        (0..5).for_each(|t| b.add(t));
        a.merge(b);
        assert!(a.samples().len() < KEEP);
    }

    #[test]
    fn a_receiver_clock_behind_the_sender_reads_zero() {
        let mut sent = SentTimes::default();
        sent.add(5_000);
        let mut w = LatencyWindow::default();
        w.record(4_000, &sent);
        assert_eq!(w.summary(4_000).unwrap().p50_ms, 0);
        assert_eq!(duration_text(830), "830 ms");
        assert_eq!(duration_text(1_420), "1.4 s");
    }
}
