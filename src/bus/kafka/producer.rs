//! Idempotent producer with delivery reports and back-pressure.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message as _;
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer as _, ProducerContext, ThreadedProducer,
};
use rdkafka::ClientContext;

use super::{client_config, HealthCell};
use crate::bus::{BusError, Offsets, Producer};
use crate::config::KafkaSettings;

/// Collects delivery reports: the next offset per partition, and failures.
struct Deliveries {
    offsets: Mutex<Offsets>,
    in_flight: AtomicU64,
    failed: Mutex<Option<String>>,
    health: HealthCell,
}

impl ClientContext for Deliveries {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(error = %error, reason, "kafka producer");
        self.health.error(format!("{error}: {reason}"));
    }
}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(m) => {
                self.health.mark_up();
                let mut o = self.offsets.lock().unwrap_or_else(|e| e.into_inner());
                let next = o.entry(m.partition()).or_insert(0);
                *next = (*next).max(m.offset() + 1);
            }
            Err((e, _)) => {
                *self.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
            }
        }
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pub struct KafkaProducer {
    producer: ThreadedProducer<Deliveries>,
    context: Arc<Deliveries>,
    topic: String,
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
            .set("message.timeout.ms", "0");
        for (k, v) in &s.properties {
            c.set(k, v);
        }
        let context = Deliveries {
            offsets: Mutex::default(),
            in_flight: AtomicU64::new(0),
            failed: Mutex::default(),
            health,
        };
        let producer: ThreadedProducer<Deliveries> = c
            .create_with_context(context)
            .map_err(|e| BusError::Broker(e.to_string()))?;
        let context = producer.context().clone();
        Ok(KafkaProducer {
            producer,
            context,
            topic: topic.to_string(),
        })
    }

    fn check_failed(&self) -> Result<(), BusError> {
        match self
            .context
            .failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            Some(e) => Err(BusError::Broker(format!("delivery failed: {e}"))),
            None => Ok(()),
        }
    }
}

impl KafkaProducer {
    async fn produce(
        &mut self,
        key: Option<&[u8]>,
        payload: &[u8],
        origin: Option<&str>,
    ) -> Result<(), BusError> {
        self.check_failed()?;
        let mut wait = Duration::from_millis(1);
        loop {
            let mut record = BaseRecord::to(&self.topic).payload(payload);
            if let Some(k) = key {
                record = record.key(k);
            }
            if let Some(o) = origin {
                record = record.headers(rdkafka::message::OwnedHeaders::new().insert(
                    rdkafka::message::Header {
                        key: crate::bus::ORIGIN_HEADER,
                        value: Some(o),
                    },
                ));
            }
            self.context.in_flight.fetch_add(1, Ordering::Relaxed);
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    self.context.in_flight.fetch_sub(1, Ordering::Relaxed);
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_millis(4));
                }
                Err((e, _)) => {
                    self.context.in_flight.fetch_sub(1, Ordering::Relaxed);
                    return Err(BusError::Broker(e.to_string()));
                }
            }
        }
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
        while self.context.in_flight.load(Ordering::Relaxed) > 0 {
            self.check_failed()?;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.check_failed()?;
        Ok(self
            .context
            .offsets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone())
    }

    fn waiting(&self) -> Option<String> {
        let health = self.context.health.get();
        let queued = self.context.in_flight.load(Ordering::Relaxed);
        (!health.up && queued > 0).then(|| {
            format!(
                "broker unreachable, {queued} buffered: {}",
                health.last_error.unwrap_or_default()
            )
        })
    }
}

impl Drop for KafkaProducer {
    fn drop(&mut self) {
        let _ = self.producer.flush(Duration::from_secs(5));
    }
}
