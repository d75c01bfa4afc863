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

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers as _, Message as _};
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer as _, ProducerContext, PurgeConfig, ThreadedProducer,
};
use rdkafka::ClientContext;

use super::report::Ledger;
use super::stats::{self, Stats};
use super::{client_config, HealthCell};
use crate::bus::{BusError, Offsets, Producer};
use crate::config::KafkaSettings;

/// Messages waiting this long without any acknowledgement make the producer say so.
const STALLED: Duration = Duration::from_secs(10);
/// After a fatal error, how long librdkafka may take to give every message back.
const DRAIN: Duration = Duration::from_secs(10);
/// New producers tried after fatal errors with no delivery in between, before giving up.
const FATAL_RETRIES: u32 = 5;

/// A message a delivery report gave back, to send again.
struct Failed {
    key: Option<Bytes>,
    payload: Bytes,
    origin: Option<String>,
    error: String,
}

/// State shared by the producer and the delivery callbacks of each librdkafka producer it
/// creates (one per fatal error).
struct Shared {
    topic: String,
    offsets: Mutex<Offsets>,
    /// Messages librdkafka holds (no delivery report yet).
    in_flight: AtomicU64,
    /// Messages reported failed, by their first send's sequence number (= the send order).
    failed: Mutex<BTreeMap<usize, Failed>>,
    delivered: AtomicU64,
    ledger: Arc<Ledger>,
    health: HealthCell,
    /// The last acknowledgement, or when the queue last emptied: messages waiting longer
    /// than [`STALLED`] since then are reported.
    progress: Mutex<Instant>,
    stall_logged: AtomicBool,
    /// What the last statistics said about the brokers.
    brokers: Mutex<Option<String>>,
}

impl Shared {
    fn failed(&self) -> std::sync::MutexGuard<'_, BTreeMap<usize, Failed>> {
        self.failed.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn touch(&self) {
        *self.progress.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn waited(&self) -> Duration {
        self.progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }
}

/// The context of one librdkafka producer.
struct Deliveries(Arc<Shared>);

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

/// What handing one message to librdkafka came to.
enum Enqueued {
    Yes,
    /// The producer has a fatal error: recover, then try again.
    Fatal,
    No(KafkaError),
}

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

    /// Hands one message to librdkafka, waiting while its queue is full.
    async fn enqueue(
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

    async fn produce(
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
    async fn settle(&mut self) -> Result<(), BusError> {
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

    /// After a fatal error: collects every message librdkafka still held (their delivery
    /// reports fail them), creates a new producer and sends them again in order.
    async fn recover(&mut self) -> Result<(), BusError> {
        while let Some((code, reason)) = self.producer.client().fatal_error() {
            let topic = self.shared.topic.clone();
            let what = format!("fatal producer error {code:?}: {reason}");
            let delivered = self.shared.delivered.load(Ordering::Relaxed);
            if delivered > self.recoveries.1 {
                self.recoveries.0 = 0;
            }
            self.recoveries = (self.recoveries.0 + 1, delivered);
            if self.recoveries.0 > FATAL_RETRIES {
                return Err(self.give_up(format!(
                    "{what}; {FATAL_RETRIES} new producers in a row failed too"
                )));
            }
            tracing::error!(%topic, error = %what, "kafka producer: creating a new producer");
            // librdkafka already failed its queue; what is in flight gets its answer (or,
            // once the broker stays silent, is purged: it may have been written, and is then
            // sent twice; bronze drops the second copy by its origin).
            let t0 = Instant::now();
            let mut purged = false;
            while self.shared.in_flight.load(Ordering::SeqCst) > 0 {
                if !purged && t0.elapsed() >= DRAIN / 2 {
                    self.producer
                        .purge(PurgeConfig::default().queue().inflight().non_blocking());
                    purged = true;
                }
                if t0.elapsed() >= DRAIN {
                    return Err(self.give_up(format!(
                        "{what}; {} messages were never given back",
                        self.shared.in_flight.load(Ordering::SeqCst)
                    )));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let old = std::mem::replace(&mut self.producer, create(&self.config, &self.shared)?);
            // Its drop waits for its threads: not on the runtime.
            tokio::task::spawn_blocking(move || drop(old));
            let again = std::mem::take(&mut *self.shared.failed());
            let note = format!(
                "{what}: new producer, sending {} undelivered message(s) again",
                again.len()
            );
            tracing::warn!(%topic, "kafka producer: {note}");
            self.shared.ledger.incident(note);
            let mut again = again.into_iter();
            while let Some((seq, f)) = again.next() {
                match self
                    .enqueue(seq, f.key.as_deref(), &f.payload, f.origin.as_deref())
                    .await
                {
                    Enqueued::Yes => {}
                    other => {
                        // Back with the rest, in order, for the next round (or the report).
                        let mut failed = self.shared.failed();
                        failed.insert(seq, f);
                        failed.extend(again.by_ref());
                        drop(failed);
                        if let Enqueued::No(e) = other {
                            return Err(self.give_up(format!("{what}; sending again failed: {e}")));
                        }
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// An unrecoverable error: logged, shown, with the count of what was not delivered.
    fn give_up(&self, what: String) -> BusError {
        let what = format!(
            "{what}: {} message(s) not delivered",
            self.shared.ledger.pending()
        );
        tracing::error!(topic = %self.shared.topic, "kafka producer: {what}");
        BusError::Broker(what)
    }

    /// `SSP_FAULTS=kafka.producer_fatal`: once, with messages in flight after a few thousand
    /// sends, librdkafka raises the fatal error a broker that lost this producer's state
    /// causes.
    fn inject_fault(&mut self) {
        if self.fault_fired
            || self.seq < 3000
            || self.shared.in_flight.load(Ordering::SeqCst) == 0
            || !crate::fault::armed("kafka.producer_fatal")
        {
            return;
        }
        self.fault_fired = true;
        let reason = c"injected (SSP_FAULTS=kafka.producer_fatal)";
        // SAFETY: a live client handle and a NUL-terminated string librdkafka copies.
        unsafe {
            rdkafka::bindings::rd_kafka_test_fatal_error(
                self.producer.client().native_ptr(),
                rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID,
                reason.as_ptr(),
            );
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
