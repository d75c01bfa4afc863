//! Consumer group member with manual commits and rebalance-safe flushing.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::FutureExt;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers as _, Message as _};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::{client_config, HealthCell};
use crate::bus::{BusError, Consumer, Message, Offsets, RevokeHook};
use crate::config::KafkaSettings;

/// Rebalance and error callbacks (run inside `recv`, on the consuming task).
struct GroupContext {
    topic: String,
    hook: Mutex<Option<RevokeHook>>,
    assigned: Mutex<BTreeSet<i32>>,
    /// Bumped on every revocation, so a batch being built can drop what it no longer owns.
    revocations: std::sync::atomic::AtomicU64,
    health: HealthCell,
}

impl ClientContext for GroupContext {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(error = %error, reason, "kafka consumer");
        self.health.error(format!("{error}: {reason}"));
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
        self.revocations
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
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

pub struct KafkaConsumer {
    consumer: Arc<StreamConsumer<GroupContext>>,
    topic: String,
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
            .set("session.timeout.ms", "10000");
        for (k, v) in &s.properties {
            c.set(k, v);
        }
        let context = GroupContext {
            topic: topic.to_string(),
            hook: Mutex::new(None),
            assigned: Mutex::default(),
            revocations: Default::default(),
            health,
        };
        let consumer: StreamConsumer<GroupContext> = c
            .create_with_context(context)
            .map_err(|e| BusError::Broker(e.to_string()))?;
        consumer
            .subscribe(&[topic])
            .map_err(|e| BusError::Broker(e.to_string()))?;
        Ok(KafkaConsumer {
            consumer: Arc::new(consumer),
            topic: topic.to_string(),
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
}

#[async_trait]
impl Consumer for KafkaConsumer {
    async fn poll(&mut self, max: usize, timeout: Duration) -> Result<Vec<Message>, BusError> {
        let ctx = self.consumer.context();
        let generation = ctx.revocations.load(std::sync::atomic::Ordering::SeqCst);
        let mut out = Vec::new();
        match tokio::time::timeout(timeout, self.consumer.recv()).await {
            Err(_) => return Ok(out),
            // Broker trouble is transient: report it, deliver nothing, keep polling.
            Ok(Err(e @ KafkaError::MessageConsumption(_))) => {
                ctx.health.error(e.to_string());
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
        if ctx.revocations.load(std::sync::atomic::Ordering::SeqCst) != generation {
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
        let consumer = self.consumer.clone();
        let topic = self.topic.clone();
        tokio::task::spawn_blocking(move || {
            let mut tpl = TopicPartitionList::new();
            for (p, o) in &offsets {
                tpl.add_partition_offset(&topic, *p, Offset::Offset(*o))
                    .map_err(|e| BusError::Broker(e.to_string()))?;
            }
            consumer
                .commit(&tpl, CommitMode::Sync)
                .map_err(|e| BusError::Broker(format!("commit: {e}")))
        })
        .await
        .map_err(|e| BusError::Broker(e.to_string()))?
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
