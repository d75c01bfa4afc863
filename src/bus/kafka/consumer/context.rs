//! The group member's librdkafka context: rebalance callbacks that commit what is held for
//! revoked partitions, error and statistics callbacks, and joining the group.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::bus::kafka::stats::Stats;
use crate::bus::kafka::HealthCell;
use crate::bus::{BusError, Offsets, RevokeHook};

/// What the last statistics said.
#[derive(Default)]
pub(super) struct View {
    pub(super) coordinator: Option<String>,
    pub(super) brokers: Option<String>,
    pub(super) settled: Option<bool>,
    pub(super) join_state: String,
    pub(super) answers: bool,
    pub(super) lagging: Vec<i32>,
}

/// Rebalance, error and statistics callbacks (run inside `recv`, on the consuming task).
pub(super) struct GroupContext {
    pub(super) topic: String,
    pub(super) hook: Mutex<Option<RevokeHook>>,
    pub(super) assigned: Mutex<BTreeSet<i32>>,
    /// Bumped on every revocation, so a batch being built can drop what it no longer owns.
    pub(super) revocations: AtomicU64,
    pub(super) health: HealthCell,
    pub(super) view: Mutex<View>,
    pub(super) last_error: Mutex<Option<(Instant, String)>>,
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

/// A group member subscribed to `topic`.
pub(super) fn join(
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
