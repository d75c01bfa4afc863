//! The `source` stage: synthetic or replayed tweets onto the tweet topic, at the configured rate.

use anyhow::Context as _;
use async_trait::async_trait;

use super::{Exit, Stage, StageContext};
use crate::bus::Producer;
use crate::config::SourceKind;
use crate::source::{tweet_key, Pacer, Replay};
use crate::tweet::synthetic::SyntheticTweets;

#[derive(Default)]
pub struct SourceStage {
    /// Runs so far: a restarted synthetic source continues with fresh tweets (seed + run)
    /// instead of repeating the same ids.
    runs: std::sync::atomic::AtomicU64,
}

/// Where the next record comes from.
enum Records {
    Synthetic(SyntheticTweets),
    Replay(Replay),
}

impl Records {
    async fn next(&mut self, buf: &mut Vec<u8>) -> anyhow::Result<bool> {
        match self {
            Records::Synthetic(gen) => {
                *buf = gen.next_json(chrono::Utc::now());
                Ok(true)
            }
            Records::Replay(r) => Ok(r.next(buf).await.context("reading the replay input")?),
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
                Records::Replay(
                    Replay::open(path, s.looping)
                        .await
                        .with_context(|| format!("opening {}", path.display()))?,
                )
            }
        };
        let mut pacer = Pacer::new(s.rate);
        let mut buf = Vec::with_capacity(8192);
        let mut sent = 0u64;
        let mut waiting_shown = false;
        loop {
            if s.limit > 0 && sent >= s.limit {
                break;
            }
            if let Some(wait) = pacer.wait() {
                tokio::select! {
                    biased;
                    _ = ctx.cancel.cancelled() => return stop(&mut *producer).await,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            if ctx.cancel.is_cancelled() {
                return stop(&mut *producer).await;
            }
            if !records.next(&mut buf).await? {
                break;
            }
            let key = tweet_key(&buf);
            tokio::select! {
                biased;
                _ = ctx.cancel.cancelled() => return stop(&mut *producer).await,
                r = producer.send(key.as_deref().map(str::as_bytes), &buf) => r.context("sending to the bus")?,
            }
            pacer.sent();
            sent += 1;
            ctx.metrics.add_out(1);
            if sent % 1024 == 0 {
                if let Some(why) = producer.waiting() {
                    ctx.metrics.set_detail(format!("backing off: {why}"));
                    waiting_shown = true;
                } else if waiting_shown {
                    ctx.metrics.set_detail("");
                    waiting_shown = false;
                }
            }
        }
        let end = producer.flush().await.context("flushing the producer")?;
        ctx.log
            .event(format!("input finished after {sent} records"));
        p.tweets_end.finish(end);
        Ok(Exit::Drained)
    }
}

async fn stop(producer: &mut dyn Producer) -> anyhow::Result<Exit> {
    producer.flush().await.context("flushing the producer")?;
    Ok(Exit::Cancelled)
}
