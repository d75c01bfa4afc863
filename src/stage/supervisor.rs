//! Starts, stops and restarts stages; applies restart policies with backoff; publishes status.
//!
//! Every call returns at once (the TUI calls it from its event loop): work happens on the
//! spawned run tasks, which update a shared status the snapshots read.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{
    Exit, LogBuffer, Pipeline, Stage, StageContext, StageMetrics, StageState, StageStatus,
};
use crate::backoff::Backoff;
use crate::config::{Condition, RestartPolicy};

/// Lines kept per stage log.
const LOG_LINES: usize = 2000;
/// A run that lasted this long resets the backoff.
const HEALTHY_RUN: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SupervisorError {
    #[error("no stage named {name:?} (stages: {known})")]
    UnknownStage { name: String, known: String },
    #[error("dependency cycle through {0}")]
    Cycle(String),
}

pub use crate::report::Fatal;

pub struct Supervisor {
    pipeline: Arc<Pipeline>,
    backoff: Backoff,
    entries: Vec<Entry>,
}

struct Entry {
    stage: Arc<dyn Stage>,
    metrics: Arc<StageMetrics>,
    log: LogBuffer,
    run: Arc<Mutex<RunState>>,
}

#[derive(Default)]
struct RunState {
    state: Option<StageState>,
    since: Option<Instant>,
    restarts: u32,
    cancel: Option<CancellationToken>,
    task: Option<JoinHandle<()>>,
    last_output: (u64, Option<Instant>),
    rate: f64,
}

fn lock(m: &Mutex<RunState>) -> MutexGuard<'_, RunState> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Supervisor {
    pub fn new(pipeline: Arc<Pipeline>, stages: Vec<Arc<dyn Stage>>, backoff: Backoff) -> Self {
        let entries = stages
            .into_iter()
            .map(|stage| Entry {
                stage,
                metrics: Arc::default(),
                log: LogBuffer::new(LOG_LINES),
                run: Arc::default(),
            })
            .collect();
        Supervisor {
            pipeline,
            backoff,
            entries,
        }
    }

    pub fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }

    pub fn names(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|e| e.stage.name().to_string())
            .collect()
    }

    fn entry(&self, name: &str) -> Result<&Entry, SupervisorError> {
        self.entries
            .iter()
            .find(|e| e.stage.name() == name)
            .ok_or_else(|| SupervisorError::UnknownStage {
                name: name.to_string(),
                known: self.names().join(", "),
            })
    }

    pub fn log(&self, name: &str) -> Option<LogBuffer> {
        self.entry(name).ok().map(|e| e.log.clone())
    }

    pub fn state(&self, name: &str) -> Option<StageState> {
        let e = self.entry(name).ok()?;
        let state = lock(&e.run).state;
        Some(state.unwrap_or(StageState::Stopped))
    }

    /// Starts `name` and, first, every dependency that is not running or completed.
    /// Returns the stages it started, dependencies first.
    pub fn start(&self, name: &str) -> Result<Vec<String>, SupervisorError> {
        let mut order = Vec::new();
        self.plan(name, &mut BTreeSet::new(), &mut order)?;
        let mut started = Vec::new();
        for n in order {
            let state = self.state(&n).unwrap_or(StageState::Stopped);
            let satisfied = state.is_active() || (n != name && state == StageState::Completed);
            if !satisfied {
                self.spawn(self.entry(&n)?);
                started.push(n);
            }
        }
        Ok(started)
    }

    fn plan(
        &self,
        name: &str,
        visiting: &mut BTreeSet<String>,
        order: &mut Vec<String>,
    ) -> Result<(), SupervisorError> {
        let entry = self.entry(name)?;
        if order.iter().any(|n| n == name) {
            return Ok(());
        }
        if !visiting.insert(name.to_string()) {
            return Err(SupervisorError::Cycle(name.to_string()));
        }
        for dep in entry.stage.depends_on() {
            self.plan(&dep, visiting, order)?;
        }
        visiting.remove(name);
        order.push(name.to_string());
        Ok(())
    }

    /// Starts only `name` (its dependencies may run elsewhere); false if it already runs.
    pub fn start_only(&self, name: &str) -> Result<bool, SupervisorError> {
        let e = self.entry(name)?;
        if self.state(name).is_some_and(StageState::is_active) {
            return Ok(false);
        }
        self.spawn(e);
        Ok(true)
    }

    /// The dependencies of `name` that are neither running nor completed here.
    pub fn stopped_dependencies(&self, name: &str) -> Result<Vec<String>, SupervisorError> {
        let e = self.entry(name)?;
        Ok(e.stage
            .depends_on()
            .into_iter()
            .filter(|d| {
                !self
                    .state(d)
                    .is_some_and(|s| s.is_active() || s == StageState::Completed)
            })
            .collect())
    }

    /// Refuses a set of stages to run alone when one needs a dependency that can only run in
    /// this process (the source of an embedded bus) and is not in the set.
    pub fn check_in_process(&self, names: &[String]) -> Result<(), String> {
        for name in names {
            let e = self.entry(name).map_err(|e| e.to_string())?;
            for dep in e.stage.in_process_dependencies() {
                if !names.contains(&dep) {
                    return Err(format!(
                        "{name} reads the embedded bus, which exists only inside one process: run `ssp-tui run {dep} {name}`, or set [pipeline] bus = kafka to run {name} on its own"
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn start_all(&self) -> Vec<String> {
        let mut started = Vec::new();
        for n in self.names() {
            started.extend(self.start(&n).unwrap_or_default());
        }
        started
    }

    /// Asks a stage to stop (graceful: it flushes); returns at once.
    pub fn stop(&self, name: &str) -> Result<(), SupervisorError> {
        let e = self.entry(name)?;
        let mut run = lock(&e.run);
        if let Some(cancel) = &run.cancel {
            cancel.cancel();
            if run.state.is_some_and(StageState::is_active) {
                run.state = Some(StageState::Stopping);
            }
        }
        Ok(())
    }

    pub fn stop_all(&self) {
        for e in &self.entries {
            let _ = self.stop(e.stage.name());
        }
    }

    /// Stops, then starts again once the old run has flushed; returns at once.
    pub fn restart(self: &Arc<Self>, name: &str) -> Result<(), SupervisorError> {
        let e = self.entry(name)?;
        self.stop(name)?;
        let task = lock(&e.run).task.take();
        let me = self.clone();
        let name = name.to_string();
        tokio::spawn(async move {
            if let Some(t) = task {
                let _ = t.await;
            }
            if let Ok(e) = me.entry(&name) {
                me.spawn(e);
            }
        });
        Ok(())
    }

    /// Restarts stalled stages when `[status] restart_stalled` is on (at most once per stall
    /// period each); `None` when it is off.
    pub fn spawn_stall_watch(self: &Arc<Self>) -> Option<JoinHandle<()>> {
        let control = &self.pipeline.settings.control;
        let stall = control.stall_after.filter(|_| control.restart_stalled)?;
        let me = Arc::downgrade(self);
        Some(tokio::spawn(async move {
            let mut last: std::collections::HashMap<String, Instant> = Default::default();
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let Some(sup) = me.upgrade() else { return };
                for s in sup.snapshot() {
                    let recent = last.get(&s.name).is_some_and(|t| t.elapsed() < stall);
                    if s.state != StageState::Stalled || recent {
                        continue;
                    }
                    if let Ok(e) = sup.entry(&s.name) {
                        e.log.event(format!(
                            "stalled for {}s: restarting ([status] restart_stalled)",
                            stall.as_secs()
                        ));
                    }
                    tracing::warn!(stage = %s.name, "stalled: restarting by policy");
                    last.insert(s.name.clone(), Instant::now());
                    let _ = sup.restart(&s.name);
                }
            }
        }))
    }

    /// Stops every stage and waits until all have flushed (or `timeout` passed).
    pub async fn shutdown(&self, timeout: Duration) {
        self.stop_all();
        let tasks: Vec<JoinHandle<()>> = self
            .entries
            .iter()
            .filter_map(|e| lock(&e.run).task.take())
            .collect();
        let _ = tokio::time::timeout(timeout, futures::future::join_all(tasks)).await;
    }

    /// Waits for a stage's current run task to end.
    pub async fn wait(&self, name: &str) {
        let task = self.entry(name).ok().and_then(|e| lock(&e.run).task.take());
        if let Some(t) = task {
            let _ = t.await;
        }
    }

    fn spawn(&self, e: &Entry) {
        let cancel = CancellationToken::new();
        let mut run = lock(&e.run);
        if run.state.is_some_and(StageState::is_active) {
            return;
        }
        run.state = Some(StageState::Starting);
        run.cancel = Some(cancel.clone());
        let waits = e
            .stage
            .conditions()
            .into_iter()
            .filter_map(|(dep, cond)| {
                let d = self.entry(&dep).ok()?;
                Some(Wait {
                    name: dep,
                    condition: cond,
                    run: d.run.clone(),
                    metrics: d.metrics.clone(),
                })
            })
            .collect();
        let runner = Runner {
            waits,
            stage: e.stage.clone(),
            metrics: e.metrics.clone(),
            log: e.log.clone(),
            run: e.run.clone(),
            pipeline: self.pipeline.clone(),
            backoff: self.backoff,
            cancel,
        };
        run.task = Some(tokio::spawn(runner.supervise()));
    }

    /// Status of every stage; also advances each stage's rate estimate.
    pub fn snapshot(&self) -> Vec<StageStatus> {
        let now = Instant::now();
        self.entries
            .iter()
            .map(|e| {
                let mut run = lock(&e.run);
                let output = e.metrics.output();
                if let (prev, Some(at)) = run.last_output {
                    let dt = now.duration_since(at).as_secs_f64();
                    if dt >= 0.5 {
                        let instant = output.saturating_sub(prev) as f64 / dt;
                        run.rate = if run.rate == 0.0 {
                            instant
                        } else {
                            0.5 * run.rate + 0.5 * instant
                        };
                        run.last_output = (output, Some(now));
                    }
                } else {
                    run.last_output = (output, Some(now));
                }
                let mut state = run.state.unwrap_or(StageState::Stopped);
                let stall = self.pipeline.settings.control.stall_after;
                let waited = e.metrics.waiting_for();
                if matches!(state, StageState::Running | StageState::BackingOff)
                    && stall.zip(waited).is_some_and(|(limit, w)| w >= limit)
                {
                    state = StageState::Stalled;
                }
                StageStatus {
                    name: e.stage.name().to_string(),
                    kind: e.stage.kind(),
                    state,
                    uptime: run.since.filter(|_| state.is_active()).map(|s| now - s),
                    input: e.metrics.input(),
                    output,
                    rate: if state.is_active() { run.rate } else { 0.0 },
                    errors: e.metrics.errors(),
                    restarts: run.restarts,
                    last_error: e.metrics.last_error(),
                    detail: match waited {
                        Some(w) if state == StageState::Stalled => format!(
                            "nothing committed for {}s while input waits · {}",
                            w.as_secs(),
                            e.metrics.detail()
                        ),
                        _ => e.metrics.detail(),
                    },
                    depends_on: e.stage.depends_on(),
                    latency: e.metrics.latency(),
                    read_version: e.metrics.read_version(),
                }
            })
            .collect()
    }
}

/// A dependency condition to hold before a stage starts.
struct Wait {
    name: String,
    condition: Condition,
    run: Arc<Mutex<RunState>>,
    metrics: Arc<StageMetrics>,
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
struct Runner {
    waits: Vec<Wait>,
    stage: Arc<dyn Stage>,
    metrics: Arc<StageMetrics>,
    log: LogBuffer,
    run: Arc<Mutex<RunState>>,
    pipeline: Arc<Pipeline>,
    backoff: Backoff,
    cancel: CancellationToken,
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

    async fn supervise(self) {
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

#[cfg(test)]
mod tests;
