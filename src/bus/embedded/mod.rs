//! In-process bus with Kafka's concepts: topics of partitions (append-only logs with offsets),
//! consumer groups with committed offsets, high watermarks for lag.
//!
//! Memory is bounded per partition by a message count and a byte count. When a partition is
//! full, messages every registered group has committed past are dropped; if some group still
//! needs the oldest message, the producer waits (back-pressure) instead of growing memory.

mod consumer;
mod producer;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use tokio::sync::watch;

use super::{Bus, BusError, Consumer, GroupLag, Message, Offsets, PartitionLag, Producer};
use consumer::EmbeddedConsumer;
use producer::EmbeddedProducer;

/// Messages kept per partition after every group has committed them.
const TAIL_KEEP: usize = 1024;

/// Limits of one partition's retained log.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub messages: usize,
    pub bytes: u64,
}

#[derive(Clone)]
pub struct EmbeddedBus {
    topics: Arc<Mutex<HashMap<String, Arc<Topic>>>>,
    retention: Retention,
    /// New in every process (and every bus): offsets of another incarnation mean nothing here.
    incarnation: u64,
}

struct Topic {
    partitions: Vec<Mutex<PartitionLog>>,
    groups: Mutex<BTreeMap<String, GroupState>>,
    /// Bumped on every append: consumers wait on it.
    appended: watch::Sender<u64>,
    /// Bumped on every commit or member change: waiting producers re-check space.
    committed: watch::Sender<u64>,
}

#[derive(Default)]
struct PartitionLog {
    /// Offset of `messages[0]`.
    base: i64,
    messages: VecDeque<Message>,
    bytes: u64,
}

impl PartitionLog {
    fn high_watermark(&self) -> i64 {
        self.base + self.messages.len() as i64
    }
}

#[derive(Default)]
struct GroupState {
    committed: BTreeMap<i32, i64>,
    member: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these short locks cannot leave the data half-updated in a
    // way that matters more than stopping the whole bus, so poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl EmbeddedBus {
    pub fn new(retention: Retention) -> Self {
        EmbeddedBus {
            topics: Arc::default(),
            retention,
            incarnation: rand::random(),
        }
    }

    fn topic(&self, name: &str) -> Result<Arc<Topic>, BusError> {
        lock(&self.topics)
            .get(name)
            .cloned()
            .ok_or_else(|| BusError::UnknownTopic(name.to_string()))
    }
}

#[async_trait]
impl Bus for EmbeddedBus {
    fn describe(&self) -> String {
        "embedded".to_string()
    }

    async fn ensure_topic(&self, topic: &str, partitions: i32) -> Result<(), BusError> {
        let mut topics = lock(&self.topics);
        topics.entry(topic.to_string()).or_insert_with(|| {
            Arc::new(Topic {
                partitions: (0..partitions.max(1)).map(|_| Mutex::default()).collect(),
                groups: Mutex::default(),
                appended: watch::channel(0).0,
                committed: watch::channel(0).0,
            })
        });
        Ok(())
    }

    async fn producer(&self, topic: &str) -> Result<Box<dyn Producer>, BusError> {
        Ok(Box::new(EmbeddedProducer {
            topic: self.topic(topic)?,
            retention: self.retention,
            delivered: Offsets::new(),
            round_robin: 0,
        }))
    }

    async fn consumer(&self, group: &str, topic: &str) -> Result<Box<dyn Consumer>, BusError> {
        let t = self.topic(topic)?;
        let member = format!("embedded-{}", std::process::id());
        let mut positions = BTreeMap::new();
        {
            let mut groups = lock(&t.groups);
            let state = groups.entry(group.to_string()).or_default();
            if state.member.is_some() {
                return Err(BusError::GroupBusy {
                    group: group.to_string(),
                    topic: topic.to_string(),
                });
            }
            state.member = Some(member);
            for (p, log) in t.partitions.iter().enumerate() {
                let p = p as i32;
                // A new group starts at the earliest retained message and holds it from now on.
                let start = *state.committed.entry(p).or_insert_with(|| lock(log).base);
                positions.insert(p, start);
            }
        }
        t.committed.send_modify(|v| *v += 1);
        Ok(Box::new(EmbeddedConsumer {
            topic: t.clone(),
            group: group.to_string(),
            positions,
            appended: t.appended.subscribe(),
        }))
    }

    async fn lag(&self, topic: &str) -> Result<Vec<GroupLag>, BusError> {
        let t = self.topic(topic)?;
        let hws: Vec<i64> = t
            .partitions
            .iter()
            .map(|p| lock(p).high_watermark())
            .collect();
        let groups = lock(&t.groups);
        Ok(groups
            .iter()
            .map(|(name, state)| GroupLag {
                group: name.clone(),
                topic: topic.to_string(),
                partitions: hws
                    .iter()
                    .enumerate()
                    .map(|(p, hw)| PartitionLag {
                        partition: p as i32,
                        high_watermark: *hw,
                        committed: state.committed.get(&(p as i32)).copied(),
                        member: state.member.clone(),
                    })
                    .collect(),
            })
            .collect())
    }

    async fn topic_identity(&self, topic: &str) -> Result<String, BusError> {
        self.topic(topic)?;
        Ok(format!("embedded-{:016x}", self.incarnation))
    }

    async fn high_watermarks(&self, topic: &str) -> Result<Offsets, BusError> {
        let t = self.topic(topic)?;
        Ok(t.partitions
            .iter()
            .enumerate()
            .map(|(p, log)| (p as i32, lock(log).high_watermark()))
            .collect())
    }

    async fn tail(
        &self,
        topic: &str,
        after: &Offsets,
        max: usize,
    ) -> Result<Vec<Message>, BusError> {
        let t = self.topic(topic)?;
        let per_partition = max.div_ceil(t.partitions.len()).max(1);
        let mut out = Vec::new();
        for (p, log) in t.partitions.iter().enumerate() {
            let log = lock(log);
            let hw = log.high_watermark();
            let from = after
                .get(&(p as i32))
                .copied()
                .unwrap_or(0)
                .max(hw - per_partition as i64)
                .max(log.base);
            let skip = (from - log.base) as usize;
            out.extend(log.messages.iter().skip(skip).cloned());
        }
        out.sort_by_key(|m| m.timestamp_ms);
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
