//! Idempotent producer with delivery reports, back-pressure, and recovery from fatal errors.
//!
//! Nothing is dropped without a count: every message `send` takes stays in this process's
//! ledger ([`super::report`]) until the broker acknowledged it. When the broker lost the
//! producer's state (restarted without it: `UnknownProducerId`, `OutOfOrderSequence`),
//! librdkafka raises a fatal error and fails every message it still holds; their delivery
//! reports give them back, a new producer (a new producer id) is created and they are sent
//! again, in their original order, before anything newer. A message refused for another reason
//! (too large, topic gone) fails the stage, with the count of what was not delivered. A broker
//! that takes messages and does not acknowledge them shows as waiting within seconds.

mod deliveries;
mod recover;
mod send;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{Producer as _, ThreadedProducer};

use super::report::Ledger;
use super::stats;
use super::{client_config, HealthCell};
use crate::bus::{BusError, Offsets, Producer};
use crate::config::KafkaSettings;
use deliveries::{Deliveries, Shared};

/// Messages waiting this long without any acknowledgement make the producer say so.
const STALLED: Duration = Duration::from_secs(10);

pub struct KafkaProducer {
    producer: ThreadedProducer<Deliveries>,
    shared: Arc<Shared>,
    config: ClientConfig,
    /// The next message's sequence number.
    seq: usize,
    /// New producers created since the last delivery (fatal errors in a row), and the delivery
    /// count when the last one was created.
    recoveries: (u32, u64),
    fault_fired: bool,
}

fn create(
    config: &ClientConfig,
    shared: &Arc<Shared>,
) -> Result<ThreadedProducer<Deliveries>, BusError> {
    config
        .create_with_context(Deliveries(shared.clone()))
        .map_err(|e| BusError::Broker(e.to_string()))
}

impl KafkaProducer {
    pub fn new(s: &KafkaSettings, topic: &str, health: HealthCell) -> Result<Self, BusError> {
        let mut c = client_config(s);
        c.set("enable.idempotence", "true")
            .set("acks", &s.acks)
            .set("compression.type", &s.compression)
            .set("linger.ms", s.linger_ms.to_string())
            // The local queue is the bound: when full, `send` waits (back-pressure).
            .set(
                "queue.buffering.max.messages",
                s.buffer_messages.to_string(),
            )
            // ... and by bytes, so large tweets cannot pile up without bound either.
            .set("queue.buffering.max.kbytes", "65536")
            // Never give up on a message while the broker is away: nothing is dropped.
            .set("message.timeout.ms", "0")
            // Broker connections as librdkafka sees them, to say why nothing is acknowledged.
            .set("statistics.interval.ms", stats::INTERVAL_MS);
        for (k, v) in &s.properties {
            c.set(k, v);
        }
        let shared = Arc::new(Shared {
            topic: topic.to_string(),
            offsets: Mutex::default(),
            in_flight: AtomicU64::new(0),
            failed: Mutex::default(),
            delivered: AtomicU64::new(0),
            ledger: Ledger::register(topic),
            health,
            progress: Mutex::new(Instant::now()),
            stall_logged: AtomicBool::new(false),
            brokers: Mutex::default(),
        });
        let producer = create(&c, &shared)?;
        Ok(KafkaProducer {
            producer,
            shared,
            config: c,
            seq: 0,
            recoveries: (0, 0),
            fault_fired: false,
        })
    }
}

#[async_trait]
impl Producer for KafkaProducer {
    async fn send(&mut self, key: Option<&[u8]>, payload: Bytes) -> Result<(), BusError> {
        self.produce(key, &payload, None).await
    }

    async fn send_from(
        &mut self,
        key: Option<&[u8]>,
        payload: Bytes,
        origin: &str,
    ) -> Result<(), BusError> {
        self.produce(key, &payload, Some(origin)).await
    }

    async fn flush(&mut self) -> Result<Offsets, BusError> {
        loop {
            self.settle().await?;
            if self.shared.in_flight.load(Ordering::SeqCst) == 0
                && self.shared.failed().is_empty()
                && self.producer.client().fatal_error().is_none()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(self
            .shared
            .offsets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone())
    }

    fn waiting(&self) -> Option<String> {
        let s = &self.shared;
        let queued = s.ledger.pending();
        let waited = s.waited();
        let stalled = queued > 0 && waited >= STALLED;
        let health = s.health.get();
        let why = if !health.up && queued > 0 {
            Some(format!(
                "broker unreachable, {queued} buffered: {}",
                health.last_error.unwrap_or_default()
            ))
        } else if stalled {
            let brokers = s.brokers.lock().unwrap_or_else(|p| p.into_inner()).clone();
            Some(format!(
                "broker not acknowledging for {} s, {queued} undelivered{}",
                waited.as_secs(),
                brokers.map(|b| format!(": {b}")).unwrap_or_default()
            ))
        } else {
            None
        };
        if stalled != s.stall_logged.swap(stalled, Ordering::Relaxed) {
            if stalled {
                tracing::warn!(topic = %s.topic, queued, "kafka producer: {}", why.as_deref().unwrap_or(""));
            } else {
                tracing::info!(topic = %s.topic, "kafka producer: the broker acknowledges again");
            }
        }
        why
    }
}

impl Drop for KafkaProducer {
    fn drop(&mut self) {
        let _ = self.producer.flush(Duration::from_secs(5));
        let lost = self.shared.ledger.close();
        if lost > 0 {
            tracing::error!(
                topic = %self.shared.topic,
                lost,
                "kafka producer closed with messages the broker never acknowledged"
            );
        }
    }
}
