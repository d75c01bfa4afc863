//! The embedded bus's consumer: one group member reading every partition, with a fair
//! share per partition, commits that free space for waiting producers, and seeks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use super::{lock, Topic};
use crate::bus::{BusError, Consumer, Message, Offsets};

pub(super) struct EmbeddedConsumer {
    pub(super) topic: Arc<Topic>,
    pub(super) group: String,
    pub(super) positions: BTreeMap<i32, i64>,
    pub(super) appended: watch::Receiver<u64>,
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
