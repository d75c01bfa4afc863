//! In-process bus with Kafka's concepts: topics of partitions (append-only logs with offsets),
//! consumer groups with committed offsets, high watermarks for lag.
//!
//! Memory is bounded per partition by a message count and a byte count. When a partition is
//! full, messages every registered group has committed past are dropped; if some group still
//! needs the oldest message, the producer waits (back-pressure) instead of growing memory.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::watch;

use super::{Bus, BusError, Consumer, GroupLag, Message, Offsets, PartitionLag, Producer};

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

struct EmbeddedProducer {
    topic: Arc<Topic>,
    retention: Retention,
    delivered: Offsets,
    round_robin: usize,
}

impl EmbeddedProducer {
    fn partition_for(&mut self, key: Option<&[u8]>) -> usize {
        let n = self.topic.partitions.len();
        match key {
            Some(k) => {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                k.hash(&mut h);
                (h.finish() % n as u64) as usize
            }
            None => {
                self.round_robin = (self.round_robin + 1) % n;
                self.round_robin
            }
        }
    }

    /// Lowest offset any group still needs on partition `p` (None: no group registered).
    fn needed_from(&self, p: i32) -> Option<i64> {
        lock(&self.topic.groups)
            .values()
            .filter_map(|g| g.committed.get(&p).copied())
            .min()
    }

    /// Appends if there is room (after trimming what no group needs); false if full.
    fn try_append(&self, p: usize, msg: &mut Option<Message>) -> bool {
        let needed = self.needed_from(p as i32);
        let mut log = lock(&self.topic.partitions[p]);
        let size = msg.as_ref().map_or(0, |m| m.payload.len() as u64);
        let full = |log: &PartitionLog| {
            !log.messages.is_empty()
                && (log.messages.len() >= self.retention.messages
                    || log.bytes + size > self.retention.bytes)
        };
        // What every group has committed is only kept as a short tail (the feed, new groups).
        while log.messages.len() > TAIL_KEEP && needed.is_some_and(|n| n > log.base) {
            if let Some(old) = log.messages.pop_front() {
                log.bytes -= old.payload.len() as u64;
                log.base += 1;
            }
        }
        while full(&log) && needed.is_none_or(|n| n > log.base) {
            if let Some(old) = log.messages.pop_front() {
                log.bytes -= old.payload.len() as u64;
                log.base += 1;
            }
        }
        if full(&log) {
            return false;
        }
        let Some(mut m) = msg.take() else {
            return true;
        };
        m.offset = log.high_watermark();
        log.bytes += size;
        log.messages.push_back(m);
        true
    }
}

#[async_trait]
impl Producer for EmbeddedProducer {
    async fn send(&mut self, key: Option<&[u8]>, payload: Bytes) -> Result<(), BusError> {
        self.append(key, payload, None).await
    }

    async fn send_from(
        &mut self,
        key: Option<&[u8]>,
        payload: Bytes,
        origin: &str,
    ) -> Result<(), BusError> {
        let origin = Bytes::copy_from_slice(origin.as_bytes());
        self.append(key, payload, Some(origin)).await
    }

    async fn flush(&mut self) -> Result<Offsets, BusError> {
        Ok(self.delivered.clone())
    }
}

impl EmbeddedProducer {
    async fn append(
        &mut self,
        key: Option<&[u8]>,
        payload: Bytes,
        origin: Option<Bytes>,
    ) -> Result<(), BusError> {
        let p = self.partition_for(key);
        let mut msg = Some(Message {
            partition: p as i32,
            offset: 0,
            key: key.map(Bytes::copy_from_slice),
            payload,
            timestamp_ms: chrono::Utc::now().timestamp_millis(),
            origin,
        });
        if !self.try_append(p, &mut msg) {
            let mut space = self.topic.committed.subscribe();
            loop {
                space.borrow_and_update();
                if self.try_append(p, &mut msg) {
                    break;
                }
                // Full and some group still needs the oldest message: wait for a commit.
                if space.changed().await.is_err() {
                    return Err(BusError::Closed);
                }
            }
        }
        let hw = lock(&self.topic.partitions[p]).high_watermark();
        self.delivered.insert(p as i32, hw);
        self.topic.appended.send_modify(|v| *v += 1);
        Ok(())
    }
}

struct EmbeddedConsumer {
    topic: Arc<Topic>,
    group: String,
    positions: BTreeMap<i32, i64>,
    appended: watch::Receiver<u64>,
}

impl EmbeddedConsumer {
    fn take(&mut self, max: usize) -> Vec<Message> {
        let mut out = Vec::new();
        let n = self.topic.partitions.len();
        // Fair share per partition, then whatever is left.
        let share = max.div_ceil(n).max(1);
        for (p, log) in self.topic.partitions.iter().enumerate() {
            let log = lock(log);
            let pos = self.positions.entry(p as i32).or_insert(log.base);
            let from = (*pos).max(log.base);
            let skip = (from - log.base) as usize;
            let room = share.min(max - out.len());
            let before = out.len();
            out.extend(log.messages.iter().skip(skip).take(room).cloned());
            *pos = from + (out.len() - before) as i64;
            if out.len() >= max {
                break;
            }
        }
        out
    }
}

#[async_trait]
impl Consumer for EmbeddedConsumer {
    async fn poll(&mut self, max: usize, timeout: Duration) -> Result<Vec<Message>, BusError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            self.appended.borrow_and_update();
            let batch = self.take(max.max(1));
            if !batch.is_empty() {
                return Ok(batch);
            }
            match tokio::time::timeout_at(deadline, self.appended.changed()).await {
                Err(_) => return Ok(Vec::new()),
                Ok(Err(_)) => return Err(BusError::Closed),
                Ok(Ok(())) => {}
            }
        }
    }

    async fn commit(&mut self, offsets: &Offsets) -> Result<(), BusError> {
        {
            let mut groups = lock(&self.topic.groups);
            let state = groups.entry(self.group.clone()).or_default();
            for (p, o) in offsets {
                let c = state.committed.entry(*p).or_insert(0);
                *c = (*c).max(*o);
            }
        }
        self.topic.committed.send_modify(|v| *v += 1);
        Ok(())
    }

    fn assignment(&self) -> Vec<i32> {
        (0..self.topic.partitions.len() as i32).collect()
    }

    fn positions(&self) -> Offsets {
        self.positions.clone()
    }

    async fn seek(&mut self, partition: i32, offset: i64) -> Result<(), BusError> {
        let log = self
            .topic
            .partitions
            .get(partition as usize)
            .ok_or_else(|| BusError::Broker(format!("no partition {partition}")))?;
        let (base, hw) = {
            let l = lock(log);
            (l.base, l.high_watermark())
        };
        // Like Kafka's `auto.offset.reset = earliest`: before the oldest retained, from there.
        self.positions.insert(partition, offset.clamp(base, hw));
        Ok(())
    }
}

impl Drop for EmbeddedConsumer {
    fn drop(&mut self) {
        if let Some(g) = lock(&self.topic.groups).get_mut(&self.group) {
            g.member = None;
        }
        self.topic.committed.send_modify(|v| *v += 1);
    }
}

#[cfg(test)]
mod tests;
