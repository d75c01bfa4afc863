//! What the status panes show of every stage: its state (stalled when input waits and
//! nothing is committed), counters, and a smoothed output rate.

use std::time::Instant;

use super::{lock, Supervisor};
use crate::stage::{StageState, StageStatus};

impl Supervisor {
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
