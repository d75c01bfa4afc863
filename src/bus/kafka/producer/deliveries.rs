//! The delivery side: state shared with librdkafka's callbacks (offsets, messages in
//! flight, failed messages to send again) and the context that records each delivery report.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers as _, Message as _};
use rdkafka::producer::{DeliveryResult, ProducerContext};
use rdkafka::ClientContext;

use crate::bus::kafka::report::Ledger;
use crate::bus::kafka::stats::Stats;
use crate::bus::kafka::HealthCell;
use crate::bus::Offsets;

/// A message a delivery report gave back, to send again.
pub(super) struct Failed {
    pub(super) key: Option<Bytes>,
    pub(super) payload: Bytes,
    pub(super) origin: Option<String>,
    pub(super) error: String,
}

/// State shared by the producer and the delivery callbacks of each librdkafka producer it
/// creates (one per fatal error).
pub(super) struct Shared {
    pub(super) topic: String,
    pub(super) offsets: Mutex<Offsets>,
    /// Messages librdkafka holds (no delivery report yet).
    pub(super) in_flight: AtomicU64,
    /// Messages reported failed, by their first send's sequence number (= the send order).
    pub(super) failed: Mutex<BTreeMap<usize, Failed>>,
    pub(super) delivered: AtomicU64,
    pub(super) ledger: Arc<Ledger>,
    pub(super) health: HealthCell,
    /// The last acknowledgement, or when the queue last emptied: messages waiting longer
    /// than [`super::STALLED`] since then are reported.
    pub(super) progress: Mutex<Instant>,
    pub(super) stall_logged: AtomicBool,
    /// What the last statistics said about the brokers.
    pub(super) brokers: Mutex<Option<String>>,
}

impl Shared {
    pub(super) fn failed(&self) -> std::sync::MutexGuard<'_, BTreeMap<usize, Failed>> {
        self.failed.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn touch(&self) {
        *self.progress.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    pub(super) fn waited(&self) -> Duration {
        self.progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }
}

/// The context of one librdkafka producer.
pub(super) struct Deliveries(pub(super) Arc<Shared>);

impl ClientContext for Deliveries {
    fn error(&self, error: KafkaError, reason: &str) {
        // A fatal error is handled (logged as an error, shown on the stage) by the producer
        // at its next send or flush.
        tracing::warn!(error = %error, reason, "kafka producer");
        self.0.health.error(format!("{error}: {reason}"));
    }

    fn stats_raw(&self, raw: &[u8]) {
        if let Some(s) = Stats::parse(raw) {
            *self.0.brokers.lock().unwrap_or_else(|p| p.into_inner()) = s.broker_trouble();
        }
    }
}

impl ProducerContext for Deliveries {
    /// The message's sequence number.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: usize) {
        let s = &self.0;
        match result {
            Ok(m) => {
                s.health.mark_up();
                let mut o = s.offsets.lock().unwrap_or_else(|e| e.into_inner());
                let next = o.entry(m.partition()).or_insert(0);
                *next = (*next).max(m.offset() + 1);
                drop(o);
                s.delivered.fetch_add(1, Ordering::Relaxed);
                s.touch();
                s.ledger.acknowledged();
            }
            Err((e, m)) => {
                // Kept (and still counted by the ledger): sent again after a fatal error, or
                // reported as not delivered.
                let origin = m.headers().and_then(|h| {
                    h.iter()
                        .find(|h| h.key == crate::bus::ORIGIN_HEADER)
                        .and_then(|h| h.value)
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                });
                s.failed().insert(
                    seq,
                    Failed {
                        key: m.key().map(Bytes::copy_from_slice),
                        payload: Bytes::copy_from_slice(m.payload().unwrap_or_default()),
                        origin,
                        error: e.to_string(),
                    },
                );
            }
        }
        s.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}
