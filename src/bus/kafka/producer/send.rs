//! Sending: handing messages to librdkafka in order, waiting while its queue is full
//! (back-pressure), and failing on messages the broker refused.

use std::sync::atomic::Ordering;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer as _};

use super::KafkaProducer;
use crate::bus::BusError;

/// What handing one message to librdkafka came to.
pub(super) enum Enqueued {
    Yes,
    /// The producer has a fatal error: recover, then try again.
    Fatal,
    No(KafkaError),
}

impl KafkaProducer {
    /// Hands one message to librdkafka, waiting while its queue is full.
    pub(super) async fn enqueue(
        &mut self,
        seq: usize,
        key: Option<&[u8]>,
        payload: &[u8],
        origin: Option<&str>,
    ) -> Enqueued {
        let mut wait = Duration::from_millis(1);
        loop {
            let mut record = BaseRecord::with_opaque_to(&self.shared.topic, seq).payload(payload);
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
            if self.shared.in_flight.fetch_add(1, Ordering::SeqCst) == 0 {
                // Nothing was waiting: a wait for an acknowledgement starts now.
                self.shared.touch();
            }
            match self.producer.send(record) {
                Ok(()) => return Enqueued::Yes,
                Err((e, _)) => {
                    self.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
                    match e {
                        KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => {
                            tokio::time::sleep(wait).await;
                            wait = (wait * 2).min(Duration::from_millis(4));
                        }
                        KafkaError::MessageProduction(RDKafkaErrorCode::Fatal) => {
                            return Enqueued::Fatal
                        }
                        e => return Enqueued::No(e),
                    }
                }
            }
        }
    }

    pub(super) async fn produce(
        &mut self,
        key: Option<&[u8]>,
        payload: &[u8],
        origin: Option<&str>,
    ) -> Result<(), BusError> {
        self.settle().await?;
        self.inject_fault();
        let seq = self.seq;
        self.seq += 1;
        self.shared.ledger.taken();
        loop {
            match self.enqueue(seq, key, payload, origin).await {
                Enqueued::Yes => return Ok(()),
                Enqueued::Fatal => self.recover().await?,
                // Still counted: the stage fails and the message was not delivered.
                Enqueued::No(e) => return Err(BusError::Broker(format!("producing: {e}"))),
            }
        }
    }

    /// Before sending more (and while flushing): recovers from a fatal error, or fails on
    /// messages the broker refused.
    pub(super) async fn settle(&mut self) -> Result<(), BusError> {
        if self.producer.client().fatal_error().is_some() {
            return self.recover().await;
        }
        let failed = self.shared.failed();
        let Some(first) = failed.values().next() else {
            return Ok(());
        };
        let what = format!(
            "{} message(s) refused by the broker: {}; {} not delivered in all",
            failed.len(),
            first.error,
            self.shared.ledger.pending()
        );
        drop(failed);
        tracing::error!(topic = %self.shared.topic, "kafka producer: {what}");
        Err(BusError::Broker(what))
    }
}
