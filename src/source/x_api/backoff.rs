//! X's reconnect policy ("Handling disconnections" in the filtered-stream docs) as pure
//! functions, a small state that counts attempts per kind of failure, and the clock the source
//! waits on (injectable, so tests check the exact sequence without waiting for it).
//!
//! - network errors (refused, reset, EOF, stall): linearly, 250 ms more each attempt, up to 16 s;
//! - HTTP errors worth retrying (5xx, other 4xx): exponentially from 5 s, up to 320 s;
//! - HTTP 429: exponentially from 1 minute (up to 16 minutes), and never before the
//!   `x-rate-limit-reset` time (epoch seconds) the server gave.
//!
//! A connection that delivered data resets every count.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;

pub const NETWORK_STEP: Duration = Duration::from_millis(250);
pub const NETWORK_MAX: Duration = Duration::from_secs(16);
pub const HTTP_INITIAL: Duration = Duration::from_secs(5);
pub const HTTP_MAX: Duration = Duration::from_secs(320);
pub const RATE_LIMIT_INITIAL: Duration = Duration::from_secs(60);
pub const RATE_LIMIT_MAX: Duration = Duration::from_secs(960);
/// The longest wait a `x-rate-limit-reset` header may impose (a rate-limit window is 15
/// minutes; a header far in the future is a clock problem, not a reason to stop for days).
pub const RESET_WAIT_MAX: Duration = Duration::from_secs(3600);

/// Why the last attempt failed, as far as waiting is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// TCP/TLS errors, a dropped or stalled connection.
    Network,
    /// An HTTP status worth retrying (not 401 / 403 / 429).
    Http,
    /// HTTP 429, with the `x-rate-limit-reset` epoch second when the server sent one.
    RateLimit { reset_at: Option<u64> },
}

/// Attempt `attempt` (0-based) after a network error: 250 ms, 500 ms, 750 ms, ... 16 s.
pub fn network_delay(attempt: u32) -> Duration {
    NETWORK_STEP
        .saturating_mul(attempt.saturating_add(1))
        .min(NETWORK_MAX)
}

/// Attempt `attempt` (0-based) after an HTTP error: 5 s, 10 s, 20 s, ... 320 s.
pub fn http_delay(attempt: u32) -> Duration {
    doubled(HTTP_INITIAL, attempt, HTTP_MAX)
}

/// Attempt `attempt` (0-based) after a 429: 60 s, 120 s, ... 960 s, but at least until
/// `reset_at` (epoch seconds, capped at [`RESET_WAIT_MAX`] from `now`).
pub fn rate_limit_delay(attempt: u32, reset_at: Option<u64>, now: SystemTime) -> Duration {
    let exponential = doubled(RATE_LIMIT_INITIAL, attempt, RATE_LIMIT_MAX);
    let until_reset = reset_at
        .map(|at| UNIX_EPOCH + Duration::from_secs(at))
        .and_then(|at| at.duration_since(now).ok())
        .unwrap_or_default()
        .min(RESET_WAIT_MAX);
    exponential.max(until_reset)
}

fn doubled(initial: Duration, attempt: u32, max: Duration) -> Duration {
    crate::backoff::Backoff::doubling(initial, max).delay(attempt)
}

/// Attempts so far per kind of failure.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Backoff {
    network: u32,
    http: u32,
    rate_limit: u32,
}

impl Backoff {
    /// The wait before the next attempt after `failure`; counts the attempt.
    pub fn next(&mut self, failure: Failure, now: SystemTime) -> Duration {
        match failure {
            Failure::Network => {
                let d = network_delay(self.network);
                self.network = self.network.saturating_add(1);
                d
            }
            Failure::Http => {
                let d = http_delay(self.http);
                self.http = self.http.saturating_add(1);
                d
            }
            Failure::RateLimit { reset_at } => {
                let d = rate_limit_delay(self.rate_limit, reset_at, now);
                self.rate_limit = self.rate_limit.saturating_add(1);
                d
            }
        }
    }

    /// A connection worked: the next failure starts each sequence again.
    pub fn reset(&mut self) {
        *self = Backoff::default();
    }
}

/// What the source reads the time from and sleeps on.
pub trait Clock: Send + Sync {
    /// Wall-clock time (for `x-rate-limit-reset`, which is in epoch seconds).
    fn now(&self) -> SystemTime;
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()>;
}

/// The real clock: `SystemTime::now` and `tokio::time::sleep`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// "0.3 s", "12 s": how a wait is shown (tenths below 10 s, whole seconds rounded up above).
pub fn show(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 10.0 {
        format!("{:.1} s", (secs * 10.0).ceil() / 10.0)
    } else {
        format!("{} s", secs.ceil() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|m| Duration::from_millis(*m)).collect()
    }

    fn secs(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|s| Duration::from_secs(*s)).collect()
    }

    #[test]
    fn network_errors_back_off_linearly_by_250ms_up_to_16s() {
        let got: Vec<_> = (0..5).map(network_delay).collect();
        assert_eq!(got, ms(&[250, 500, 750, 1000, 1250]));
        assert_eq!(network_delay(62), Duration::from_millis(15_750));
        assert_eq!(network_delay(63), NETWORK_MAX);
        assert_eq!(network_delay(64), NETWORK_MAX);
        assert_eq!(network_delay(u32::MAX), NETWORK_MAX);
    }

    #[test]
    fn http_errors_back_off_exponentially_from_5s_up_to_320s() {
        let got: Vec<_> = (0..9).map(http_delay).collect();
        assert_eq!(got, secs(&[5, 10, 20, 40, 80, 160, 320, 320, 320]));
        assert_eq!(http_delay(u32::MAX), HTTP_MAX);
    }

    #[test]
    fn rate_limits_back_off_from_a_minute_and_honour_the_reset_header() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let got: Vec<_> = (0..7).map(|a| rate_limit_delay(a, None, now)).collect();
        assert_eq!(got, secs(&[60, 120, 240, 480, 960, 960, 960]));
        // The reset time wins when it is later than the exponential wait ...
        assert_eq!(
            rate_limit_delay(0, Some(1_700_000_200), now),
            Duration::from_secs(200)
        );
        // ... and not when it is sooner, or already past.
        assert_eq!(
            rate_limit_delay(1, Some(1_700_000_030), now),
            Duration::from_secs(120)
        );
        assert_eq!(
            rate_limit_delay(0, Some(1_600_000_000), now),
            Duration::from_secs(60)
        );
        // A reset far in the future is capped.
        assert_eq!(
            rate_limit_delay(0, Some(1_800_000_000), now),
            RESET_WAIT_MAX
        );
        // Fractional "now": waits exactly until the reset second.
        let now = now + Duration::from_millis(400);
        assert_eq!(
            rate_limit_delay(0, Some(1_700_000_100), now),
            Duration::from_millis(99_600)
        );
    }

    #[test]
    fn counts_per_kind_and_resets_after_a_good_connection() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let mut b = Backoff::default();
        let seq = [
            Failure::Network,
            Failure::Network,
            Failure::Http,
            Failure::Network,
            Failure::Http,
            Failure::RateLimit { reset_at: None },
            Failure::RateLimit {
                reset_at: Some(1_500),
            },
        ];
        let got: Vec<_> = seq.iter().map(|f| b.next(*f, now)).collect();
        assert_eq!(
            got,
            vec![
                Duration::from_millis(250),
                Duration::from_millis(500),
                Duration::from_secs(5),
                Duration::from_millis(750),
                Duration::from_secs(10),
                Duration::from_secs(60),
                Duration::from_secs(500),
            ]
        );
        b.reset();
        assert_eq!(b.next(Failure::Http, now), Duration::from_secs(5));
        assert_eq!(b.next(Failure::Network, now), Duration::from_millis(250));
    }

    #[test]
    fn waits_are_shown_readably() {
        assert_eq!(show(Duration::from_millis(250)), "0.3 s");
        assert_eq!(show(Duration::from_secs(5)), "5.0 s");
        assert_eq!(show(Duration::from_millis(99_600)), "100 s");
        assert_eq!(show(Duration::from_secs(320)), "320 s");
    }

    #[tokio::test(start_paused = true)]
    async fn system_clock_sleeps_on_tokio_time() {
        let start = tokio::time::Instant::now();
        SystemClock.sleep(Duration::from_secs(320)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(320));
    }
}
