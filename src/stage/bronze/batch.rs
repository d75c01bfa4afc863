//! A polled batch: deciding which messages are new (and which a restarted source sent
//! again), parsing them, and appending them in order to the bronze writer.

use std::sync::Arc;

use anyhow::Context as _;

use super::parse::ParseJob;
use super::Run;
use crate::bus::{Consumer, Message};
use crate::lake::RecordMeta;

fn record_meta<'a>(
    topic: &'a str,
    m: &Message,
    now: chrono::DateTime<chrono::Utc>,
) -> RecordMeta<'a> {
    RecordMeta {
        topic,
        partition: m.partition,
        offset: m.offset,
        ingest_time: now,
        bus_time_ms: (m.timestamp_ms > 0).then_some(m.timestamp_ms),
    }
}

fn borrowed(txns: &[(Arc<str>, i64)]) -> Vec<(&str, i64)> {
    txns.iter().map(|(a, v)| (&**a, *v)).collect()
}

/// Transaction ids (and versions) one message advances: its bus partition's, its replay's.
type Txns = Vec<(Arc<str>, i64)>;

/// A batch decided on and being parsed; appended once the batch before it is.
pub(super) struct InFlight {
    now: chrono::DateTime<chrono::Utc>,
    /// Index in the batch of each new message, with the transaction versions it advances.
    todo: Vec<(usize, Txns)>,
    job: ParseJob,
}

impl Run<'_> {
    pub(super) fn inflight_rows(&self) -> u64 {
        self.inflight.iter().map(|f| f.todo.len() as u64).sum()
    }

    /// Decides, in order, which messages of `batch` are new (resume points may need the
    /// table) and starts parsing them.
    pub(super) async fn decide(
        &mut self,
        consumer: &mut dyn Consumer,
        batch: Vec<Message>,
    ) -> anyhow::Result<Option<InFlight>> {
        if batch.is_empty() {
            return Ok(None);
        }
        let topic = self.ctx.pipeline.topic().to_string();
        let now = chrono::Utc::now();
        let mut seeked: Vec<i32> = Vec::new();
        let mut todo: Vec<(usize, Txns)> = Vec::new();
        for (i, m) in batch.iter().enumerate() {
            if seeked.contains(&m.partition) {
                continue;
            }
            if let Some(target) = self.seeking.remove(&m.partition) {
                // The first message after a seek: where the bus really is now.
                if m.offset > target {
                    self.ctx.log.event(format!(
                        "partition {}: offsets {target}..{} are no longer on the bus (retention)",
                        m.partition, m.offset
                    ));
                }
                self.next.insert(m.partition, m.offset.max(target));
            }
            let next = self.resume(consumer, m).await?;
            if self.seeking.contains_key(&m.partition) {
                // Sought back: what was fetched past that point comes again.
                seeked.push(m.partition);
                continue;
            }
            self.positions.insert(m.partition, m.offset + 1);
            if m.offset < next {
                continue;
            }
            self.next.insert(m.partition, m.offset + 1);
            let mut txns = vec![(self.bus_app(m.partition), m.offset)];
            let origin = match &m.origin {
                Some(o) => self.origin(m.partition, o).await?,
                None => None,
            };
            match origin {
                Some((_, _, true)) => {
                    // Sent again by a restarted source: already in the table.
                    let meta = record_meta(&topic, m, now);
                    self.writer.advance(&meta, &borrowed(&txns));
                    continue;
                }
                Some((app, pos, false)) => txns.push((app, pos)),
                None => {}
            }
            todo.push((i, txns));
        }
        if todo.is_empty() {
            return Ok(None);
        }
        let job = ParseJob::start(batch, todo.iter().map(|(i, _)| *i).collect());
        Ok(Some(InFlight { now, todo, job }))
    }

    /// Appends every batch in flight, in order.
    pub(super) async fn append_inflight(&mut self) -> anyhow::Result<()> {
        while !self.inflight.is_empty() {
            self.append_oldest().await?;
        }
        Ok(())
    }

    /// Appends the oldest batch in flight once its parse is done.
    pub(super) async fn append_oldest(&mut self) -> anyhow::Result<()> {
        let Some(InFlight { now, todo, job }) = self.inflight.pop_front() else {
            return Ok(());
        };
        let topic = self.ctx.pipeline.topic().to_string();
        let (batch, parsed) = job.wait().await;
        for ((i, txns), tweet) in todo.iter().zip(parsed) {
            let m = &batch[*i];
            let meta = record_meta(&topic, m, now);
            let txns = borrowed(txns);
            match tweet {
                Ok((tweet, hash)) => {
                    self.writer
                        .append_hashed(&tweet, &hash, &meta, &txns)
                        .await
                        .context("writing bronze")?;
                    self.ctx.metrics.add_out(1);
                }
                Err(e) => {
                    self.writer
                        .dead_letter(&meta, &m.payload, &e, &txns)
                        .context("writing the dead-letter file")?;
                    self.ctx.metrics.add_errors(1);
                }
            }
        }
        Ok(())
    }
}
