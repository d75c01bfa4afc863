//! Consumer group member with manual commits and rebalance-safe flushing.
//!
//! Broker trouble is watched through librdkafka's statistics: a group coordinator that cannot
//! be reached (or a paused broker that leaves requests unanswered) shows as the consumer's
//! waiting reason ([`super::report::consumer_waiting`]) within seconds. A member that does not
//! get back to consuming once a broker answers again (its group never settles, or it reads
//! nothing while its partitions have messages) is replaced by a new consumer that joins the
//! group afresh. Offset commits never block for more than a few seconds.

mod context;
mod stuck;
mod watch;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::FutureExt;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers as _, Message as _};
use rdkafka::{Offset, TopicPartitionList};

use super::report::GroupWatch;
use super::stats;
use super::{client_config, HealthCell};
use crate::bus::{BusError, Consumer, Message, Offsets, RevokeHook};
use crate::config::KafkaSettings;
use context::{join, GroupContext};
use stuck::Stuck;

/// An offset commit (only a copy for monitoring, for the stages that keep their own
/// positions) is not waited for longer than this.
const COMMIT_WAIT: Duration = Duration::from_secs(5);

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
            // When its local queue passes its size limit (64 MB: ~10k tweets), librdkafka
            // pauses fetching for this long (default 1 s); bronze drains the queue in well
            // under that and then waited, capping it at ~16k tweets/s. `properties.*` wins.
            .set("fetch.queue.backoff.ms", "10")
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
