//! One stage's runs: waiting for its dependency conditions, running it, and restarting it
//! by its policy with backoff until it is stopped, completes or fails for good.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio_util::sync::CancellationToken;

use super::{lock, Fatal, RunState};
use crate::backoff::Backoff;
use crate::config::{Condition, RestartPolicy};
use crate::stage::{Exit, LogBuffer, Pipeline, Stage, StageContext, StageMetrics, StageState};

/// A run that lasted this long resets the backoff.
const HEALTHY_RUN: Duration = Duration::from_secs(30);

/// A dependency condition to hold before a stage starts.
pub(super) struct Wait {
    pub(super) name: String,
    pub(super) condition: Condition,
    pub(super) run: Arc<Mutex<RunState>>,
    pub(super) metrics: Arc<StageMetrics>,
}

impl Wait {
    fn holds(&self) -> bool {
        let state = lock(&self.run).state.unwrap_or(StageState::Stopped);
        match self.condition {
            Condition::Started => state.is_active() || state == StageState::Completed,
            Condition::Ready => state.is_active() && self.metrics.is_ready(),
            Condition::Completed => state == StageState::Completed,
        }
    }

    fn describe(&self) -> String {
        let c = match self.condition {
            Condition::Started => "started",
            Condition::Ready => "ready",
            Condition::Completed => "completed",
        };
        format!("{} ({c})", self.name)
    }
}

/// Owns one stage's runs: run, then restart by policy with backoff, until stopped.
pub(super) struct Runner {
    pub(super) waits: Vec<Wait>,
    pub(super) stage: Arc<dyn Stage>,
    pub(super) metrics: Arc<StageMetrics>,
    pub(super) log: LogBuffer,
    pub(super) run: Arc<Mutex<RunState>>,
    pub(super) pipeline: Arc<Pipeline>,
    pub(super) backoff: Backoff,
    pub(super) cancel: CancellationToken,
}

impl Runner {
    fn set(&self, state: StageState) {
        {
            let mut run = lock(&self.run);
            // A stop request wins over a late "running".
            if self.cancel.is_cancelled() && state == StageState::Running {
                return;
            }
            run.state = Some(state);
        }
        self.pipeline.state_changed.notify_waiters();
    }

    /// Waits until every dependency condition holds; false if stopped meanwhile.
    async fn wait_for_dependencies(&self) -> bool {
        loop {
            let pending: Vec<String> = self
                .waits
                .iter()
                .filter(|w| !w.holds())
                .map(Wait::describe)
                .collect();
            if pending.is_empty() {
                self.metrics.set_detail("");
                return true;
            }
            self.metrics
                .set_detail(format!("waiting for {}", pending.join(", ")));
            // Woken by a state change; readiness is only polled.
            tokio::select! {
                _ = self.cancel.cancelled() => return false,
                _ = self.pipeline.state_changed.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    }

    pub(super) async fn supervise(self) {
        let name = self.stage.name().to_string();
        let policy = self.stage.restart_policy();
        let mut attempt = 0u32;
        if !self.waits.is_empty() {
            self.log.event("waiting for its dependencies");
            if !self.wait_for_dependencies().await {
                self.log.event("stopped");
                self.set(StageState::Stopped);
                return;
            }
        }
        let _active = self.pipeline.active.hold(&name);
        loop {
            self.metrics.set_ready(false);
            let started = Instant::now();
            lock(&self.run).since = Some(started);
            self.pipeline.completed.clear(&name);
            self.set(StageState::Running);
            if !self.stage.reports_ready() {
                self.metrics.set_ready(true);
            }
            self.log.event("started");
            tracing::info!(stage = %name, "started");
            let ctx = StageContext {
                name: name.clone(),
                cancel: self.cancel.child_token(),
                metrics: self.metrics.clone(),
                log: self.log.clone(),
                pipeline: self.pipeline.clone(),
            };
            let outcome = std::panic::AssertUnwindSafe(self.stage.run(ctx))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| Err(anyhow::anyhow!("panicked: {}", panic_text(&panic))));
            if started.elapsed() >= HEALTHY_RUN {
                attempt = 0;
            }
            let fatal = matches!(&outcome, Err(e) if Fatal::is_in(e));
            // (why the run ended, whether that counts as a failure)
            let ended = match outcome {
                Ok(Exit::Cancelled) => None,
                Ok(Exit::Drained) if policy != RestartPolicy::Always => {
                    self.log
                        .event("completed: input drained, everything flushed");
                    tracing::info!(stage = %name, "completed");
                    self.pipeline.completed.mark(&name);
                    self.set(StageState::Completed);
                    return;
                }
                Ok(Exit::Drained) => Some(("exited; restart policy is always".to_string(), false)),
                Err(e) => Some((error_text(&e), true)),
            };
            if self.cancel.is_cancelled() {
                if let Some((e, true)) = &ended {
                    self.log.event(format!("stopped with error: {e}"));
                }
                self.log.event("stopped");
                tracing::info!(stage = %name, "stopped");
                self.set(StageState::Stopped);
                return;
            }
            let (reason, failed) = ended.unwrap_or_else(|| ("stopped by itself".to_string(), true));
            if failed {
                self.metrics.error(reason.clone());
                tracing::warn!(stage = %name, error = %reason, "failed");
            }
            self.log.event(format!("ended: {reason}"));
            let restart = !fatal
                && match policy {
                    RestartPolicy::No => false,
                    RestartPolicy::OnFailure => failed,
                    RestartPolicy::Always => true,
                };
            let limit = self.stage.max_restarts();
            let exhausted = limit.is_some_and(|m| lock(&self.run).restarts >= m);
            if !restart || exhausted {
                if fatal {
                    self.log.event("not restarted: the error is fatal");
                } else if restart {
                    self.log.event(format!(
                        "not restarted: max_restarts ({}) reached",
                        limit.unwrap_or(0)
                    ));
                }
                self.set(StageState::Failed);
                return;
            }
            let delay = self.backoff.delay(attempt);
            attempt = attempt.saturating_add(1);
            self.set(StageState::BackingOff);
            self.metrics
                .set_detail(format!("backing off {:.1}s: {reason}", delay.as_secs_f64()));
            self.log
                .event(format!("restarting in {:.1}s", delay.as_secs_f64()));
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.cancel.cancelled() => {
                    self.log.event("stopped");
                    self.set(StageState::Stopped);
                    return;
                }
            }
            self.metrics.set_detail("");
            lock(&self.run).restarts += 1;
        }
    }
}

/// An error and its causes on one line, `a: b: c`, without repeating a cause that an error's
/// own message already includes (delta-rs and object_store errors print their sources).
pub fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain().map(|c| c.to_string()) {
        if out.contains(&cause) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&cause);
    }
    out
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}
