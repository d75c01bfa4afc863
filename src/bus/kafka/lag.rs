//! Lag and tail for the Kafka bus: watermarks, every consumer group's committed offsets and
//! members, and a group-less reader of the newest messages (the Feed pane).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};

use super::{client_config, HealthCell};
use crate::bus::{BusError, GroupLag, Message, Offsets, PartitionLag};
use crate::config::KafkaSettings;

const TIMEOUT: Duration = Duration::from_secs(3);

pub struct LagReader {
    inner: Arc<Inner>,
}

struct Inner {
    settings: KafkaSettings,
    meta: BaseConsumer,
    /// One group-bound client per group whose commits we read.
    groups: Mutex<HashMap<String, Arc<BaseConsumer>>>,
    tail: Mutex<Option<BaseConsumer>>,
    health: HealthCell,
}

impl LagReader {
    pub fn new(settings: &KafkaSettings, health: HealthCell) -> Result<LagReader, BusError> {
        let meta = client_config(settings)
            .create()
            .map_err(|e| BusError::Broker(e.to_string()))?;
        Ok(LagReader {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                meta,
                groups: Mutex::default(),
                tail: Mutex::default(),
                health,
            }),
        })
    }

    pub async fn lag(&self, topic: &str) -> Result<Vec<GroupLag>, BusError> {
        let inner = self.inner.clone();
        let topic = topic.to_string();
        tokio::task::spawn_blocking(move || inner.lag(&topic))
            .await
            .map_err(|e| BusError::Broker(e.to_string()))?
    }

    pub async fn high_watermarks(&self, topic: &str) -> Result<Offsets, BusError> {
        let inner = self.inner.clone();
        let topic = topic.to_string();
        tokio::task::spawn_blocking(move || {
            let mut out = Offsets::new();
            for p in inner.partitions(&topic)? {
                let (_, high) = inner
                    .meta
                    .fetch_watermarks(&topic, p, TIMEOUT)
                    .map_err(broker)?;
                out.insert(p, high);
            }
            Ok(out)
        })
        .await
        .map_err(|e| BusError::Broker(e.to_string()))?
    }

    pub async fn tail(&self, topic: &str, max: usize) -> Result<Vec<Message>, BusError> {
        let inner = self.inner.clone();
        let topic = topic.to_string();
        tokio::task::spawn_blocking(move || inner.tail(&topic, max))
            .await
            .map_err(|e| BusError::Broker(e.to_string()))?
    }
}

fn broker(e: impl std::fmt::Display) -> BusError {
    BusError::Broker(e.to_string())
}

impl Inner {
    fn partitions(&self, topic: &str) -> Result<Vec<i32>, BusError> {
        let md = self
            .meta
            .fetch_metadata(Some(topic), TIMEOUT)
            .map_err(|e| {
                self.health.error(e.to_string());
                broker(e)
            })?;
        self.health.set_brokers(
            md.brokers()
                .iter()
                .map(|b| format!("{}:{}", b.host(), b.port()))
                .collect(),
        );
        let t = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .ok_or_else(|| BusError::UnknownTopic(topic.to_string()))?;
        if t.partitions().is_empty() {
            return Err(BusError::UnknownTopic(topic.to_string()));
        }
        Ok(t.partitions().iter().map(|p| p.id()).collect())
    }

    fn group_client(&self, group: &str) -> Result<Arc<BaseConsumer>, BusError> {
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = groups.get(group) {
            return Ok(c.clone());
        }
        let c: BaseConsumer = client_config(&self.settings)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .map_err(broker)?;
        let c = Arc::new(c);
        groups.insert(group.to_string(), c.clone());
        Ok(c)
    }

    fn lag(&self, topic: &str) -> Result<Vec<GroupLag>, BusError> {
        let partitions = self.partitions(topic)?;
        let mut hws = BTreeMap::new();
        for p in &partitions {
            let (_, high) = self
                .meta
                .fetch_watermarks(topic, *p, TIMEOUT)
                .map_err(broker)?;
            hws.insert(*p, high);
        }
        // Groups the broker knows, with who consumes which partition of this topic.
        let mut members: BTreeMap<String, BTreeMap<i32, String>> = BTreeMap::new();
        match self.meta.fetch_group_list(None, TIMEOUT) {
            Ok(list) => {
                for g in list.groups() {
                    if g.protocol_type() != "consumer" && !g.protocol_type().is_empty() {
                        continue;
                    }
                    let entry = members.entry(g.name().to_string()).or_default();
                    for m in g.members() {
                        let who = format!("{}@{}", m.client_id(), m.client_host());
                        for p in m
                            .assignment()
                            .map(|a| assignment_partitions(a, topic))
                            .unwrap_or_default()
                        {
                            entry.insert(p, who.clone());
                        }
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "listing consumer groups"),
        }
        let known: BTreeSet<String> = self
            .groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .chain(self.settings.lag_groups.iter().cloned())
            .collect();
        for g in known {
            members.entry(g).or_default();
        }
        let mut out = Vec::new();
        for (group, who) in members {
            let client = self.group_client(&group)?;
            let mut tpl = TopicPartitionList::new();
            for p in &partitions {
                tpl.add_partition(topic, *p);
            }
            let committed = match client.committed_offsets(tpl, TIMEOUT) {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(group, error = %e, "committed offsets");
                    continue;
                }
            };
            let rows: Vec<PartitionLag> = partitions
                .iter()
                .map(|p| PartitionLag {
                    partition: *p,
                    high_watermark: hws[p],
                    committed: committed
                        .find_partition(topic, *p)
                        .and_then(|e| match e.offset() {
                            Offset::Offset(o) => Some(o),
                            _ => None,
                        }),
                    member: who.get(p).cloned(),
                })
                .collect();
            // A group that never committed on this topic and has no member here is not ours.
            if rows
                .iter()
                .all(|r| r.committed.is_none() && r.member.is_none())
            {
                continue;
            }
            out.push(GroupLag {
                group,
                topic: topic.to_string(),
                partitions: rows,
            });
        }
        Ok(out)
    }

    fn tail(&self, topic: &str, max: usize) -> Result<Vec<Message>, BusError> {
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

/// Partitions of `topic` in a Kafka consumer-protocol assignment (as sent in group
/// descriptions): version i16, [topic string, [partition i32]], user data.
pub fn assignment_partitions(bytes: &[u8], topic: &str) -> Vec<i32> {
    fn take<const N: usize>(b: &mut &[u8]) -> Option<[u8; N]> {
        let (head, rest) = b.split_at_checked(N)?;
        *b = rest;
        head.try_into().ok()
    }
    let mut b = bytes;
    let mut out = Vec::new();
    let parse = |b: &mut &[u8], out: &mut Vec<i32>| -> Option<()> {
        take::<2>(b)?;
        let topics = i32::from_be_bytes(take::<4>(b)?);
        for _ in 0..topics.max(0) {
            let len = i16::from_be_bytes(take::<2>(b)?).max(0) as usize;
            let (name, rest) = b.split_at_checked(len)?;
            *b = rest;
            let n = i32::from_be_bytes(take::<4>(b)?);
            for _ in 0..n.max(0) {
                let p = i32::from_be_bytes(take::<4>(b)?);
                if name == topic.as_bytes() {
                    out.push(p);
                }
            }
        }
        Some(())
    };
    let _ = parse(&mut b, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_consumer_protocol_assignments() {
        let mut b = vec![0, 1];
        b.extend(2i32.to_be_bytes());
        for (t, ps) in [("twitter_data", vec![0i32, 2]), ("other", vec![1])] {
            b.extend((t.len() as i16).to_be_bytes());
            b.extend(t.as_bytes());
            b.extend((ps.len() as i32).to_be_bytes());
            for p in ps {
                b.extend(p.to_be_bytes());
            }
        }
        b.extend((-1i32).to_be_bytes());
        assert_eq!(assignment_partitions(&b, "twitter_data"), vec![0, 2]);
        assert_eq!(assignment_partitions(&b, "other"), vec![1]);
        assert!(assignment_partitions(&b[..9], "twitter_data").is_empty());
        assert!(assignment_partitions(&[], "x").is_empty());
    }
}
