//! Where each partition and each replay input resumes: read from the table's transaction
//! versions on first use, forgotten when partitions move.

use std::sync::Arc;

use anyhow::Context as _;

use super::{bus_app_id, parse_origin, replay_app_id, Run};
use crate::bus::{Consumer, Message};

/// One replay input on one bus partition: its transaction id and how far the table holds it.
pub(super) struct ReplayInput {
    input: String,
    partitions: i32,
    partition: i32,
    app: Arc<str>,
    floor: Option<i64>,
}

impl Run<'_> {
    /// Forgets what is buffered and every resume point: they are read from the table again.
    pub(super) fn reset(&mut self, why: &str) {
        if self.writer.pending() {
            self.ctx.log.event(format!(
                "{why}: dropping uncommitted rows, resuming from the table"
            ));
        }
        self.inflight.clear();
        self.writer.discard();
        self.next.clear();
        self.seeking.clear();
        self.replay.clear();
    }

    /// The next offset to write on `partition`, read from the table on first use.
    pub(super) async fn resume(
        &mut self,
        consumer: &mut dyn Consumer,
        m: &Message,
    ) -> anyhow::Result<i64> {
        if let Some(n) = self.next.get(&m.partition) {
            return Ok(*n);
        }
        let topic = self.ctx.pipeline.topic().to_string();
        let app = bus_app_id(&self.group, &topic, &self.topic_id, m.partition);
        let version = self
            .writer
            .resume_point(&app)
            .await
            .context("reading where bronze ends")?;
        // Nothing of this topic's incarnation in the table yet: from the partition's start
        // (a consumer group may hold offsets of a deleted topic of the same name).
        let next = version.map_or(0, |v| v + 1);
        if next < m.offset {
            // The bus is ahead of the table (its offsets are only a copy): go back.
            consumer
                .seek(m.partition, next)
                .await
                .context("seeking back to where bronze ends")?;
            self.seeking.insert(m.partition, next);
        }
        if next != m.offset {
            self.ctx.log.event(format!(
                "partition {}: resuming at offset {next} from the bronze table (the bus was at {})",
                m.partition, m.offset
            ));
        }
        self.next.insert(m.partition, next);
        Ok(next)
    }

    pub(super) fn bus_app(&mut self, partition: i32) -> Arc<str> {
        let (group, topic, id) = (&self.group, self.ctx.pipeline.topic(), &self.topic_id);
        self.bus_apps
            .entry(partition)
            .or_insert_with(|| bus_app_id(group, topic, id, partition).into())
            .clone()
    }

    /// `(txn app id, position, already in the table)` of a message from a resumable source.
    pub(super) async fn origin(
        &mut self,
        partition: i32,
        origin: &[u8],
    ) -> anyhow::Result<Option<(Arc<str>, i64, bool)>> {
        let Some((input, partitions, pos)) = parse_origin(origin) else {
            return Ok(None);
        };
        let known = self.replay.iter().position(|r| {
            r.partition == partition && r.partitions == partitions && r.input == input
        });
        let i = match known {
            Some(i) => i,
            None => {
                let app: Arc<str> = replay_app_id(input, partitions, partition).into();
                let floor = self
                    .writer
                    .resume_point(&app)
                    .await
                    .context("reading the replay position")?;
                self.replay.push(ReplayInput {
                    input: input.to_string(),
                    partitions,
                    partition,
                    app,
                    floor,
                });
                self.replay.len() - 1
            }
        };
        let r = &mut self.replay[i];
        if r.floor.is_some_and(|f| pos <= f) {
            return Ok(Some((r.app.clone(), pos, true)));
        }
        r.floor = Some(pos);
        Ok(Some((r.app.clone(), pos, false)))
    }
}
