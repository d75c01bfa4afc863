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

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;

use super::{Exit, Stage, StageContext, TopicEnd};
use crate::bus::{Consumer, Message, Offsets};
use crate::config::BusKind;
use crate::lake::{BronzeWriter, RecordMeta, RollPolicy};
use crate::tweet::Tweet;

const BATCH: usize = 2048;
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
            replay: HashMap::new(),
            revoked,
            positions: consumer.positions(),
            commit_failing: false,
        };
        run.consume(&mut *consumer).await
    }
}

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

fn borrowed(txns: &[(String, i64)]) -> Vec<(&str, i64)> {
    txns.iter().map(|(a, v)| (a.as_str(), *v)).collect()
}

type Parsed = Vec<Result<Tweet, String>>;

/// Parses the messages at `todo` on rayon's pool (every core) while the runtime thread stays
/// free for the other stages; gives the batch back with the results in `todo` order.
async fn parse_all(batch: Vec<Message>, todo: Vec<usize>) -> (Vec<Message>, Parsed) {
    use rayon::prelude::*;
    let parse = |m: &Message| Tweet::parse(&m.payload).map_err(|e| e.to_string());
    if todo.len() < 64 {
        let parsed = todo.iter().map(|i| parse(&batch[*i])).collect();
        return (batch, parsed);
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            todo.par_iter()
                .with_min_len(32)
                .map(|i| parse(&batch[*i]))
                .collect::<Parsed>()
        }));
        let _ = tx.send(parsed.map(|p| (batch, p)));
    });
    match rx.await {
        Ok(Ok(done)) => done,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("the parse pool dropped a batch"),
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
    /// (replay input, partition) -> last position in the table.
    replay: HashMap<(String, i32), Option<i64>>,
    revoked: Arc<AtomicBool>,
    /// Next offsets read per partition (for draining a finite source).
    positions: Offsets,
    /// The last bus offset commit failed (said once until one works again).
    commit_failing: bool,
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
            let room = (lake.roll_rows as u64)
                .saturating_sub(self.writer.rows())
                .clamp(1, BATCH as u64) as usize;
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
            self.write(consumer, batch).await?;
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

    /// Forgets what is buffered and every resume point: they are read from the table again.
    fn reset(&mut self, why: &str) {
        if self.writer.pending() {
            self.ctx.log.event(format!(
                "{why}: dropping uncommitted rows, resuming from the table"
            ));
        }
        self.writer.discard();
        self.next.clear();
        self.seeking.clear();
        self.replay.clear();
    }

    /// The next offset to write on `partition`, read from the table on first use.
    async fn resume(&mut self, consumer: &mut dyn Consumer, m: &Message) -> anyhow::Result<i64> {
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

    async fn write(
        &mut self,
        consumer: &mut dyn Consumer,
        batch: Vec<Message>,
    ) -> anyhow::Result<()> {
        let topic = self.ctx.pipeline.topic().to_string();
        let now = chrono::Utc::now();
        // 1. Decide, in order, what is new (resume points may need the table).
        let mut seeked: Vec<i32> = Vec::new();
        let mut todo: Vec<(usize, Vec<(String, i64)>)> = Vec::new();
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
            let mut txns = vec![(
                bus_app_id(&self.group, &topic, &self.topic_id, m.partition),
                m.offset,
            )];
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
        // 2. Parse on every core (the costly part), 3. append in order.
        let (batch, parsed) = parse_all(batch, todo.iter().map(|(i, _)| *i).collect()).await;
        for ((i, txns), tweet) in todo.iter().zip(parsed) {
            let m = &batch[*i];
            let meta = record_meta(&topic, m, now);
            let txns = borrowed(txns);
            match tweet {
                Ok(tweet) => {
                    self.writer
                        .append(&tweet, &meta, &txns)
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

    /// `(txn app id, position, already in the table)` of a message from a resumable source.
    async fn origin(
        &mut self,
        partition: i32,
        origin: &[u8],
    ) -> anyhow::Result<Option<(String, i64, bool)>> {
        let Some((input, partitions, pos)) = parse_origin(origin) else {
            return Ok(None);
        };
        let app = replay_app_id(input, partitions, partition);
        let key = (app.clone(), partition);
        let floor = match self.replay.get(&key) {
            Some(f) => *f,
            None => {
                let f = self
                    .writer
                    .resume_point(&app)
                    .await
                    .context("reading the replay position")?;
                self.replay.insert(key.clone(), f);
                f
            }
        };
        if floor.is_some_and(|f| pos <= f) {
            return Ok(Some((app, pos, true)));
        }
        self.replay.insert(key, Some(pos));
        Ok(Some((app, pos, false)))
    }

    /// Commits what is buffered as one table version, then copies the offsets to the bus.
    async fn flush(&mut self, consumer: &mut dyn Consumer) -> anyhow::Result<()> {
        if !self.writer.pending() {
            self.ctx.metrics.committed();
            return Ok(());
        }
        let rolled = match self.writer.roll().await {
            Ok(r) => r,
            Err(crate::lake::LakeError::Table(e))
                if e.is_conflict() || e.to_string().contains("another writer") =>
            {
                self.ctx.log.event(format!("bronze commit refused: {e}"));
                self.writer.recover();
                self.next.clear();
                self.seeking.clear();
                self.replay.clear();
                return Ok(());
            }
            Err(e) => return Err(e).context("committing to the bronze table"),
        };
        tracing::debug!(version = ?rolled.version, rows = rolled.rows, files = rolled.files, "bronze commit");
        if rolled.dead_letters > 0 {
            self.ctx.log.event(format!(
                "{} malformed records sent to the dead-letter file",
                rolled.dead_letters
            ));
        }
        if let Some(v) = rolled.version {
            self.ctx.metrics.set_detail(format!("table version {v}"));
        }
        self.ctx.metrics.committed();
        // Only a monitoring copy: the table is the truth, so a failure here loses nothing.
        let committed = if crate::fault::armed("bronze.bus_commit") {
            Err(crate::bus::BusError::Broker(
                "injected failure (SSP_FAULTS=bronze.bus_commit)".into(),
            ))
        } else {
            consumer.commit(&rolled.commit).await
        };
        // Bounded by the consumer (a few seconds); said once per run of failures.
        match committed {
            Err(e) if !self.commit_failing => {
                self.commit_failing = true;
                self.ctx.log.event(format!(
                    "bus offset commit failed (the table has the data): {e}"
                ));
                tracing::warn!(error = %e, "bus offset commit failed after the Delta commit");
            }
            Err(e) => tracing::debug!(error = %e, "bus offset commit failed again"),
            Ok(()) if self.commit_failing => {
                self.commit_failing = false;
                self.ctx.log.event("bus offset commits work again");
                tracing::info!("bus offset commits work again");
            }
            Ok(()) => {}
        }
        Ok(())
    }
}
