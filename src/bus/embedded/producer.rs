//! The embedded bus's producer: picks a partition by key, trims what every group has
//! committed, and waits for a commit when a partition is full (back-pressure).

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use super::{lock, PartitionLog, Retention, Topic, TAIL_KEEP};
use crate::bus::{BusError, Message, Offsets, Producer};

pub(super) struct EmbeddedProducer {
    pub(super) topic: Arc<Topic>,
    pub(super) retention: Retention,
    pub(super) delivered: Offsets,
    pub(super) round_robin: usize,
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
