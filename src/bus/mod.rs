//! The message bus between stages: topics, partitions, offsets, consumer groups.
//!
//! The embedded bus and Kafka implement the same traits, so stages do not know which one they
//! talk to. Offsets follow Kafka's convention: a committed offset is the *next* offset to read.

pub mod embedded;
pub mod kafka;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

pub use embedded::EmbeddedBus;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("topic {0} does not exist")]
    UnknownTopic(String),
    #[error("consumer group {group} already has an active member on {topic}")]
    GroupBusy { group: String, topic: String },
    #[error("bus closed")]
    Closed,
    #[error("broker: {0}")]
    Broker(String),
}

/// One message read from a partition.
#[derive(Debug, Clone)]
pub struct Message {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Bytes>,
    pub payload: Bytes,
    /// Milliseconds since the epoch when the message was produced.
    pub timestamp_ms: i64,
    /// Where a resumable source read it (`<input id>:<position>`, the `ssp-origin` header).
    pub origin: Option<Bytes>,
}

/// Name of the header that carries [`Message::origin`] on Kafka.
pub const ORIGIN_HEADER: &str = "ssp-origin";

/// Next offset per partition (what a producer delivered, or what a group committed).
pub type Offsets = BTreeMap<i32, i64>;

/// Per partition view of one group on one topic, for lag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionLag {
    pub partition: i32,
    pub high_watermark: i64,
    /// None when the group never committed on this partition.
    pub committed: Option<i64>,
    /// Who consumes it now, when known.
    pub member: Option<String>,
}

impl PartitionLag {
    /// Messages not yet committed; never negative (some brokers under-report watermarks).
    pub fn lag(&self) -> i64 {
        (self.high_watermark - self.committed.unwrap_or(0)).max(0)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupLag {
    pub group: String,
    pub topic: String,
    pub partitions: Vec<PartitionLag>,
}

impl GroupLag {
    pub fn total(&self) -> i64 {
        self.partitions.iter().map(PartitionLag::lag).sum()
    }
}

/// Broker reachability, as last seen by the clients of a bus (Kafka only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerHealth {
    pub up: bool,
    pub brokers: Vec<String>,
    pub last_error: Option<String>,
}

/// Called when a consumer is about to lose partitions in a rebalance (from inside the
/// client's poll: it must not block); returns offsets to commit before they move, if any.
pub type RevokeHook = Box<dyn FnMut(&[i32]) -> Offsets + Send>;

/// Writes to one topic.
#[async_trait]
pub trait Producer: Send {
    /// Queues a message; waits (back-pressure) while the bus is full. The payload is owned
    /// so that an in-process bus keeps it without a copy.
    async fn send(&mut self, key: Option<&[u8]>, payload: Bytes) -> Result<(), BusError>;
    /// As [`send`](Self::send), tagging the message with its origin (see [`Message::origin`]).
    async fn send_from(
        &mut self,
        key: Option<&[u8]>,
        payload: Bytes,
        origin: &str,
    ) -> Result<(), BusError>;
    /// Waits until everything sent is delivered; returns the next offset per partition that
    /// this producer has delivered up to (exact, from delivery reports).
    async fn flush(&mut self) -> Result<Offsets, BusError>;
    /// Why sends are waiting right now (e.g. the broker is unreachable), if they are.
    fn waiting(&self) -> Option<String> {
        None
    }
}

/// Reads one topic as a member of a consumer group.
#[async_trait]
pub trait Consumer: Send {
    /// Up to `max` messages, waiting at most `timeout` for the first one.
    async fn poll(&mut self, max: usize, timeout: Duration) -> Result<Vec<Message>, BusError>;
    /// Commits the next offsets to read for the given partitions.
    async fn commit(&mut self, offsets: &Offsets) -> Result<(), BusError>;
    /// Partitions currently assigned to this member.
    fn assignment(&self) -> Vec<i32>;
    /// Next offset to read per assigned partition, where known.
    fn positions(&self) -> Offsets {
        Offsets::new()
    }
    /// Installs the rebalance hook (buses without rebalances ignore it).
    fn set_revoke_hook(&mut self, _hook: RevokeHook) {}
    /// Reads `partition` from `offset` next (the writer resumes where its table ends).
    async fn seek(&mut self, partition: i32, offset: i64) -> Result<(), BusError>;
}

/// A bus: creates producers and consumers and reports offsets for lag.
#[async_trait]
pub trait Bus: Send + Sync {
    fn describe(&self) -> String;
    async fn ensure_topic(&self, topic: &str, partitions: i32) -> Result<(), BusError>;
    async fn producer(&self, topic: &str) -> Result<Box<dyn Producer>, BusError>;
    async fn consumer(&self, group: &str, topic: &str) -> Result<Box<dyn Consumer>, BusError>;
    /// Lag of every known group on `topic`.
    async fn lag(&self, topic: &str) -> Result<Vec<GroupLag>, BusError>;
    /// Messages after `after` (next offsets per partition; a missing partition means "the
    /// newest few"), at most about `max`, without joining a group (the Feed pane's tail).
    async fn tail(
        &self,
        topic: &str,
        after: &Offsets,
        max: usize,
    ) -> Result<Vec<Message>, BusError>;
    /// What makes `topic` this topic and not an earlier one of the same name: Kafka's topic
    /// id, or the embedded bus's incarnation (a new one every process).
    async fn topic_identity(&self, topic: &str) -> Result<String, BusError>;
    /// Next offset per partition (the high watermark).
    async fn high_watermarks(&self, topic: &str) -> Result<Offsets, BusError>;
    /// Broker connection state, for buses that have brokers.
    fn broker_health(&self) -> Option<BrokerHealth> {
        None
    }
}
