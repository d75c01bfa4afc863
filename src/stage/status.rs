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
        )
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
}
