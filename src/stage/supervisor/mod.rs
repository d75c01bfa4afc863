//! Starts, stops and restarts stages; applies restart policies with backoff; publishes status.
//!
//! Every call returns at once (the TUI calls it from its event loop): work happens on the
//! spawned run tasks, which update a shared status the snapshots read.

mod runner;
mod snapshot;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{LogBuffer, Pipeline, Stage, StageMetrics, StageState};
use crate::backoff::Backoff;
use runner::{Runner, Wait};

pub use runner::error_text;

/// Lines kept per stage log.
const LOG_LINES: usize = 2000;

/// Stages that write the bronze table, stopped (and flushed) first on shutdown.
const UPSTREAM: [&str; 2] = ["source", "bronze"];

/// How long, at shutdown, the lake's readers may take to handle bronze's last commit.
const READER_GRACE: Duration = Duration::from_secs(3);

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

    /// Stops every stage and waits until all have flushed (or `timeout` passed). The writers
    /// of bronze stop first; the lake's readers then get up to [`READER_GRACE`] to handle
    /// bronze's last commit, so silver and the trending counts end where bronze does.
    pub async fn shutdown(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        let upstream = |e: &Entry| UPSTREAM.contains(&e.stage.name());
        self.stop_and_join(upstream, deadline).await;
        let last = self
            .entry("bronze")
            .ok()
            .and_then(|e| e.metrics.write_version());
        if let Some(last) = last {
            let grace = deadline.min(tokio::time::Instant::now() + READER_GRACE);
            while !self.readers_reached(last) && tokio::time::Instant::now() < grace {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        self.stop_and_join(|_| true, deadline).await;
    }

    /// Stops the stages `pick` chooses and waits for them to flush (until `deadline`).
    async fn stop_and_join(&self, pick: impl Fn(&Entry) -> bool, deadline: tokio::time::Instant) {
        let picked = || self.entries.iter().filter(|e| pick(e));
        for e in picked() {
            let _ = self.stop(e.stage.name());
        }
        let tasks: Vec<JoinHandle<()>> =
            picked().filter_map(|e| lock(&e.run).task.take()).collect();
        let _ = tokio::time::timeout_at(deadline, futures::future::join_all(tasks)).await;
    }

    /// True when every running stage that reads the bronze table has handled `version`.
    fn readers_reached(&self, version: i64) -> bool {
        self.entries.iter().all(|e| {
            let running = lock(&e.run).state == Some(StageState::Running);
            !running || e.metrics.read_version().is_none_or(|r| r >= version)
        })
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
}

#[cfg(test)]
mod tests;
