//! Consumer group member with manual commits and rebalance-safe flushing.
//!
//! Broker trouble is watched through librdkafka's statistics: a group coordinator that cannot
//! be reached (or a paused broker that leaves requests unanswered) shows as the consumer's
//! waiting reason ([`super::report::consumer_waiting`]) within seconds. A member that does not
//! get back to consuming once a broker answers again (its group never settles, or it reads
//! nothing while its partitions have messages) is replaced by a new consumer that joins the
//! group afresh. Offset commits never block for more than a few seconds.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::FutureExt;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers as _, Message as _};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::report::GroupWatch;
use super::stats::{self, Stats};
use super::{client_config, HealthCell};
use crate::bus::{BusError, Consumer, Message, Offsets, RevokeHook};
use crate::config::KafkaSettings;

/// An offset commit (only a copy for monitoring, for the stages that keep their own
/// positions) is not waited for longer than this.
const COMMIT_WAIT: Duration = Duration::from_secs(5);
/// A member whose group has not settled, or that reads nothing while its partitions have
/// messages, for this long while a broker answers is replaced by a new consumer.
const STUCK: Duration = Duration::from_secs(60);
/// Client errors older than this are not quoted.
const RECENT: Duration = Duration::from_secs(30);
/// While the group has not settled, the cluster is asked for metadata this often, through a
/// fresh client: the member's own connections may be the broken part (after a broker was
/// paused for 30 s librdkafka stayed in `query-coord` for good, its own metadata requests
/// unanswered), so whether the cluster answers is asked of a client that holds no state.
const PROBE_EVERY: Duration = Duration::from_secs(15);

/// What the last statistics said.
#[derive(Default)]
struct View {
    coordinator: Option<String>,
    brokers: Option<String>,
    settled: Option<bool>,
    join_state: String,
    answers: bool,
    lagging: Vec<i32>,
}

/// Rebalance, error and statistics callbacks (run inside `recv`, on the consuming task).
struct GroupContext {
    topic: String,
    hook: Mutex<Option<RevokeHook>>,
    assigned: Mutex<BTreeSet<i32>>,
    /// Bumped on every revocation, so a batch being built can drop what it no longer owns.
    revocations: AtomicU64,
    health: HealthCell,
    view: Mutex<View>,
    last_error: Mutex<Option<(Instant, String)>>,
}

impl ClientContext for GroupContext {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(error = %error, reason, "kafka consumer");
        self.health.error(format!("{error}: {reason}"));
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), reason.to_string()));
    }

    fn stats_raw(&self, raw: &[u8]) {
        let Some(s) = Stats::parse(raw) else { return };
        *self.view.lock().unwrap_or_else(|p| p.into_inner()) = View {
            coordinator: s.coordinator_trouble(),
            brokers: s.broker_trouble(),
            settled: s.group_settled(),
            join_state: s.join_state(),
            answers: s.a_broker_answers(),
            lagging: s.lagging(&self.topic),
        };
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let lost: Vec<i32> = tpl
            .elements()
            .iter()
            .filter(|e| e.topic() == self.topic)
            .map(|e| e.partition())
            .collect();
        self.revocations.fetch_add(1, Ordering::SeqCst);
        // Make durable and commit what we hold for these partitions before they move.
        let offsets = match self.hook.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            Some(hook) => hook(&lost),
            None => Offsets::new(),
        };
        if !offsets.is_empty() {
            if let Err(e) = commit_sync(consumer, &self.topic, &offsets) {
                tracing::warn!(error = %e, "commit on revoke failed");
            }
        }
        let mut assigned = self.assigned.lock().unwrap_or_else(|p| p.into_inner());
        for p in lost {
            assigned.remove(&p);
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let mut assigned = self.assigned.lock().unwrap_or_else(|p| p.into_inner());
            assigned.clear();
            assigned.extend(
                tpl.elements()
                    .iter()
                    .filter(|e| e.topic() == self.topic)
                    .map(|e| e.partition()),
            );
            tracing::info!(partitions = ?*assigned, "assigned");
            self.health.mark_up();
        }
    }
}

fn commit_sync<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    offsets: &Offsets,
) -> Result<(), KafkaError> {
    let mut tpl = TopicPartitionList::new();
    for (p, o) in offsets {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*o))?;
    }
    consumer.commit(&tpl, CommitMode::Sync)
}

/// Asks the cluster for `topic`'s metadata through a new client that is in no group.
fn probe_metadata(config: &ClientConfig, topic: &str) -> Result<(), KafkaError> {
    let client: BaseConsumer = config.create()?;
    client
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .map(drop)
}

/// A group member subscribed to `topic`.
fn join(
    config: &ClientConfig,
    topic: &str,
    health: &HealthCell,
    revocations: u64,
) -> Result<StreamConsumer<GroupContext>, BusError> {
    let context = GroupContext {
        topic: topic.to_string(),
        hook: Mutex::new(None),
        assigned: Mutex::default(),
        revocations: AtomicU64::new(revocations),
        health: health.clone(),
        view: Mutex::default(),
        last_error: Mutex::default(),
    };
    let consumer: StreamConsumer<GroupContext> = config
        .create_with_context(context)
        .map_err(|e| BusError::Broker(e.to_string()))?;
    consumer
        .subscribe(&[topic])
        .map_err(|e| BusError::Broker(e.to_string()))?;
    Ok(consumer)
}

/// Decides when a member that does not get back to consuming is replaced: its group has not
/// settled, or it has read nothing while its partitions have messages, for [`STUCK`] while a
/// broker answers (librdkafka rejoins by itself in most cases; this is for the others).
#[derive(Debug, Default)]
struct Stuck {
    unsettled: Option<Instant>,
    starved: Option<Instant>,
}

impl Stuck {
    /// One observation (after a poll); why to replace the member, when it is time to.
    fn observe(
        &mut self,
        now: Instant,
        answers: bool,
        unsettled: bool,
        starving: bool,
    ) -> Option<String> {
        let since = |s: &mut Option<Instant>, on: bool| {
            *s = (on && answers).then(|| s.unwrap_or(now));
            s.map(|t| now - t).filter(|d| *d >= STUCK)
        };
        let unsettled = since(&mut self.unsettled, unsettled);
        let starved = since(&mut self.starved, starving);
        match (unsettled, starved) {
            (Some(d), _) => Some(format!("the group has not settled for {} s", d.as_secs())),
            (None, Some(d)) => Some(format!(
                "nothing read for {} s while its partitions have messages",
                d.as_secs()
            )),
            (None, None) => None,
        }
    }
}

pub struct KafkaConsumer {
    consumer: Arc<StreamConsumer<GroupContext>>,
    config: ClientConfig,
    group: String,
    topic: String,
    health: HealthCell,
    /// Where the stages read why this consumer waits.
    watch: Arc<GroupWatch>,
    /// The waiting reason shown now.
    shown: Option<String>,
    /// When to replace a member that does not get back to consuming.
    stuck: Stuck,
    /// A commit is running (on a blocking thread, possibly waiting for the coordinator).
    committing: Arc<AtomicBool>,
    /// Settings for the metadata probe's fresh client (no group).
    probe_config: ClientConfig,
    /// When a metadata probe was last sent, and when one was last answered.
    probe_sent: Option<Instant>,
    probe_answered: Arc<Mutex<Option<Instant>>>,
    /// Whether the last probe answered (to log changes only).
    probe_logged: Arc<Mutex<Option<bool>>>,
}

impl KafkaConsumer {
    pub fn new(
        s: &KafkaSettings,
        group: &str,
        topic: &str,
        health: HealthCell,
    ) -> Result<Self, BusError> {
        let mut c = client_config(s);
        c.set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            // Group and broker state as librdkafka sees them (see `stats`).
            .set("statistics.interval.ms", stats::INTERVAL_MS);
        for (k, v) in &s.properties {
            c.set(k, v);
        }
        let consumer = join(&c, topic, &health, 0)?;
        let mut probe_config = client_config(s);
        probe_config.remove("group.instance.id");
        Ok(KafkaConsumer {
            consumer: Arc::new(consumer),
            config: c,
            group: group.to_string(),
            topic: topic.to_string(),
            health,
            watch: GroupWatch::register(group, topic),
            shown: None,
            stuck: Stuck::default(),
            committing: Arc::default(),
            probe_config,
            probe_sent: None,
            probe_answered: Arc::default(),
            probe_logged: Arc::default(),
        })
    }

    fn to_message(m: &rdkafka::message::BorrowedMessage<'_>) -> Message {
        Message {
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(Bytes::copy_from_slice),
            payload: Bytes::copy_from_slice(m.payload().unwrap_or_default()),
            timestamp_ms: m.timestamp().to_millis().unwrap_or(0),
            origin: m.headers().and_then(|h| {
                h.iter()
                    .find(|h| h.key == crate::bus::ORIGIN_HEADER)
                    .and_then(|h| h.value.map(Bytes::copy_from_slice))
            }),
        }
    }

    async fn read(&mut self, max: usize, timeout: Duration) -> Result<Vec<Message>, BusError> {
        let ctx = self.consumer.context();
        let generation = ctx.revocations.load(Ordering::SeqCst);
        let mut out = Vec::new();
        match tokio::time::timeout(timeout, self.consumer.recv()).await {
            Err(_) => return Ok(out),
            // Broker trouble is transient: report it, deliver nothing, keep polling.
            Ok(Err(e @ KafkaError::MessageConsumption(_))) => {
                ctx.health.error(e.to_string());
                *ctx.last_error.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((Instant::now(), e.to_string()));
                return Ok(out);
            }
            Ok(Err(e)) => return Err(BusError::Broker(e.to_string())),
            Ok(Ok(m)) => {
                ctx.health.mark_up();
                out.push(Self::to_message(&m));
            }
        }
        while out.len() < max {
            match self.consumer.recv().now_or_never() {
                Some(Ok(m)) => out.push(Self::to_message(&m)),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "kafka fetch");
                    break;
                }
                None => break,
            }
        }
        if ctx.revocations.load(Ordering::SeqCst) != generation {
            // A rebalance happened while this batch was read: keep only what we still own.
            let assigned = ctx
                .assigned
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            out.retain(|m| assigned.contains(&m.partition));
        }
        Ok(out)
    }

    /// After each poll: publishes why the consumer waits (if it does), and replaces a member
    /// that does not get back to consuming.
    fn watch(&mut self, read_nothing: bool) -> Result<(), BusError> {
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

#[async_trait]
impl Consumer for KafkaConsumer {
    async fn poll(&mut self, max: usize, timeout: Duration) -> Result<Vec<Message>, BusError> {
        let out = self.read(max, timeout).await?;
        self.watch(out.is_empty())?;
        Ok(out)
    }

    async fn commit(&mut self, offsets: &Offsets) -> Result<(), BusError> {
        if offsets.is_empty() {
            return Ok(());
        }
        // Partitions that moved away were committed when they were revoked.
        let assigned = self.assignment();
        let offsets: Offsets = offsets
            .iter()
            .filter(|(p, _)| assigned.contains(p))
            .map(|(p, o)| (*p, *o))
            .collect();
        if offsets.is_empty() {
            return Ok(());
        }
        if self.committing.swap(true, Ordering::SeqCst) {
            return Err(BusError::Broker(
                "offset commit skipped: the previous one still waits for the group coordinator"
                    .into(),
            ));
        }
        let consumer = self.consumer.clone();
        let topic = self.topic.clone();
        let busy = self.committing.clone();
        let group = self.group.clone();
        // A sync commit can wait for a coordinator that never answers this member: on a
        // thread of its own, which the process's exit does not wait for (tokio's blocking
        // pool would hold the exit).
        let (tx, task) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new().name("kafka-commit".into()).spawn(move || {
            let started = Instant::now();
            let mut tpl = TopicPartitionList::new();
            let r = offsets
                .iter()
                .try_for_each(|(p, o)| tpl.add_partition_offset(&topic, *p, Offset::Offset(*o)))
                .and_then(|()| consumer.commit(&tpl, CommitMode::Sync));
            busy.store(false, Ordering::SeqCst);
            if let Err(e) = &r {
                if started.elapsed() > COMMIT_WAIT {
                    tracing::warn!(%group, error = %e, "kafka consumer: a late offset commit failed");
                }
            }
            let _ = tx.send(r);
        });
        if let Err(e) = spawned {
            self.committing.store(false, Ordering::SeqCst);
            return Err(BusError::Broker(format!("commit: no thread for it: {e}")));
        }
        match tokio::time::timeout(COMMIT_WAIT, task).await {
            Ok(joined) => joined
                .map_err(|e| BusError::Broker(e.to_string()))?
                .map_err(|e| BusError::Broker(format!("commit: {e}"))),
            Err(_) => {
                let why = self
                    .shown
                    .clone()
                    .unwrap_or_else(|| "the group coordinator does not answer".into());
                tracing::warn!(group = %self.group, "kafka consumer: offset commit not confirmed within {} s, not waiting for it: {why}", COMMIT_WAIT.as_secs());
                Err(BusError::Broker(format!(
                    "offset commit not confirmed within {} s: {why}",
                    COMMIT_WAIT.as_secs()
                )))
            }
        }
    }

    fn assignment(&self) -> Vec<i32> {
        self.consumer
            .context()
            .assigned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect()
    }

    fn positions(&self) -> Offsets {
        self.consumer
            .position()
            .map(|tpl| {
                tpl.elements()
                    .iter()
                    .filter_map(|e| match e.offset() {
                        Offset::Offset(o) => Some((e.partition(), o)),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn seek(&mut self, partition: i32, offset: i64) -> Result<(), BusError> {
        let consumer = self.consumer.clone();
        let topic = self.topic.clone();
        tokio::task::spawn_blocking(move || {
            consumer
                .seek(
                    &topic,
                    partition,
                    Offset::Offset(offset),
                    Duration::from_secs(10),
                )
                .map_err(|e| BusError::Broker(format!("seek {topic}/{partition} to {offset}: {e}")))
        })
        .await
        .map_err(|e| BusError::Broker(e.to_string()))?
    }

    fn set_revoke_hook(&mut self, hook: RevokeHook) {
        *self
            .consumer
            .context()
            .hook
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_is_replaced_only_after_being_stuck_while_a_broker_answers() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut stuck = Stuck::default();
        // The broker is away for two minutes: waiting for it is not being stuck.
        for s in 0..120 {
            assert_eq!(stuck.observe(at(s), false, true, false), None);
        }
        // Back: librdkafka gets STUCK to rejoin by itself.
        assert_eq!(stuck.observe(at(120), true, true, false), None);
        assert_eq!(stuck.observe(at(179), true, true, false), None);
        assert_eq!(
            stuck.observe(at(180), true, true, false).as_deref(),
            Some("the group has not settled for 60 s")
        );
        // Settled and reading: nothing to do; reading nothing with messages waiting is.
        let mut stuck = Stuck::default();
        assert_eq!(stuck.observe(at(0), true, false, true), None);
        assert_eq!(stuck.observe(at(30), true, false, false), None, "it read");
        assert_eq!(stuck.observe(at(31), true, false, true), None);
        assert_eq!(
            stuck.observe(at(91), true, false, true).as_deref(),
            Some("nothing read for 60 s while its partitions have messages")
        );
    }
}
