//! The control centre's view of other processes' stages: the newest report per stage, `lost`
//! when its heartbeats stopped, and the outcome of commands sent to them. Refreshed by a
//! background task; the event loop only reads a snapshot (it never waits on I/O).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{now_ms, Action, Channel, Command, StageReport};

/// A stage of another process, as the Stages pane lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteStage {
    /// `stage@host` (`stage@host:pid` when a host runs it twice).
    pub name: String,
    pub report: StageReport,
    /// No heartbeat for longer than the lost timeout.
    pub lost: bool,
}

#[derive(Default)]
struct State {
    /// Per `instance/stage`: the report and when its `sent_ms` last changed here.
    seen: HashMap<String, (StageReport, Instant)>,
    /// Commands sent and not answered: id -> what the screen says.
    pending: HashMap<String, (String, Instant)>,
    /// Outcomes of commands (newest last), for the status line.
    outcomes: Vec<(String, bool)>,
    /// Receive time minus send time of the newest heartbeats (ms).
    delay_ms: Option<i64>,
    error: Option<String>,
}

pub struct RemoteView {
    channel: Arc<dyn Channel>,
    /// This process (its own stages are shown from its supervisor).
    instance: String,
    lost_after: Duration,
    state: Arc<Mutex<State>>,
}

/// A stage silent for this long is no longer listed (a process killed long ago).
const FORGET: Duration = Duration::from_secs(600);

/// Commands unanswered after this are reported as such.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

impl RemoteView {
    /// Starts the refresh task (every `every`).
    pub fn spawn(
        channel: Arc<dyn Channel>,
        instance: String,
        every: Duration,
        lost_after: Duration,
    ) -> Arc<RemoteView> {
        let view = Arc::new(RemoteView {
            channel,
            instance,
            lost_after,
            state: Arc::default(),
        });
        let weak = Arc::downgrade(&view);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every.min(Duration::from_millis(500)));
            loop {
                tick.tick().await;
                let Some(view) = weak.upgrade() else { return };
                view.refresh().await;
            }
        });
        view
    }

    async fn refresh(&self) {
        let reports = self.channel.reports().await;
        let acks = self.channel.acks().await.unwrap_or_default();
        let mut st = self.lock();
        match reports {
            Ok(reports) => {
                st.error = None;
                let now = now_ms();
                for r in reports.into_iter().filter(|r| r.instance != self.instance) {
                    let key = format!("{}/{}", r.instance, r.stage);
                    let fresh = st
                        .seen
                        .get(&key)
                        .is_none_or(|(old, _)| old.sent_ms != r.sent_ms);
                    if fresh {
                        st.delay_ms = Some((now - r.sent_ms).max(0));
                        st.seen.insert(key, (r, Instant::now()));
                    }
                }
            }
            Err(e) => st.error = Some(e.to_string()),
        }
        for a in acks {
            if let Some((what, _)) = st.pending.remove(&a.id) {
                let text = if a.ok {
                    format!("{what}: {}", a.message)
                } else {
                    format!("{what} failed: {}", a.message)
                };
                st.outcomes.push((text, a.ok));
            }
        }
        let expired: Vec<String> = st
            .pending
            .iter()
            .filter(|(_, (_, at))| at.elapsed() > ACK_TIMEOUT)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Some((what, _)) = st.pending.remove(&id) {
                st.outcomes.push((
                    format!("{what}: no answer in {}s", ACK_TIMEOUT.as_secs()),
                    false,
                ));
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every remote stage, by name; a report older than the lost timeout (by its arrival
    /// here, or by the sender's clock with a minute's slack) is `lost`.
    pub fn stages(&self) -> Vec<RemoteStage> {
        let st = self.lock();
        let now = now_ms();
        let mut rows: Vec<RemoteStage> = st
            .seen
            .values()
            .filter(|(r, at)| at.elapsed() < FORGET && now - r.sent_ms < FORGET.as_millis() as i64)
            .map(|(r, at)| {
                let stale = at.elapsed() > self.lost_after
                    || now - r.sent_ms > (self.lost_after.as_millis() as i64 + 60_000);
                RemoteStage {
                    name: format!("{}@{}", r.stage, r.host),
                    lost: stale && r.state != "exited",
                    report: r.clone(),
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            (&a.report.stage, &a.report.host, a.report.pid).cmp(&(
                &b.report.stage,
                &b.report.host,
                b.report.pid,
            ))
        });
        let mut count: HashMap<String, usize> = HashMap::new();
        for r in &rows {
            *count.entry(r.name.clone()).or_default() += 1;
        }
        for r in &mut rows {
            if count[&r.name] > 1 {
                r.name = format!("{}:{}", r.name, r.report.pid);
            }
        }
        rows
    }

    /// Sends `action` to the stage listed as `name`; the outcome shows in [`Self::outcomes`].
    pub fn command(&self, name: &str, action: Action) -> Result<String, String> {
        let Some(row) = self.stages().into_iter().find(|r| r.name == name) else {
            return Err(format!("no remote stage {name}"));
        };
        if row.report.state == "exited" {
            return Err(format!(
                "{name}: its process (pid {}) has exited; start it again on {} (`ssp-tui run {}`)",
                row.report.pid, row.report.host, row.report.stage
            ));
        }
        let c = Command {
            id: format!("{:016x}", rand::random::<u64>()),
            instance: row.report.instance.clone(),
            stage: row.report.stage.clone(),
            action,
        };
        let what = format!("{} {name}", action.verb());
        self.lock()
            .pending
            .insert(c.id.clone(), (what.clone(), Instant::now()));
        let channel = self.channel.clone();
        let state = self.state.clone();
        let reply = format!("{what}: sent, waiting for its process to answer");
        tokio::spawn(async move {
            if let Err(e) = channel.send(&c).await {
                let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                st.pending.remove(&c.id);
                st.outcomes.push((format!("{what}: not sent: {e}"), false));
            }
        });
        Ok(reply)
    }

    /// Command outcomes since the last call (text, ok).
    pub fn take_outcomes(&self) -> Vec<(String, bool)> {
        std::mem::take(&mut self.lock().outcomes)
    }

    /// Receive minus send time of the newest heartbeat, in ms.
    pub fn heartbeat_delay_ms(&self) -> Option<i64> {
        self.lock().delay_ms
    }

    pub fn error(&self) -> Option<String> {
        self.lock().error.clone()
    }

    pub fn describe(&self) -> String {
        self.channel.describe()
    }
}
