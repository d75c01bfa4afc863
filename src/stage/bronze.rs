//! The `bronze` stage: consumes the tweet topic and writes the bronze Parquet layer.
//! Offsets are committed only after the file holding those messages is closed, synced and
//! renamed, so a crash replays (never loses) what was not yet durable.

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
        let mut writer =
            BronzeWriter::new(&p.layout, policy, prefix).context("opening the bronze writer")?;
        let mut positions = Offsets::new();
        loop {
            let batch = tokio::select! {
                biased;
                _ = ctx.cancel.cancelled() => {
                    flush(&mut writer, &mut *consumer, &ctx).await?;
                    return Ok(Exit::Cancelled);
                }
                b = consumer.poll(BATCH, POLL) => b.context("polling the bus")?,
            };
            let now = chrono::Utc::now();
            for m in &batch {
                let meta = RecordMeta {
                    topic: p.topic(),
                    partition: m.partition,
                    offset: m.offset,
                    ingest_time: now,
                };
                match Tweet::parse(&m.payload) {
                    Ok(tweet) => {
                        writer.append(&tweet, &meta).context("writing bronze")?;
                        ctx.metrics.add_out(1);
                    }
                    Err(e) => {
                        writer
                            .dead_letter(&meta, &m.payload, &e.to_string())
                            .context("writing the dead-letter file")?;
                        ctx.metrics.add_errors(1);
                    }
                }
                positions.insert(m.partition, m.offset + 1);
            }
            ctx.metrics.add_in(batch.len() as u64);
            if writer.should_roll(Instant::now()) {
                flush(&mut writer, &mut *consumer, &ctx).await?;
            }
            if let Some(end) = p.tweets_end.get() {
                if TopicEnd::reached(&end, &positions) {
                    flush(&mut writer, &mut *consumer, &ctx).await?;
                    return Ok(Exit::Drained);
                }
            }
        }
    }
}

/// Makes everything appended durable, then commits its offsets.
async fn flush(
    writer: &mut BronzeWriter,
    consumer: &mut dyn Consumer,
    ctx: &StageContext,
) -> anyhow::Result<()> {
    if !writer.pending() {
        return Ok(());
    }
    let rolled = writer.roll().context("closing the bronze file")?;
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
