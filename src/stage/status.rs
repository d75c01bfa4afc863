//! What the supervisor publishes about each stage (a plain snapshot: panes never lock stages).

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageState {
    Stopped,
    Starting,
    Running,
    Stopping,
    Failed,
    BackingOff,
    Completed,
    /// Running, but data waits while nothing was committed for `[status] stall_seconds`.
    Stalled,
    /// A stage of another process whose heartbeats stopped.
    Lost,
    /// A stage of another process that has exited: history, listed for a while.
    Exited,
}

impl StageState {
    pub fn label(self) -> &'static str {
        match self {
            StageState::Stopped => "stopped",
            StageState::Starting => "starting",
            StageState::Running => "running",
            StageState::Stopping => "stopping",
            StageState::Failed => "failed",
            StageState::BackingOff => "backing off",
            StageState::Completed => "completed",
            StageState::Stalled => "stalled",
            StageState::Lost => "lost",
            StageState::Exited => "exited",
        }
    }

    /// Running in any sense: a run task exists.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            StageState::Starting
                | StageState::Running
                | StageState::Stopping
                | StageState::BackingOff
                | StageState::Stalled
        )
    }

    /// The state a label names (a remote stage's report).
    pub fn from_label(label: &str) -> Option<StageState> {
        use StageState::*;
        [
            Stopped, Starting, Running, Stopping, Failed, BackingOff, Completed, Stalled, Lost,
            Exited,
        ]
        .into_iter()
        .find(|s| s.label() == label)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StageStatus {
    pub name: String,
    pub kind: &'static str,
    pub state: StageState,
    pub uptime: Option<Duration>,
    pub input: u64,
    pub output: u64,
    /// Output per second over the last snapshot interval.
    pub rate: f64,
    pub errors: u64,
    pub restarts: u32,
    pub last_error: Option<String>,
    pub detail: String,
    pub depends_on: Vec<String>,
    /// From a tweet entering the bus to this stage making it count (p50 / p99, last 30 s).
    pub latency: Option<crate::latency::LatencySummary>,
    /// The bronze table version it has handled (stages that read the lake).
    pub read_version: Option<i64>,
}
