//! The `source` stage: synthetic or replayed tweets onto the tweet topic, at the configured rate.

use anyhow::Context as _;
use async_trait::async_trait;
use bytes::Bytes;

use super::{Exit, Stage, StageContext};
use crate::bus::{Offsets, Producer};
use crate::config::SourceKind;
use crate::source::x_api::XApiSource;
use crate::source::{tweet_key, Pacer, Replay, TimedPacer};
use crate::tweet::synthetic::SyntheticTweets;

#[derive(Default)]
pub struct SourceStage {
    /// Runs so far: a restarted synthetic source continues with fresh tweets (seed + run)
    /// instead of repeating the same ids.
    runs: std::sync::atomic::AtomicU64,
}

/// Partitions of the tweet topic (the configured count until the bus knows it).
async fn topic_partitions(ctx: &StageContext) -> i32 {
    let p = &ctx.pipeline;
    p.bus
        .high_watermarks(p.topic())
        .await
        .ok()
        .map(|h| h.len() as i32)
        .filter(|n| *n > 0)
        .unwrap_or(p.settings.pipeline.partitions)
}

/// The first replay position bronze does not hold for sure: one past the smallest position
/// recorded over the topic's partitions (every record up to it is in the table; later ones
/// may be, and bronze drops those it already has). 0 when a partition has no record yet.
async fn resume_position(ctx: &StageContext, input: &str, partitions: i32) -> anyhow::Result<i64> {
    let p = &ctx.pipeline;
    let Some(table) = crate::lake::table::open(&p.location, crate::lake::bronze::TABLE)
        .await
        .context("opening the bronze table")?
    else {
        return Ok(0);
    };
    let snapshot = table.snapshot().context("reading the bronze table")?;
    let log = table.log_store();
    let version = |app: String| {
        let log = log.clone();
        async move {
            snapshot
                .transaction_version(log.as_ref(), &app)
                .await
                .context("reading the bronze table")
        }
    };
    let mut min: Option<i64> = None;
    let mut missing = false;
    for part in 0..partitions {
        match version(super::bronze::replay_app_id(input, partitions, part)).await? {
            Some(v) => min = Some(min.map_or(v, |m| m.min(v))),
            None => missing = true,
        }
    }
    if min.is_none() {
        // Records land on partitions by the partition count: an input begun with another
        // count cannot be resumed exactly.
        for other in (1..=32).filter(|n| *n != partitions) {
            if version(super::bronze::replay_app_id(input, other, 0))
                .await?
                .is_some()
            {
                anyhow::bail!(
                    "this input was partly replayed into bronze over {other} partitions and the topic now has {partitions}: set [pipeline] partitions = {other} to resume it, or replay into another lake"
                );
            }
        }
    }
    Ok(if missing { 0 } else { min.map_or(0, |m| m + 1) })
}

/// Where the next record comes from.
enum Records {
    Synthetic(SyntheticTweets),
    /// With the topic's partition count (part of every record's origin).
    Replay(Replay, i32),
    /// The live X filtered stream: never ends; its errors are fatal (it retries by itself).
    XApi(Box<XApiSource>),
}

impl Records {
    /// The next record; `None` when the input ended.
    async fn next(&mut self, buf: &mut Vec<u8>) -> anyhow::Result<Option<Bytes>> {
        match self {
            Records::Synthetic(gen) => Ok(Some(Bytes::from(gen.next_json(chrono::Utc::now())))),
            Records::Replay(r, _) => r.next().await.context("reading the replay input"),
            Records::XApi(x) => {
                x.next(buf).await?;
                Ok(Some(Bytes::copy_from_slice(buf)))
            }
        }
    }
}

#[async_trait]
impl Stage for SourceStage {
    fn name(&self) -> &str {
        "source"
    }

    fn kind(&self) -> &'static str {
        "built-in"
    }

    async fn run(&self, ctx: StageContext) -> anyhow::Result<Exit> {
        let p = &ctx.pipeline;
        let s = &p.settings.source;
        p.tweets_end.reset();
        p.bus
            .ensure_topic(p.topic(), p.settings.pipeline.partitions)
            .await
            .context("creating the tweet topic")?;
        let mut producer = p
            .bus
            .producer(p.topic())
            .await
            .context("opening the producer")?;
        let mut records = match s.kind {
            SourceKind::Synthetic => {
                let run = self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Records::Synthetic(SyntheticTweets::new(s.seed.wrapping_add(run)))
            }
            SourceKind::Replay => {
                let path = s.path.as_deref().context("source.path is not set")?;
                ctx.metrics.set_detail(format!("replay {}", path.display()));
                let mut replay = Replay::open(path, s.looping)
                    .await
                    .with_context(|| format!("opening {}", path.display()))?;
                let partitions = topic_partitions(&ctx).await;
                let from = resume_position(&ctx, replay.id(), partitions).await?;
                if from > 0 {
                    let more = replay
                        .skip_to(from)
                        .await
                        .context("reading the replay input")?;
                    ctx.log.event(format!(
                        "bronze already holds this input up to record {from}: continuing there{}",
                        if more { "" } else { " (nothing left)" }
                    ));
                }
                Records::Replay(replay, partitions)
            }
            SourceKind::XApi => Records::XApi(Box::new(XApiSource::new(
                &s.x_api,
                ctx.metrics.clone(),
                ctx.log.clone(),
            )?)),
        };
        // A live stream is never slowed down (X drops clients that read too slowly).
        // A replay at N x its original timing paces by the tweets' dates instead.
        let mut timed = match (s.kind, s.speed) {
            (SourceKind::Replay, Some(speed)) => {
                ctx.log
                    .event(format!("replaying at {speed}x the tweets' original timing"));
                Some(TimedPacer::new(speed))
            }
            _ => None,
        };
        let rate = if s.kind == SourceKind::XApi || timed.is_some() {
            0
        } else {
            s.rate
        };
        let mut pacer = Pacer::new(rate);
        let mut buf = Vec::with_capacity(8192);
        let mut sent = 0u64;
        // The detail line from before back-pressure was shown, put back once it is over.
        let mut before_waiting: Option<String> = None;
        let mut last_report = std::time::Instant::now();
        loop {
            if s.limit > 0 && sent >= s.limit {
                break;
            }
            if let Some(wait) = pacer.wait() {
                tokio::select! {
                    biased;
                    _ = ctx.cancel.cancelled() => return stop(&ctx, &mut *producer).await,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            if ctx.cancel.is_cancelled() {
                return stop(&ctx, &mut *producer).await;
            }
            let record = tokio::select! {
                biased;
                _ = ctx.cancel.cancelled() => return stop(&ctx, &mut *producer).await,
                r = records.next(&mut buf) => r?,
            };
            let Some(record) = record else {
                break;
            };
            if let Some(timed) = timed.as_mut() {
                let at = crate::tweet::Tweet::parse(&record)
                    .ok()
                    .and_then(|t| t.created_at)
                    .map(|c| c.timestamp_millis());
                if let Some(wait) = timed.wait(at) {
                    tokio::select! {
                        biased;
                        _ = ctx.cancel.cancelled() => return stop(&ctx, &mut *producer).await,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
            let key = tweet_key(&record);
            let origin = match &records {
                Records::Replay(r, n) => Some(format!("{}:{n}:{}", r.id(), r.position())),
                _ => None,
            };
            let cancelled = {
                let key = key.as_deref().map(str::as_bytes);
                let send = async {
                    match &origin {
                        Some(o) => producer.send_from(key, record, o).await,
                        None => producer.send(key, record).await,
                    }
                };
                tokio::pin!(send);
                loop {
                    tokio::select! {
                        biased;
                        _ = ctx.cancel.cancelled() => break true,
                        r = &mut send => {
                            r.context("sending to the bus")?;
                            break false;
                        }
                        // A send that waits is back-pressure: say why.
                        _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {
                            before_waiting.get_or_insert_with(|| ctx.metrics.detail());
                            ctx.metrics.set_detail(format!("backing off: {}", waiting_reason(p)));
                        }
                    }
                }
            };
            if cancelled {
                return stop(&ctx, &mut *producer).await;
            }
            pacer.sent();
            sent += 1;
            ctx.metrics.add_out(1);
            if last_report.elapsed() >= REPORT {
                last_report = std::time::Instant::now();
                report_errors(&ctx);
                if let Some(why) = producer.waiting() {
                    before_waiting.get_or_insert_with(|| ctx.metrics.detail());
                    ctx.metrics.set_detail(format!("backing off: {why}"));
                } else if let Some(before) = before_waiting.take() {
                    ctx.metrics.set_detail(before);
                }
            }
        }
        let end = flush(&ctx, &mut *producer).await?;
        if let Some(before) = before_waiting {
            ctx.metrics.set_detail(before);
        }
        ctx.log
            .event(format!("input finished after {sent} records"));
        p.tweets_end.finish(end);
        Ok(Exit::Drained)
    }
}

async fn stop(ctx: &StageContext, producer: &mut dyn Producer) -> anyhow::Result<Exit> {
    flush(ctx, producer).await?;
    Ok(Exit::Cancelled)
}

/// How often producer trouble is looked at while sending.
const REPORT: std::time::Duration = std::time::Duration::from_millis(500);

/// Waits until the broker acknowledged everything sent, saying meanwhile what is still
/// undelivered and why (a quit waits here, bounded by the supervisor's shutdown).
async fn flush(ctx: &StageContext, producer: &mut dyn Producer) -> anyhow::Result<Offsets> {
    let flush = producer.flush();
    tokio::pin!(flush);
    let mut tick = tokio::time::interval(REPORT);
    tick.tick().await;
    let before = ctx.metrics.detail();
    loop {
        tokio::select! {
            r = &mut flush => {
                report_errors(ctx);
                ctx.metrics.set_detail(before);
                return r.context("flushing the producer");
            }
            _ = tick.tick() => {
                report_errors(ctx);
                let n = crate::bus::kafka::undelivered();
                let why = match ctx.pipeline.bus.broker_health() {
                    Some(h) if !h.up => format!(
                        ": broker unreachable: {}",
                        h.last_error.unwrap_or_else(|| "no connection".into())
                    ),
                    _ => String::new(),
                };
                ctx.metrics.set_detail(format!("flushing: {n} undelivered{why}"));
            }
        }
    }
}

/// Producer incidents (a fatal error recovered from, messages refused) count as the stage's
/// errors; each was logged when it happened.
fn report_errors(ctx: &StageContext) {
    for e in crate::bus::kafka::take_producer_errors(ctx.pipeline.topic()) {
        ctx.log.event(e.clone());
        ctx.metrics.error(e);
    }
}

/// Why a send is waiting: the broker is away, or the bus is full (a slow consumer group).
fn waiting_reason(p: &crate::stage::Pipeline) -> String {
    match p.bus.broker_health() {
        Some(h) if !h.up => format!(
            "broker unreachable: {}",
            h.last_error.unwrap_or_else(|| "no connection".into())
        ),
        _ => "bus full: waiting for consumers to commit".to_string(),
    }
}
