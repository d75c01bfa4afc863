//! Runs in every process: publishes its stages' status every interval and executes the
//! commands addressed to it (answering each with an ack).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{now_ms, Ack, Action, Channel, Command, StageReport};
use crate::stage::{StageState, StageStatus, Supervisor};

pub struct Agent {
    pub instance: String,
    pub host: String,
    pub pid: u32,
    pub channel: Arc<dyn Channel>,
}

impl Agent {
    /// Publishes until `cancel`, then once more with every stage `exited`.
    pub fn spawn(
        self: Arc<Self>,
        sup: Arc<Supervisor>,
        every: Duration,
        cancel: CancellationToken,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut touched = BTreeSet::new();
            let mut tick = tokio::time::interval(every);
            let mut last_error: Option<String> = None;
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let statuses = sup.snapshot();
                touched.extend(
                    statuses
                        .iter()
                        .filter(|s| s.state != StageState::Stopped)
                        .map(|s| s.name.clone()),
                );
                let reports: Vec<StageReport> = statuses
                    .iter()
                    .filter(|s| touched.contains(&s.name))
                    .map(|s| self.report(s, None))
                    .collect();
                let published = self.channel.publish(&reports).await;
                match (&published, &last_error) {
                    (Err(e), None) => {
                        tracing::warn!(error = %e, via = %self.channel.describe(), "publishing stage status failed");
                        last_error = Some(e.to_string());
                    }
                    (Ok(()), Some(_)) => {
                        tracing::info!("publishing stage status again");
                        last_error = None;
                    }
                    _ => {}
                }
                match self.channel.commands(&self.instance).await {
                    Ok(commands) => {
                        for c in commands {
                            touched.insert(c.stage.clone());
                            self.execute(&sup, c).await;
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "reading commands failed"),
                }
            }
            let last: Vec<StageReport> = sup
                .snapshot()
                .iter()
                .filter(|s| touched.contains(&s.name))
                .map(|s| self.report(s, Some("exited")))
                .collect();
            let _ = self.channel.publish(&last).await;
        })
    }

    fn report(&self, s: &StageStatus, state: Option<&str>) -> StageReport {
        StageReport {
            instance: self.instance.clone(),
            host: self.host.clone(),
            pid: self.pid,
            stage: s.name.clone(),
            state: state.unwrap_or(s.state.label()).to_string(),
            uptime_s: s.uptime.map(|u| u.as_secs_f64()),
            input: s.input,
            output: s.output,
            rate: s.rate,
            errors: s.errors,
            restarts: s.restarts,
            last_error: s.last_error.clone(),
            detail: s.detail.clone(),
            sent_ms: now_ms(),
            latency: s.latency,
            read_version: s.read_version,
        }
    }

    async fn execute(&self, sup: &Arc<Supervisor>, c: Command) {
        tracing::info!(stage = %c.stage, action = c.action.verb(), id = %c.id, "remote command");
        let result = match c.action {
            Action::Stop => sup
                .stop(&c.stage)
                .map(|()| "stopping (flushing)".to_string()),
            Action::Start => sup.start_only(&c.stage).map(|started| {
                if started {
                    "started".to_string()
                } else {
                    "already running".to_string()
                }
            }),
            Action::Restart => sup.restart(&c.stage).map(|()| "restarting".to_string()),
        };
        let ack = Ack {
            id: c.id,
            instance: self.instance.clone(),
            stage: c.stage,
            ok: result.is_ok(),
            message: result.unwrap_or_else(|e| e.to_string()),
        };
        if let Err(e) = self.channel.ack(&ack).await {
            tracing::warn!(error = %e, "acknowledging a remote command failed");
        }
    }
}
