//! The `bronze` stage: consumes the tweet topic and writes the bronze Parquet layer.
//! Offsets are committed only after the file holding those messages is closed, synced and
//! renamed, so a crash replays (never loses) what was not yet durable.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;

use super::{Exit, Stage, StageContext, TopicEnd};
use crate::bus::{Consumer, Offsets};
use crate::config::BusKind;
use crate::lake::{BronzeWriter, RecordMeta, RollPolicy};
use crate::tweet::Tweet;

/// The bronze writer's consumer group.
pub const GROUP: &str = "ssp-bronze";
const BATCH: usize = 2048;
const POLL: Duration = Duration::from_millis(100);

pub struct BronzeStage {
    /// With the embedded bus the source must run in this process.
    pub bus: BusKind,
}

#[async_trait]
impl Stage for BronzeStage {
    fn name(&self) -> &str {
        "bronze"
    }

    fn kind(&self) -> &'static str {
        "built-in"
    }

    fn depends_on(&self) -> Vec<String> {
        match self.bus {
            BusKind::Embedded => vec!["source".to_string()],
            BusKind::Kafka => Vec::new(),
        }
    }

    async fn run(&self, ctx: StageContext) -> anyhow::Result<Exit> {
        let p = &ctx.pipeline;
        let lake = &p.settings.lake;
        p.bus
            .ensure_topic(p.topic(), p.settings.pipeline.partitions)
            .await
            .context("creating the tweet topic")?;
        let mut consumer = p
            .bus
            .consumer(GROUP, p.topic())
            .await
            .context("joining the consumer group")?;
        let policy = RollPolicy {
            max_rows: lake.roll_rows,
            max_bytes: lake.roll_bytes,
            max_age: lake.roll_seconds,
        };
        let prefix = format!(
            "bronze-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        let writer =
            BronzeWriter::new(&p.layout, policy, prefix).context("opening the bronze writer")?;
        // Shared with the rebalance hook, which flushes before partitions move to another
        // member (Kafka), so two writers never both write a message.
        let writer = Arc::new(Mutex::new(writer));
        let hook_writer = writer.clone();
        let hook_log = ctx.log.clone();
        consumer.set_revoke_hook(Box::new(move |lost| {
            let mut w = hook_writer.lock().unwrap_or_else(|e| e.into_inner());
            match w.roll() {
                Ok(rolled) => {
                    hook_log.event(format!(
                        "rebalance: flushed before losing partitions {lost:?}"
                    ));
                    rolled.commit
                }
                Err(e) => {
                    hook_log.event(format!("rebalance flush failed: {e}"));
                    Offsets::new()
                }
            }
        }));
        let mut positions = Offsets::new();
        loop {
            let batch = tokio::select! {
                biased;
                _ = ctx.cancel.cancelled() => {
                    flush(&writer, &mut *consumer, &ctx).await?;
                    return Ok(Exit::Cancelled);
                }
                b = consumer.poll(BATCH, POLL) => b.context("polling the bus")?,
            };
            let now = chrono::Utc::now();
            let roll = {
                let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
                for m in &batch {
                    let meta = RecordMeta {
                        topic: p.topic(),
                        partition: m.partition,
                        offset: m.offset,
                        ingest_time: now,
                    };
                    match Tweet::parse(&m.payload) {
                        Ok(tweet) => {
                            w.append(&tweet, &meta).context("writing bronze")?;
                            ctx.metrics.add_out(1);
                        }
                        Err(e) => {
                            w.dead_letter(&meta, &m.payload, &e.to_string())
                                .context("writing the dead-letter file")?;
                            ctx.metrics.add_errors(1);
                        }
                    }
                    positions.insert(m.partition, m.offset + 1);
                }
                ctx.metrics.add_in(batch.len() as u64);
                w.should_roll(Instant::now())
            };
            if roll {
                flush(&writer, &mut *consumer, &ctx).await?;
            }
            if let Some(end) = p.tweets_end.get() {
                if TopicEnd::reached(&end, &positions) {
                    flush(&writer, &mut *consumer, &ctx).await?;
                    return Ok(Exit::Drained);
                }
            }
        }
    }
}

/// Makes everything appended durable, then commits its offsets.
async fn flush(
    writer: &Mutex<BronzeWriter>,
    consumer: &mut dyn Consumer,
    ctx: &StageContext,
) -> anyhow::Result<()> {
    let rolled = {
        let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
        if !w.pending() {
            return Ok(());
        }
        w.roll().context("closing the bronze file")?
    };
    if let Some(file) = &rolled.file {
        tracing::debug!(path = %file.path.display(), rows = file.rows, "bronze file closed");
    }
    if rolled.dead_letters > 0 {
        ctx.log.event(format!(
            "{} malformed records sent to the dead-letter file",
            rolled.dead_letters
        ));
    }
    consumer
        .commit(&rolled.commit)
        .await
        .context("committing offsets")?;
    Ok(())
}
