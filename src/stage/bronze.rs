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
            replay: Vec::new(),
            revoked,
            positions: consumer.positions(),
            commit_failing: false,
            inflight: None,
            bus_apps: HashMap::new(),
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

fn borrowed(txns: &[(Arc<str>, i64)]) -> Vec<(&str, i64)> {
    txns.iter().map(|(a, v)| (&**a, *v)).collect()
}

/// Each new message parsed, with its text's hash (both on the pool), or why it is no tweet.
type Parsed = Vec<Result<(Tweet, String), String>>;
type ParseResult = std::thread::Result<(Vec<Message>, Parsed)>;

/// The parse of one batch's new messages: done already (small batches) or running on rayon's
/// pool (every core) while the runtime thread appends the batch before it.
enum ParseJob {
    Done(Vec<Message>, Parsed),
    Running(tokio::sync::oneshot::Receiver<ParseResult>),
}

impl ParseJob {
    fn start(batch: Vec<Message>, todo: Vec<usize>) -> ParseJob {
        use rayon::prelude::*;
        let parse = |m: &Message| match Tweet::parse(&m.payload) {
            Ok(t) => {
                let hash = t.text_hash();
                Ok((t, hash))
            }
            Err(e) => Err(e.to_string()),
        };
        // Even a few messages go to the pool: the runtime thread runs the source too.
        if todo.len() < 4 {
            let parsed = todo.iter().map(|i| parse(&batch[*i])).collect();
            return ParseJob::Done(batch, parsed);
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        rayon::spawn(move || {
            let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                todo.par_iter()
                    .with_min_len(16)
                    .map(|i| parse(&batch[*i]))
                    .collect::<Parsed>()
            }));
            let _ = tx.send(parsed.map(|p| (batch, p)));
        });
        ParseJob::Running(rx)
    }

    /// The batch back, with the results in `todo` order.
    async fn wait(self) -> (Vec<Message>, Parsed) {
        match self {
            ParseJob::Done(batch, parsed) => (batch, parsed),
            ParseJob::Running(rx) => match rx.await {
                Ok(Ok(done)) => done,
                Ok(Err(panic)) => std::panic::resume_unwind(panic),
                Err(_) => panic!("the parse pool dropped a batch"),
            },
        }
    }
}

/// Transaction ids (and versions) one message advances: its bus partition's, its replay's.
type Txns = Vec<(Arc<str>, i64)>;

/// A batch decided on and being parsed; appended once the batch before it is.
struct InFlight {
    now: chrono::DateTime<chrono::Utc>,
    /// Index in the batch of each new message, with the transaction versions it advances.
    todo: Vec<(usize, Txns)>,
    job: ParseJob,
}

/// One replay input on one bus partition: its transaction id and how far the table holds it.
struct ReplayInput {
    input: String,
    partitions: i32,
    partition: i32,
    app: Arc<str>,
    floor: Option<i64>,
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
    /// The batch being parsed (appended before the next one, and before any commit).
    inflight: Option<InFlight>,
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
            // This batch's parse runs while the one before it is appended.
            let next = self.decide(consumer, batch).await?;
            self.append_inflight().await?;
            self.inflight = next;
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

    /// Forgets what is buffered and every resume point: they are read from the table again.
    fn reset(&mut self, why: &str) {
        if self.writer.pending() {
            self.ctx.log.event(format!(
                "{why}: dropping uncommitted rows, resuming from the table"
            ));
        }
        self.inflight = None;
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

    fn inflight_rows(&self) -> u64 {
        self.inflight.as_ref().map_or(0, |f| f.todo.len() as u64)
    }

    fn bus_app(&mut self, partition: i32) -> Arc<str> {
        let (group, topic, id) = (&self.group, self.ctx.pipeline.topic(), &self.topic_id);
        self.bus_apps
            .entry(partition)
            .or_insert_with(|| bus_app_id(group, topic, id, partition).into())
            .clone()
    }

    /// Decides, in order, which messages of `batch` are new (resume points may need the
    /// table) and starts parsing them.
    async fn decide(
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

    /// Appends the batch in flight, in order, once its parse is done.
    async fn append_inflight(&mut self) -> anyhow::Result<()> {
        let Some(InFlight { now, todo, job }) = self.inflight.take() else {
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

    /// `(txn app id, position, already in the table)` of a message from a resumable source.
    async fn origin(
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

    /// Commits what is buffered as one table version, then copies the offsets to the bus.
    async fn flush(&mut self, consumer: &mut dyn Consumer) -> anyhow::Result<()> {
        self.append_inflight().await?;
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
