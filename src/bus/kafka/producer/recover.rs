//! Recovery from fatal producer errors: a new producer sends again, in order, what
//! librdkafka gave back; and the fault injection that exercises it.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::producer::{Producer as _, PurgeConfig};

use super::send::Enqueued;
use super::{create, KafkaProducer};
use crate::bus::BusError;

/// After a fatal error, how long librdkafka may take to give every message back.
const DRAIN: Duration = Duration::from_secs(10);
/// New producers tried after fatal errors with no delivery in between, before giving up.
const FATAL_RETRIES: u32 = 5;

impl KafkaProducer {
    /// After a fatal error: collects every message librdkafka still held (their delivery
    /// reports fail them), creates a new producer and sends them again in order.
    pub(super) async fn recover(&mut self) -> Result<(), BusError> {
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
    pub(super) fn inject_fault(&mut self) {
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
