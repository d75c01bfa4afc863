//! After each poll: why the consumer waits (published for the stages), the metadata probe
//! through a fresh client, and replacing a member that does not get back to consuming.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::KafkaError;

use super::context::join;
use super::stuck::Stuck;
use super::KafkaConsumer;
use crate::bus::BusError;

/// Client errors older than this are not quoted.
const RECENT: Duration = Duration::from_secs(30);
/// While the group has not settled, the cluster is asked for metadata this often, through a
/// fresh client: the member's own connections may be the broken part (after a broker was
/// paused for 30 s librdkafka stayed in `query-coord` for good, its own metadata requests
/// unanswered), so whether the cluster answers is asked of a client that holds no state.
const PROBE_EVERY: Duration = Duration::from_secs(15);

/// Asks the cluster for `topic`'s metadata through a new client that is in no group.
fn probe_metadata(config: &ClientConfig, topic: &str) -> Result<(), KafkaError> {
    let client: BaseConsumer = config.create()?;
    client
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .map(drop)
}

impl KafkaConsumer {
    /// After each poll: publishes why the consumer waits (if it does), and replaces a member
    /// that does not get back to consuming.
    pub(super) fn watch(&mut self, read_nothing: bool) -> Result<(), BusError> {
        let ctx = self.consumer.context();
        let now = Instant::now();
        let (why, settled, answers, starving, join_state) = {
            let v = ctx.view.lock().unwrap_or_else(|p| p.into_inner());
            let trouble = match (&v.coordinator, &v.brokers) {
                (Some(c), _) => Some(format!("coordinator unreachable: {c}")),
                // A paused broker leaves every request waiting, fetches included.
                (None, Some(b)) => Some(format!("broker unreachable: {b}")),
                (None, None) => None,
            };
            let assigned = ctx.assigned.lock().unwrap_or_else(|p| p.into_inner());
            let starving = read_nothing && v.lagging.iter().any(|p| assigned.contains(p));
            (
                trouble,
                v.settled,
                v.answers,
                starving,
                v.join_state.clone(),
            )
        };
        let why = why.map(|t| {
            let last = ctx
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
                .filter(|(at, _)| at.elapsed() < RECENT)
                .map(|(_, e)| format!("; {e}"))
                .unwrap_or_default();
            format!("{t}{last}")
        });
        if why.is_some() != self.shown.is_some() {
            match &why {
                Some(w) => {
                    tracing::warn!(group = %self.group, topic = %self.topic, "kafka consumer: {w}")
                }
                None => {
                    tracing::info!(group = %self.group, topic = %self.topic, "kafka consumer: the group coordinator answers again")
                }
            }
        }
        if why != self.shown {
            self.watch.set(why.clone());
            self.shown = why;
        }
        let unsettled = settled == Some(false);
        let answers = answers || self.cluster_answers(now, unsettled);
        if let Some(stuck) = self.stuck.observe(now, answers, unsettled, starving) {
            self.rejoin(&format!("{stuck} ({join_state})"))?;
        }
        Ok(())
    }

    /// While the group has not settled: whether a metadata probe (sent at most every
    /// [`PROBE_EVERY`] through a fresh client, on a blocking thread) got an answer lately.
    fn cluster_answers(&mut self, now: Instant, unsettled: bool) -> bool {
        if !unsettled {
            self.probe_sent = None;
            return false;
        }
        if self.probe_sent.is_none_or(|t| now - t >= PROBE_EVERY) {
            self.probe_sent = Some(now);
            let config = self.probe_config.clone();
            let (topic, group) = (self.topic.clone(), self.group.clone());
            let (answered, logged) = (self.probe_answered.clone(), self.probe_logged.clone());
            tokio::task::spawn_blocking(move || {
                let outcome = probe_metadata(&config, &topic);
                if outcome.is_ok() {
                    *answered.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                }
                let mut last = logged.lock().unwrap_or_else(|p| p.into_inner());
                if *last != Some(outcome.is_ok()) {
                    *last = Some(outcome.is_ok());
                    match outcome {
                        Ok(()) => {
                            tracing::warn!(%group, %topic, "kafka consumer: the group waits, but the cluster answers a fresh client")
                        }
                        Err(e) => {
                            tracing::warn!(%group, %topic, error = %e, "kafka consumer: the group waits and the cluster does not answer a fresh client")
                        }
                    }
                }
            });
        }
        self.probe_answered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|t| now.saturating_duration_since(t) < 2 * PROBE_EVERY)
    }

    /// Replaces the member: the stage forgets what it holds of its partitions (as on a
    /// revocation), the old member leaves the group and a new one joins.
    fn rejoin(&mut self, why: &str) -> Result<(), BusError> {
        tracing::warn!(group = %self.group, topic = %self.topic, "kafka consumer: {why}: joining the group again with a new consumer");
        let old_ctx = self.consumer.context();
        let lost: Vec<i32> = old_ctx
            .assigned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect();
        let mut hook = old_ctx
            .hook
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = hook.as_mut() {
            // Nothing can be committed through the member being replaced.
            let _ = h(&lost);
        }
        let revocations = old_ctx.revocations.load(Ordering::SeqCst) + 1;
        let fresh = join(&self.config, &self.topic, &self.health, revocations)?;
        *fresh
            .context()
            .hook
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = hook;
        let old = std::mem::replace(&mut self.consumer, Arc::new(fresh));
        // Closing leaves the group, which may wait for a coordinator that never answers this
        // member: on a thread of its own, which the process does not wait for at exit (the
        // runtime's blocking pool would hold the exit until the close returns).
        let _ = std::thread::Builder::new()
            .name("kafka-close".into())
            .spawn(move || drop(old));
        self.stuck = Stuck::default();
        self.probe_sent = None;
        *self.probe_logged.lock().unwrap_or_else(|p| p.into_inner()) = None;
        *self
            .probe_answered
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
        Ok(())
    }
}
