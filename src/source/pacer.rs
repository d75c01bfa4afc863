//! Keeps a producer at a target rate (tweets per second; 0 = unlimited), or at the original
//! timing of replayed tweets sped up N times.

use std::time::Duration;

use tokio::time::Instant;

pub struct Pacer {
    rate: u64,
    start: Instant,
    sent: u64,
}

impl Pacer {
    pub fn new(rate: u64) -> Self {
        Pacer {
            rate,
            start: Instant::now(),
            sent: 0,
        }
    }

    /// How long to wait before the next record may go (None: go now).
    pub fn wait(&self) -> Option<Duration> {
        if self.rate == 0 {
            return None;
        }
        let due = self.start + Duration::from_secs_f64(self.sent as f64 / self.rate as f64);
        let now = Instant::now();
        // Sleep in steps of at least a millisecond; below that, send a burst.
        (due > now + Duration::from_millis(1)).then(|| due - now)
    }

    pub fn sent(&mut self) {
        self.sent += 1;
    }
}

/// Replays tweets at their original timing (`created_at`), `speed` times faster: a tweet
/// written `d` after the first one goes `d / speed` after it. A tweet dated before the one
/// before it (the input looped, or is out of order) or more than [`MAX_GAP_MS`] after it
/// (a quiet hour, another capture in the same file) starts the clock again; one without a
/// date goes at once.
pub const MAX_GAP_MS: i64 = 60_000;

pub struct TimedPacer {
    speed: f64,
    /// The first tweet's time (epoch ms) and when it went.
    origin: Option<(i64, Instant)>,
    last: i64,
}

impl TimedPacer {
    pub fn new(speed: f64) -> Self {
        TimedPacer {
            speed: speed.max(1e-6),
            origin: None,
            last: i64::MIN,
        }
    }

    /// How long to wait before sending a tweet written at `at_ms` (None: go now).
    pub fn wait(&mut self, at_ms: Option<i64>) -> Option<Duration> {
        let at = at_ms?;
        let now = Instant::now();
        if self.origin.is_none() || at < self.last || at.saturating_sub(self.last) > MAX_GAP_MS {
            self.origin = Some((at, now));
        }
        self.last = at;
        let (first, start) = self.origin?;
        let due = start + Duration::from_secs_f64((at - first) as f64 / 1000.0 / self.speed);
        (due > now + Duration::from_millis(1)).then(|| due - now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn replays_the_original_timing_sped_up() {
        let mut p = TimedPacer::new(10.0);
        let t0 = Instant::now();
        // Tweets 0 s, 1 s, 1 s, 5 s after the first; at 10x: 0, 100, 100, 500 ms.
        let mut sent = Vec::new();
        for at in [1_000_000, 1_001_000, 1_001_000, 1_005_000] {
            if let Some(d) = p.wait(Some(at)) {
                tokio::time::sleep(d).await;
            }
            sent.push(t0.elapsed().as_millis());
        }
        assert_eq!(sent, [0, 100, 100, 500]);
        // Back in time (the input looped): the clock starts again.
        assert_eq!(p.wait(Some(1_000_000)), None);
        assert_eq!(p.wait(None), None, "no date: at once");
        assert!(p
            .wait(Some(1_002_000))
            .is_some_and(|d| d.as_millis() == 200));
        // Years later (another capture): no wait for the gap.
        assert_eq!(p.wait(Some(9_000_000_000)), None);
    }

    #[tokio::test(start_paused = true)]
    async fn holds_the_rate() {
        let mut p = Pacer::new(100);
        let t0 = Instant::now();
        for _ in 0..300 {
            if let Some(d) = p.wait() {
                tokio::time::sleep(d).await;
            }
            p.sent();
        }
        let took = t0.elapsed().as_secs_f64();
        assert!((2.9..3.1).contains(&took), "300 at 100/s took {took}s");
        assert!(Pacer::new(0).wait().is_none());
    }
}
