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
use crate::lake::recover::durable_offsets;
use crate::lake::{BronzeWriter, RecordMeta, RollPolicy};
use crate::tweet::Tweet;

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
            .consumer(&p.settings.kafka.group("bronze"), p.topic())
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
        // Temp files of writers killed long ago are garbage (never visible to readers).
        if let Err(e) = crate::lake::remove_stale_temp_files(&p.layout.bronze()) {
            tracing::debug!(error = %e, "cleaning stale temp files");
        }
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
        // Where this run starts: a partition with nothing new must still count as reached.
        let mut positions = consumer.positions();
        // Kafka outlives this process: skip what earlier runs made durable but did not commit.
        let mut skip_below = match self.bus {
            BusKind::Kafka => recover(&ctx).await?,
            BusKind::Embedded => Offsets::new(),
        };
        let mut skipped = Offsets::new();
        let mut broker_down_shown = false;
        loop {
            // Never read past the row limit of the open file: files roll at exactly roll_rows.
            let room = {
                let w = writer.lock().unwrap_or_else(|e| e.into_inner());
                (lake.roll_rows as u64)
                    .saturating_sub(w.rows())
                    .clamp(1, BATCH as u64) as usize
            };
            let batch = tokio::select! {
                biased;
                _ = ctx.cancel.cancelled() => {
                    flush(&writer, &mut *consumer, &ctx).await?;
                    return Ok(Exit::Cancelled);
                }
                b = consumer.poll(room, POLL) => b.context("polling the bus")?,
            };
            let now = chrono::Utc::now();
            let roll = {
                let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
                for m in &batch {
                    if skip_below.get(&m.partition).is_some_and(|s| m.offset < *s) {
                        skipped.insert(m.partition, m.offset + 1);
                        positions.insert(m.partition, m.offset + 1);
                        continue;
                    }
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
            if !skipped.is_empty() {
                consumer
                    .commit(&skipped)
                    .await
                    .context("committing recovered offsets")?;
                skipped.clear();
                skip_below.retain(|p, s| positions.get(p).is_none_or(|pos| pos < s));
            }
            if roll {
                flush(&writer, &mut *consumer, &ctx).await?;
            }
            if batch.is_empty() {
                match p.bus.broker_health() {
                    Some(h) if !h.up && h.last_error.is_some() => {
                        let why = h.last_error.unwrap_or_else(|| "no connection".into());
                        ctx.metrics
                            .set_detail(format!("backing off: broker unreachable: {why}"));
                        broker_down_shown = true;
                    }
                    _ if broker_down_shown => {
                        ctx.metrics.set_detail("");
                        broker_down_shown = false;
                    }
                    _ => {}
                }
                for (part, pos) in consumer.positions() {
                    let e = positions.entry(part).or_insert(pos);
                    *e = (*e).max(pos);
                }
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

/// Offsets that bronze files already cover (from their footers), where they are ahead of
/// nothing the topic has not reached: a file claiming offsets beyond the high watermark is
/// from an earlier incarnation of the topic and is ignored.
async fn recover(ctx: &StageContext) -> anyhow::Result<Offsets> {
    let p = &ctx.pipeline;
    let dir = p.layout.bronze();
    let topic = p.topic().to_string();
    let durable = tokio::task::spawn_blocking(move || durable_offsets(&dir, &topic))
        .await?
        .context("reading bronze footers")?;
    if durable.is_empty() {
        return Ok(durable);
    }
    let hw = p
        .bus
        .high_watermarks(p.topic())
        .await
        .context("reading watermarks")?;
    let mut out = Offsets::new();
    for (part, next) in durable {
        match hw.get(&part) {
            Some(h) if next <= *h => {
                out.insert(part, next);
            }
            _ => ctx.log.event(format!(
                "ignoring lake offsets of partition {part} (beyond the topic's end: recreated topic?)"
            )),
        }
    }
    if !out.is_empty() {
        ctx.log.event(format!(
            "recovered durable offsets {out:?}: not writing those again"
        ));
    }
    Ok(out)
}
