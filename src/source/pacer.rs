//! Keeps a producer at a target rate (tweets per second; 0 = unlimited).

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

#[cfg(test)]
mod tests {
    use super::*;

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
