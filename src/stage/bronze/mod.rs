//! The `bronze` stage: consumes the tweet topic and commits it into the `bronze` Delta table.
//!
//! Exactly once by the table's own log (as kafka-delta-ingest does): every roll is one Delta
//! commit that records, per bus partition, a `txn` version (app id = group + topic + the
//! topic's identity + partition; version = last offset written). Whenever this writer gets a
//! partition (start, rebalance, takeover) it reads that version from the table and resumes
//! after it, seeking back if the bus is elsewhere. Bus offsets are committed after the Delta
//! commit, only as a copy for the Lag pane. Messages from a resumable source carry their
//! origin (replay input + position); their `txn` versions let a restarted source continue
//! where the table ends, and let this stage drop what a restarted source sends again.

mod batch;
mod commit;
mod parse;
mod resume;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;

use super::{Exit, Stage, StageContext, TopicEnd};
use crate::bus::{Consumer, Offsets};
use crate::config::BusKind;
use crate::lake::{BronzeWriter, RollPolicy};
use batch::InFlight;
use resume::ReplayInput;

const BATCH: usize = 2048;
/// Batches read and parsing before the oldest is appended.
const IN_FLIGHT: usize = 2;
const POLL: Duration = Duration::from_millis(100);

/// Transaction id of one replay input on one bus partition of a topic with `partitions`
/// partitions (which partition a record lands on depends on that count).
pub fn replay_app_id(input: &str, partitions: i32, partition: i32) -> String {
    format!("ssp-replay/{input}/{partitions}/{partition}")
}

/// A message's origin: `<input id>:<partitions>:<position>` (see `stage::source`).
pub fn parse_origin(origin: &[u8]) -> Option<(&str, i32, i64)> {
    let o = std::str::from_utf8(origin).ok()?;
    let (rest, pos) = o.rsplit_once(':')?;
    let (input, n) = rest.rsplit_once(':')?;
    Some((input, n.parse().ok()?, pos.parse().ok()?))
}

/// Transaction id of one bus partition written by one group.
pub fn bus_app_id(group: &str, topic: &str, topic_id: &str, partition: i32) -> String {
    format!("ssp-bronze/{group}/{topic}/{topic_id}/{partition}")
}

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

    fn in_process_dependencies(&self) -> Vec<String> {
        self.depends_on()
    }

    async fn run(&self, ctx: StageContext) -> anyhow::Result<Exit> {
        let p = &ctx.pipeline;
        let lake = &p.settings.lake;
        p.bus
            .ensure_topic(p.topic(), p.settings.pipeline.partitions)
            .await
            .context("creating the tweet topic")?;
        let group = p.settings.kafka.group("bronze");
        let topic_id = p
            .bus
            .topic_identity(p.topic())
            .await
            .context("reading the topic's identity")?;
        let mut consumer = p
            .bus
            .consumer(&group, p.topic())
            .await
            .context("joining the consumer group")?;
        let policy = RollPolicy {
            max_rows: lake.roll_rows,
            max_bytes: lake.roll_bytes,
            max_age: lake.roll_seconds,
        };
        let writer_id = format!(
            "bronze-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        let writer = BronzeWriter::open(&p.location, &p.layout, policy, writer_id)
            .await
            .context("opening the bronze table")?;
        // Partitions moving to another member: what is buffered is dropped (the new owner
        // resumes from the table), and every partition is resumed from the table again.
        let revoked = Arc::new(AtomicBool::new(false));
        let flag = revoked.clone();
        consumer.set_revoke_hook(Box::new(move |_lost| {
            flag.store(true, Ordering::SeqCst);
            Offsets::new()
        }));
        let mut run = Run {
            ctx: &ctx,
            writer,
            group,
            topic_id,
            next: HashMap::new(),
            seeking: HashMap::new(),
            replay: Vec::new(),
            revoked,
            positions: consumer.positions(),
            commit_failing: false,
            inflight: VecDeque::new(),
            bus_apps: HashMap::new(),
        };
        run.consume(&mut *consumer).await
    }
}

/// Where one partition resumes: the next offset this writer accepts.
struct Run<'a> {
    ctx: &'a StageContext,
    writer: BronzeWriter,
    group: String,
    topic_id: String,
    /// Partition -> next offset to write (from the table's txn version), once resolved.
    next: HashMap<i32, i64>,
    /// Partition -> offset it was sought to; the next message read shows where it landed.
    seeking: HashMap<i32, i64>,
    /// Replay inputs seen per partition, with the last position in the table.
    replay: Vec<ReplayInput>,
    revoked: Arc<AtomicBool>,
    /// Next offsets read per partition (for draining a finite source).
    positions: Offsets,
    /// The last bus offset commit failed (said once until one works again).
    commit_failing: bool,
    /// Batches being parsed, oldest first (appended in order, and all before any commit).
    inflight: VecDeque<InFlight>,
    /// Partition -> its bus transaction id.
    bus_apps: HashMap<i32, Arc<str>>,
}

impl Run<'_> {
    async fn consume(&mut self, consumer: &mut dyn Consumer) -> anyhow::Result<Exit> {
        let p = self.ctx.pipeline.clone();
        let lake = &p.settings.lake;
        let mut broker_down_shown = false;
        loop {
            if self.revoked.swap(false, Ordering::SeqCst) {
                self.reset("partitions were reassigned");
            }
            // Never read past the row limit: commits hold at most roll_rows rows.
            let mut room =
                (lake.roll_rows as u64).saturating_sub(self.writer.rows() + self.inflight_rows());
            if room == 0 {
                self.flush(consumer).await?;
                room = lake.roll_rows as u64;
            }
            let room = room.clamp(1, BATCH as u64) as usize;
            let batch = tokio::select! {
                biased;
                _ = self.ctx.cancel.cancelled() => {
                    self.flush(consumer).await?;
                    return Ok(Exit::Cancelled);
                }
                b = consumer.poll(room, POLL) => b.context("polling the bus")?,
            };
            self.ctx.metrics.add_in(batch.len() as u64);
            let idle = batch.is_empty();
            if !idle {
                self.ctx.metrics.waiting();
            }
            // This batch's parse runs while older ones are appended; up to IN_FLIGHT
            // batches parse at once, so neither the pool nor this task waits on a late one.
            if let Some(next) = self.decide(consumer, batch).await? {
                self.inflight.push_back(next);
            }
            while self.inflight.len() > IN_FLIGHT {
                self.append_oldest().await?;
            }
            if idle {
                self.append_inflight().await?;
            }
            if self.writer.should_roll(Instant::now()) {
                self.flush(consumer).await?;
            }
            if idle {
                // A partition with nothing new still counts as reached.
                for (part, pos) in consumer.positions() {
                    let e = self.positions.entry(part).or_insert(pos);
                    *e = (*e).max(pos);
                }
            }
            // The consumer's own view (its group coordinator) first, then the bus's.
            let waiting = crate::bus::kafka::consumer_waiting(&self.group, p.topic());
            match p.bus.broker_health() {
                _ if waiting.is_some() => {
                    let why = waiting.unwrap_or_default();
                    self.ctx.metrics.set_detail(format!("backing off: {why}"));
                    broker_down_shown = true;
                }
                Some(h) if !h.up && h.last_error.is_some() => {
                    let why = h.last_error.unwrap_or_else(|| "no connection".into());
                    self.ctx
                        .metrics
                        .set_detail(format!("backing off: broker unreachable: {why}"));
                    broker_down_shown = true;
                }
                _ if broker_down_shown => {
                    self.ctx.metrics.set_detail("");
                    broker_down_shown = false;
                }
                _ => {}
            }
            if let Some(end) = p.tweets_end.get() {
                for (part, pos) in consumer.positions() {
                    let e = self.positions.entry(part).or_insert(pos);
                    *e = (*e).max(pos);
                }
                if TopicEnd::reached(&end, &self.positions) {
                    self.flush(consumer).await?;
                    return Ok(Exit::Drained);
                }
            }
        }
    }
}
