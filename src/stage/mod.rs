//! Stages: the units the supervisor starts, stops and restarts.
//!
//! A stage is a name, its dependencies and one async `run` that returns when it is cancelled,
//! fails, or has drained (its input is finished and everything it took is flushed).

pub mod bronze;
pub mod classify;
pub mod collect;
pub mod command;
pub mod context;
pub mod ner;
pub mod registry;
pub mod source;
pub mod status;
pub mod supervisor;
pub mod trending;

use async_trait::async_trait;

pub use crate::report::{log_buffer, metrics};
pub use crate::report::{LogBuffer, LogLine, LogStream, StageMetrics};
pub use context::{Completed, Pipeline, StageContext, TopicEnd};
pub use status::{StageState, StageStatus};
pub use supervisor::Supervisor;

use crate::config::RestartPolicy;

/// How a run ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Stopped on request, after flushing.
    Cancelled,
    /// Input finished and everything flushed and committed.
    Drained,
}

#[async_trait]
pub trait Stage: Send + Sync {
    fn name(&self) -> &str;
    /// "built-in" or "command": shown in the Stages pane.
    fn kind(&self) -> &'static str;
    /// Stages that must be running (or completed) before this one starts.
    fn depends_on(&self) -> Vec<String> {
        Vec::new()
    }
    /// The dependencies that can only run in this same process (the producer of an embedded
    /// bus); every other dependency may run elsewhere and is waited for, not started.
    fn in_process_dependencies(&self) -> Vec<String> {
        Vec::new()
    }
    /// When this stage may start after each dependency (default: once it runs).
    fn conditions(&self) -> Vec<(String, crate::config::Condition)> {
        self.depends_on()
            .into_iter()
            .map(|d| (d, crate::config::Condition::Started))
            .collect()
    }
    /// Restarts the policy may make before the stage is left failed (`None`: no limit).
    fn max_restarts(&self) -> Option<u32> {
        None
    }
    /// True when the stage reports readiness itself (else it is ready once it runs).
    fn reports_ready(&self) -> bool {
        false
    }
    fn restart_policy(&self) -> RestartPolicy {
        RestartPolicy::OnFailure
    }
    async fn run(&self, ctx: StageContext) -> anyhow::Result<Exit>;
}
