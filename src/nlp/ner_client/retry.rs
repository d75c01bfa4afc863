//! Retries around one request: exponential backoff with jitter, waiting out an outage, and
//! the observer that counts requests, retries and outages.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::{ClientOptions, Entity, NerClient, NerError};

/// What happens inside [`NerClient::annotate`], for health counters.
pub trait ClientObserver: Send + Sync {
    /// One HTTP request finished (`Ok` or the error), after `latency`, carrying `texts` texts.
    fn request(&self, _latency: Duration, _texts: usize, _result: Result<(), &NerError>) {}
    /// A failed request will be sent again after `delay`.
    fn retry(&self, _error: &NerError, _delay: Duration) {}
    /// The service is unreachable; the client waits `delay` before trying again.
    fn down(&self, _error: &NerError, _delay: Duration) {}
}

/// Observes nothing.
pub struct NoObserver;
impl ClientObserver for NoObserver {}

/// The outcome of [`NerClient::annotate`] for one request's texts.
#[derive(Debug, Clone)]
pub struct Annotated {
    /// One entry per text: its entities, or the error of the last attempt.
    pub results: Result<Vec<Vec<Entity>>, NerError>,
    /// Requests sent (outage waits not counted).
    pub attempts: u32,
}

impl NerClient {
    /// [`request`](Self::request) with retries: transient failures are retried up to
    /// `retries` times with exponential backoff and jitter; an unreachable service is
    /// waited for (until `cancel`) without using up attempts.
    pub async fn annotate(
        &self,
        texts: &[String],
        cancel: &CancellationToken,
        observer: &dyn ClientObserver,
    ) -> Annotated {
        let mut attempts = 0u32;
        let mut failures = 0u32;
        let mut outage = 0u32;
        loop {
            if cancel.is_cancelled() {
                return Annotated {
                    results: Err(NerError::Cancelled),
                    attempts,
                };
            }
            attempts += 1;
            let started = Instant::now();
            let result = tokio::select! {
                r = self.request(texts) => r,
                _ = cancel.cancelled() => Err(NerError::Cancelled),
            };
            if result.as_ref().err() == Some(&NerError::Cancelled) {
                return Annotated {
                    results: result,
                    attempts,
                };
            }
            observer.request(started.elapsed(), texts.len(), result.as_ref().map(|_| ()));
            let error = match result {
                Ok(v) => {
                    return Annotated {
                        results: Ok(v),
                        attempts,
                    }
                }
                Err(e) => e,
            };
            let delay = if error.is_down() {
                attempts -= 1;
                outage += 1;
                let d = backoff_delay(&self.opts, outage - 1);
                observer.down(&error, d);
                d
            } else {
                outage = 0;
                failures += 1;
                if !error.retryable() || failures > self.opts.retries {
                    return Annotated {
                        results: Err(error),
                        attempts,
                    };
                }
                let d = backoff_delay(&self.opts, failures - 1);
                observer.retry(&error, d);
                d
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = cancel.cancelled() => {}
            }
        }
    }
}

/// `backoff * 2^n`, capped, with jitter in [50%, 100%].
pub fn backoff_delay(opts: &ClientOptions, n: u32) -> Duration {
    let base = crate::backoff::Backoff::doubling(opts.backoff, opts.backoff_max).delay(n);
    base.mul_f64(0.5 + rand::random::<f64>() * 0.5)
}
