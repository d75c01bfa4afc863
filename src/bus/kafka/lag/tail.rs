//! The Feed pane's reader: a consumer outside any committing group, assigned to the last
//! messages of every partition.

use std::time::Duration;

use bytes::Bytes;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};

use super::{broker, Inner};
use crate::bus::kafka::client_config;
use crate::bus::{BusError, Message};

impl Inner {
    pub(super) fn tail(&self, topic: &str, max: usize) -> Result<Vec<Message>, BusError> {
        let mut slot = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            let partitions = self.partitions(topic)?;
            let c: BaseConsumer = client_config(&self.settings)
                .set("group.id", "ssp-tui-feed")
                .set("enable.auto.commit", "false")
                .create()
                .map_err(broker)?;
            let mut tpl = TopicPartitionList::new();
            let per = (max / partitions.len().max(1)).max(1) as i64;
            for p in &partitions {
                tpl.add_partition_offset(topic, *p, Offset::OffsetTail(per))
                    .map_err(broker)?;
            }
            c.assign(&tpl).map_err(broker)?;
            *slot = Some(c);
        }
        let Some(c) = slot.as_ref() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        while out.len() < max {
            match c.poll(Duration::from_millis(if out.is_empty() { 50 } else { 0 })) {
                Some(Ok(m)) => out.push(Message {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(Bytes::copy_from_slice),
                    payload: Bytes::copy_from_slice(m.payload().unwrap_or_default()),
                    timestamp_ms: m.timestamp().to_millis().unwrap_or(0),
                    origin: None,
                }),
                Some(Err(e)) => return Err(broker(e)),
                None => break,
            }
        }
        Ok(out)
    }
}
