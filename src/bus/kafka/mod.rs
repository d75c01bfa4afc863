//! Kafka through rdkafka (bundled librdkafka), behind the same traits as the embedded bus.
//!
//! Producer: idempotent, key = tweet id, bounded local queue (a full queue makes `send` wait:
//! back-pressure, never dropping), delivery reports give the exact offsets `flush` returns.
//! Consumer: a group member with manual commits; on a rebalance it flushes what it holds for
//! the partitions it loses and commits before they move, so two writers never both write a
//! message. Lag: watermarks and every consumer group's committed offsets.

mod consumer;
mod ffi;
mod lag;
mod producer;
mod report;
mod stats;
mod topic_id;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;

use super::{BrokerHealth, Bus, BusError, Consumer, GroupLag, Message, Offsets, Producer};
use crate::config::KafkaSettings;

pub use lag::assignment_partitions;
pub use report::{consumer_waiting, take_producer_errors, undelivered};

/// Shared by the clients of one bus: is the broker reachable, and the last error seen.
#[derive(Clone, Default)]
pub struct HealthCell(Arc<HealthInner>);

#[derive(Default)]
pub struct HealthInner {
    up: std::sync::atomic::AtomicBool,
    detail: Mutex<(Vec<String>, Option<String>)>,
}

impl HealthCell {
    pub fn error(&self, e: String) {
        self.0.up.store(false, std::sync::atomic::Ordering::Relaxed);
        self.0.detail.lock().unwrap_or_else(|p| p.into_inner()).1 = Some(e);
    }
    /// Something reached the broker (a delivery, a fetch, metadata).
    pub fn mark_up(&self) {
        self.0.up.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    pub fn set_brokers(&self, brokers: Vec<String>) {
        self.mark_up();
        self.0.detail.lock().unwrap_or_else(|p| p.into_inner()).0 = brokers;
    }
    pub fn get(&self) -> BrokerHealth {
        let d = self.0.detail.lock().unwrap_or_else(|p| p.into_inner());
        BrokerHealth {
            up: self.0.up.load(std::sync::atomic::Ordering::Relaxed),
            brokers: d.0.clone(),
            last_error: d.1.clone(),
        }
    }
}

pub struct KafkaBus {
    settings: KafkaSettings,
    admin: AdminClient<DefaultClientContext>,
    health: HealthCell,
    lag: lag::LagReader,
}

impl KafkaBus {
    pub fn new(settings: KafkaSettings) -> Result<KafkaBus, BusError> {
        let admin = client_config(&settings)
            .create()
            .map_err(|e| BusError::Broker(e.to_string()))?;
        let health = HealthCell::default();
        let lag = lag::LagReader::new(&settings, health.clone())?;
        Ok(KafkaBus {
            settings,
            admin,
            health,
            lag,
        })
    }

    pub fn health(&self) -> BrokerHealth {
        self.health.get()
    }
}

/// Base client settings: bootstrap servers plus every pass-through property.
pub fn client_config(s: &KafkaSettings) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &s.bootstrap_servers)
        .set("client.id", &s.client_id);
    for (k, v) in &s.properties {
        c.set(k, v);
    }
    c
}

#[async_trait]
impl Bus for KafkaBus {
    fn describe(&self) -> String {
        format!("kafka {}", self.settings.bootstrap_servers)
    }

    async fn ensure_topic(&self, topic: &str, partitions: i32) -> Result<(), BusError> {
        let new = NewTopic::new(
            topic,
            partitions,
            TopicReplication::Fixed(self.settings.replication),
        );
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let results = self
            .admin
            .create_topics([&new], &opts)
            .await
            .map_err(|e| BusError::Broker(format!("creating topic {topic}: {e}")))?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((t, code)) => {
                    return Err(BusError::Broker(format!("creating topic {t}: {code}")))
                }
            }
        }
        Ok(())
    }

    async fn producer(&self, topic: &str) -> Result<Box<dyn Producer>, BusError> {
        Ok(Box::new(producer::KafkaProducer::new(
            &self.settings,
            topic,
            self.health.clone(),
        )?))
    }

    async fn consumer(&self, group: &str, topic: &str) -> Result<Box<dyn Consumer>, BusError> {
        Ok(Box::new(consumer::KafkaConsumer::new(
            &self.settings,
            group,
            topic,
            self.health.clone(),
        )?))
    }

    async fn lag(&self, topic: &str) -> Result<Vec<GroupLag>, BusError> {
        self.lag.lag(topic).await
    }

    async fn high_watermarks(&self, topic: &str) -> Result<Offsets, BusError> {
        self.lag.high_watermarks(topic).await
    }

    async fn topic_identity(&self, topic: &str) -> Result<String, BusError> {
        // A topic just created may take a moment to reach every broker's metadata.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            match topic_id::describe(&self.settings, topic).await {
                Err(BusError::UnknownTopic(_)) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
                other => return other,
            }
        }
    }

    async fn tail(
        &self,
        topic: &str,
        _after: &Offsets,
        max: usize,
    ) -> Result<Vec<Message>, BusError> {
        self.lag.tail(topic, max).await
    }

    fn broker_health(&self) -> Option<BrokerHealth> {
        Some(self.health())
    }
}
