//! Bus input: the stage's own consumer group on the tweet topic. Counts are flushed with the
//! offsets they reach, and only then are the offsets committed to the bus.

use std::time::Duration;

use anyhow::Context as _;

use super::run::Run;
use crate::bus::{Consumer, Offsets};
use crate::stage::{Exit, TopicEnd};
use crate::tweet::Tweet;

const BUS_BATCH: usize = 4096;
const BUS_POLL: Duration = Duration::from_millis(50);
/// Bus input flushes early once this many tweets wait.
const MAX_PENDING_TWEETS: u64 = 200_000;

impl Run<'_> {
    pub(super) async fn bus(&mut self) -> anyhow::Result<Exit> {
        let p = self.ctx.pipeline.clone();
        let topic = p.topic().to_string();
        p.bus
            .ensure_topic(&topic, p.settings.pipeline.partitions)
            .await
            .context("creating the tweet topic")?;
        let mut consumer = p
            .bus
            .consumer(&p.settings.kafka.group("trending"), &topic)
            .await
            .context("joining the consumer group")?;
        // Offsets the store already counted up to (a crash between the store commit and the
        // bus commit must not count those messages again).
        let skip: Offsets = self
            .checkpoint_offsets
            .iter()
            .filter(|((t, _), _)| *t == topic)
            .map(|((_, part), o)| (*part, *o))
            .collect();
        let mut positions = Offsets::new();
        loop {
            let batch = tokio::select! {
                biased;
                _ = self.ctx.cancel.cancelled() => {
                    self.final_flush().await;
                    self.commit_bus(&mut *consumer).await?;
                    return Ok(Exit::Cancelled);
                }
                b = consumer.poll(BUS_BATCH, BUS_POLL) => b.context("polling the bus")?,
            };
            for m in &batch {
                positions.insert(m.partition, m.offset + 1);
                self.pending_offsets.insert(m.partition, m.offset + 1);
                if skip.get(&m.partition).is_some_and(|s| m.offset < *s) {
                    continue;
                }
                // A record that does not parse is bronze's business (dead-letter file).
                if let Ok(t) = Tweet::parse(&m.payload) {
                    self.pending.add_tweet(
                        t.hashtags.iter().map(String::as_str),
                        &t.text,
                        Some(m.timestamp_ms),
                    );
                    self.pending.sent.add(m.timestamp_ms);
                }
            }
            self.ctx.metrics.add_in(batch.len() as u64);
            let due = self.last_flush.elapsed() >= self.settings.flush
                || self.pending.tweets >= MAX_PENDING_TWEETS;
            if due {
                self.flush().await?;
                self.commit_bus(&mut *consumer).await?;
            }
            if let Some(end) = p.tweets_end.get() {
                if TopicEnd::reached(&end, &positions) {
                    if !self.flush_all().await? {
                        self.final_flush().await;
                        self.commit_bus(&mut *consumer).await?;
                        return Ok(Exit::Cancelled);
                    }
                    self.commit_bus(&mut *consumer).await?;
                    self.ctx.log.event("input drained and every count flushed");
                    return Ok(Exit::Drained);
                }
            }
        }
    }

    async fn commit_bus(&mut self, consumer: &mut dyn Consumer) -> anyhow::Result<()> {
        if let Some(o) = self.committed_offsets.take() {
            consumer.commit(&o).await.context("committing offsets")?;
        }
        Ok(())
    }
}
