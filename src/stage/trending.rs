//! The `trending` stage: counts hashtags all-time and over a sliding window into the store.
//!
//! Input (`[trending] input`):
//! * `lake` (default): complete bronze files, picked up as they are renamed into place (never
//!   a temp file); the set of files counted is stored *with* the counts, atomically, so a
//!   restart neither recounts nor skips a file. Latency is bounded below by the bronze roll
//!   interval. Drains once `bronze` completed in this process and no file is left.
//! * `bus`: its own consumer group on the tweet topic; counts are flushed to the store every
//!   `flush_seconds` together with the offsets they cover, and only then are the offsets
//!   committed to the bus (a restart skips what the store already holds).
//!
//! When the store is unreachable (database down, wrong password) the stage keeps counting in
//! memory, shows `backing off: <error>`, retries with exponential backoff and catches up in
//! one batch. A batch that was sent is retried *as is* until the store answers, and the store
//! recognises a batch it already applied, so nothing is counted twice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;

use super::{Exit, Stage, StageContext, TopicEnd};
use crate::bus::{Bus, Consumer, Offsets};
use crate::config::{BusKind, Settings, StoreKind, TrendingInput, TrendingSettings, TrendingStart};
use crate::lake::incremental::{LakeTail, StartAt};
use crate::lake::list_complete_files;
use crate::store::{self, Committed, Store, StoreError, TrendingBatch, TrendingMeta};
use crate::trending::{gold, Counter, Window, WindowSpec};
use crate::tweet::Tweet;

/// The trending stage's consumer group (bus input).
pub const GROUP: &str = "ssp-trending";
/// How often the lake is listed when idle.
const LAKE_POLL: Duration = Duration::from_millis(200);
/// Bronze files counted per batch (a backlog is caught up in chunks).
const FILES_PER_BATCH: usize = 64;
const BUS_BATCH: usize = 4096;
const BUS_POLL: Duration = Duration::from_millis(50);
/// Bus input flushes early once this many tweets wait.
const MAX_PENDING_TWEETS: u64 = 200_000;
/// How long a stop may spend on a last flush.
const FINAL_FLUSH: Duration = Duration::from_secs(5);
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(5);

pub struct TrendingStage {
    settings: TrendingSettings,
    bus: BusKind,
    standalone: bool,
}

impl TrendingStage {
    pub fn new(settings: &Settings) -> TrendingStage {
        TrendingStage {
            settings: settings.trending.clone(),
            bus: settings.pipeline.bus,
            standalone: false,
        }
    }

    /// Without dependencies: counts a lake that other processes write (or wrote).
    pub fn standalone(mut self) -> TrendingStage {
        self.standalone = true;
        self
    }
}

#[async_trait]
impl Stage for TrendingStage {
    fn name(&self) -> &str {
        "trending"
    }

    fn kind(&self) -> &'static str {
        "built-in"
    }

    /// With the embedded bus, what feeds the input must run in this process.
    fn depends_on(&self) -> Vec<String> {
        match (self.bus, self.settings.input) {
            _ if self.standalone => Vec::new(),
            (BusKind::Kafka, _) => Vec::new(),
            (BusKind::Embedded, TrendingInput::Lake) => vec!["bronze".to_string()],
            (BusKind::Embedded, TrendingInput::Bus) => vec!["source".to_string()],
        }
    }

    async fn run(&self, ctx: StageContext) -> anyhow::Result<Exit> {
        let p = ctx.pipeline.clone();
        // The stage's own settings win: tests and benchmarks build it with their own.
        let mut settings = p.settings.clone();
        settings.trending = self.settings.clone();
        let store = store::open(&settings).map_err(|e| anyhow::anyhow!("{e}"))?;
        ctx.log.event(format!(
            "input {}, rule {}, window {}s, store {}",
            self.settings.input,
            self.settings.rule,
            self.settings.window.as_secs_f64(),
            store.describe()
        ));
        let bus_id = bus_identity(&settings, &p.bus);
        let Some(mut run) = Run::start(&ctx, store, &self.settings, bus_id).await? else {
            return Ok(Exit::Cancelled);
        };
        let exit = match self.settings.input {
            TrendingInput::Lake => run.lake().await,
            TrendingInput::Bus => run.bus().await,
        };
        if exit.is_ok() && run.store.kind() == StoreKind::Embedded {
            run.snapshot(true).await;
        }
        exit
    }
}

/// Identity of the bus the offsets belong to: Kafka keeps offsets across processes, the
/// embedded bus starts empty in every process (and every new bus in tests).
fn bus_identity(settings: &Settings, bus: &Arc<dyn Bus>) -> String {
    match settings.pipeline.bus {
        BusKind::Kafka => format!("kafka {}", settings.kafka.bootstrap_servers),
        BusKind::Embedded => {
            type Ids = Mutex<Vec<(Weak<dyn Bus>, u64)>>;
            static IDS: OnceLock<Ids> = OnceLock::new();
            let mut ids = IDS
                .get_or_init(Default::default)
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            ids.retain(|(w, _)| w.strong_count() > 0);
            let id = match ids
                .iter()
                .find(|(w, _)| w.upgrade().is_some_and(|b| Arc::ptr_eq(&b, bus)))
            {
                Some((_, id)) => *id,
                None => {
                    let id = rand::random::<u64>();
                    ids.push((Arc::downgrade(bus), id));
                    id
                }
            };
            format!("embedded {}-{id:016x}", std::process::id())
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One run: the counts not yet in the store, the batch in flight, the committed window.
struct Run<'a> {
    ctx: &'a StageContext,
    store: Arc<dyn Store>,
    settings: TrendingSettings,
    spec: WindowSpec,
    meta: TrendingMeta,
    bus_id: String,
    window: Window,
    seq: u64,
    checkpoint_files: BTreeSet<String>,
    /// Bronze files counted so far (checkpoint + this run).
    files_counted: u64,
    checkpoint_offsets: BTreeMap<(String, i32), i64>,
    /// Counted, not yet in a batch.
    pending: Counter,
    pending_files: Vec<String>,
    /// Next offsets read (bus input), not yet in a batch.
    pending_offsets: Offsets,
    /// Sent at least once, not known to be committed: retried as is.
    inflight: Option<TrendingBatch>,
    retry: Retry,
    last_flush: Instant,
    snapshot_at: Instant,
    snapshot_seq: u64,
    /// Offsets of the last committed batch, to commit to the bus.
    committed_offsets: Option<Offsets>,
}

/// Backoff between store attempts while the store is unavailable.
#[derive(Default)]
struct Retry {
    attempt: u32,
    next: Option<Instant>,
    down_since: Option<Instant>,
    last_error: Option<String>,
}

impl Retry {
    fn delay(&self) -> Duration {
        let d = RETRY_FIRST.as_secs_f64() * 2f64.powi(self.attempt.min(16) as i32);
        Duration::from_secs_f64(d.min(RETRY_MAX.as_secs_f64()))
    }

    fn ready(&self) -> bool {
        self.next.is_none_or(|n| Instant::now() >= n)
    }

    /// Waits until the next attempt is due (or `cancel`).
    async fn wait(&self, ctx: &StageContext) {
        if let Some(n) = self.next {
            tokio::select! {
                _ = ctx.cancel.cancelled() => {}
                _ = tokio::time::sleep_until(n.into()) => {}
            }
        }
    }
}

impl<'a> Run<'a> {
    /// Creates the tables and reads the checkpoint, retrying while the store is down;
    /// `None` when cancelled first.
    async fn start(
        ctx: &'a StageContext,
        store: Arc<dyn Store>,
        settings: &TrendingSettings,
        bus_id: String,
    ) -> anyhow::Result<Option<Run<'a>>> {
        let spec = WindowSpec::new(settings.window);
        let meta = TrendingMeta {
            rule: settings.rule.name().to_string(),
            input: settings.input.name().to_string(),
        };
        let mut retry = Retry::default();
        let checkpoint = loop {
            let attempt = async {
                store.trending().migrate().await?;
                store
                    .trending()
                    .checkpoint(&bus_id, spec.cutoff(now_ms()))
                    .await
            };
            let result = tokio::select! {
                _ = ctx.cancel.cancelled() => return Ok(None),
                r = attempt => r,
            };
            match result {
                Ok(c) => break c,
                Err(e) if e.is_transient() => {
                    backing_off(ctx, &mut retry, "reading the checkpoint", &e);
                    retry.wait(ctx).await;
                    if ctx.cancel.is_cancelled() {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(anyhow::anyhow!("{e}")),
            }
        };
        if let Some(stored) = &checkpoint.meta {
            if *stored != meta {
                let e = store::embedded::meta_mismatch(&settings.table, stored, &meta);
                return Err(anyhow::anyhow!("{e}"));
            }
        }
        recovered(ctx, &mut retry, None);
        ctx.log.event(format!(
            "checkpoint: batch {}, {} bronze files counted, {} window buckets",
            checkpoint.seq,
            checkpoint.files.len(),
            checkpoint.buckets.len()
        ));
        Ok(Some(Run {
            ctx,
            store,
            settings: settings.clone(),
            spec,
            meta,
            bus_id,
            window: Window::restore(checkpoint.buckets),
            seq: checkpoint.seq,
            files_counted: checkpoint.files.len() as u64,
            checkpoint_files: checkpoint.files,
            checkpoint_offsets: checkpoint.offsets,
            pending: spec.counter(settings.rule, now_ms()),
            pending_files: Vec::new(),
            pending_offsets: Offsets::new(),
            inflight: None,
            retry,
            last_flush: Instant::now(),
            snapshot_at: Instant::now(),
            snapshot_seq: checkpoint.seq,
            committed_offsets: None,
        }))
    }

    fn idle(&self) -> bool {
        self.inflight.is_none()
            && self.pending.is_empty()
            && self.pending_files.is_empty()
            && self.pending_offsets.is_empty()
    }

    /// Sends one batch (the one in flight, else a new one from what is pending) unless the
    /// backoff says wait. `Ok(true)` when nothing is left unflushed afterwards.
    async fn flush(&mut self) -> anyhow::Result<bool> {
        let now = now_ms();
        if self.inflight.is_none() {
            if self.idle() && !self.window.has_expired(&self.spec, now) {
                return Ok(true);
            }
            let counter = std::mem::replace(
                &mut self.pending,
                self.spec.counter(self.settings.rule, now),
            );
            let mut batch =
                self.window
                    .prepare(&self.spec, &counter, self.seq, self.meta.clone(), now);
            batch.files = std::mem::take(&mut self.pending_files);
            batch.bus = self.bus_id.clone();
            batch.offsets = std::mem::take(&mut self.pending_offsets)
                .into_iter()
                .map(|(p, o)| (self.ctx.pipeline.topic().to_string(), p, o))
                .collect();
            self.inflight = Some(batch);
        }
        if !self.retry.ready() {
            return Ok(false);
        }
        let Some(batch) = self.inflight.take() else {
            return Ok(true);
        };
        let result = self.store.trending().commit(&batch).await;
        self.last_flush = Instant::now();
        match result {
            Ok(c) => {
                self.window.apply(&batch);
                self.seq = c.seq();
                self.files_counted += batch.files.len() as u64;
                let offsets: Offsets = batch.offsets.iter().map(|(_, p, o)| (*p, *o)).collect();
                if !offsets.is_empty() {
                    self.committed_offsets = Some(offsets);
                }
                if let Committed::AlreadyApplied(seq) = c {
                    self.ctx.log.event(format!(
                        "batch {seq} had been committed before its answer was lost: not applied again"
                    ));
                }
                self.ctx.metrics.add_out(batch.tweets);
                recovered(self.ctx, &mut self.retry, Some(batch.tweets));
                self.ctx.metrics.set_detail(match self.settings.input {
                    TrendingInput::Lake => {
                        format!(
                            "batch {} · {} bronze files counted",
                            self.seq, self.files_counted
                        )
                    }
                    TrendingInput::Bus => format!("batch {}", self.seq),
                });
                if self.store.kind() == StoreKind::Embedded {
                    self.snapshot(false).await;
                }
                Ok(self.idle())
            }
            Err(e) if e.is_transient() => {
                self.inflight = Some(batch);
                backing_off(self.ctx, &mut self.retry, "flushing counts", &e);
                Ok(false)
            }
            Err(e) => {
                self.inflight = Some(batch);
                Err(anyhow::anyhow!("{e}"))
            }
        }
    }

    /// Flushes until everything is in the store (waiting out the backoff), or cancelled.
    async fn flush_all(&mut self) -> anyhow::Result<bool> {
        loop {
            if self.flush().await? && self.idle() {
                return Ok(true);
            }
            if self.ctx.cancel.is_cancelled() {
                return Ok(false);
            }
            self.retry.wait(self.ctx).await;
            if self.ctx.cancel.is_cancelled() {
                return Ok(false);
            }
        }
    }

    /// On stop: one last try, bounded in time. What is not flushed is recounted next time
    /// (lake: its files are not in the checkpoint; bus: its offsets were not committed).
    async fn final_flush(&mut self) {
        self.retry.next = None;
        let deadline = Instant::now() + FINAL_FLUSH;
        while Instant::now() < deadline {
            match tokio::time::timeout_at(deadline.into(), self.flush()).await {
                Ok(Ok(true)) if self.idle() => return,
                Ok(Ok(_)) => {
                    self.retry.next = None;
                    if self.retry.down_since.is_some() {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                Ok(Err(e)) => {
                    self.ctx.log.event(format!("last flush failed: {e:#}"));
                    return;
                }
                Err(_) => break,
            }
        }
        self.ctx
            .log
            .event("stopped with counts not flushed: they will be counted again on the next start");
    }

    /// Writes a gold snapshot when due (or `force`) and the table changed.
    async fn snapshot(&mut self, force: bool) {
        let every = self.settings.snapshot_every;
        if every.is_zero() || self.seq == self.snapshot_seq {
            return;
        }
        if !force && self.snapshot_at.elapsed() < every {
            return;
        }
        self.snapshot_at = Instant::now();
        let rows = match self.store.trending().all().await {
            Ok(r) => r,
            Err(e) => {
                self.ctx.log.event(format!("gold snapshot skipped: {e}"));
                return;
            }
        };
        let dir = gold::snapshot_dir(&self.ctx.pipeline.layout);
        let keep = self.settings.snapshot_keep;
        let now = now_ms();
        match tokio::task::spawn_blocking(move || gold::write_snapshot(&dir, rows, now, keep)).await
        {
            Ok(Ok(_)) => self.snapshot_seq = self.seq,
            Ok(Err(e)) => self.ctx.log.event(format!("gold snapshot failed: {e}")),
            Err(e) => self.ctx.log.event(format!("gold snapshot failed: {e}")),
        }
    }

    // ---------------------------------------------------------------------------------
    // Lake input
    // ---------------------------------------------------------------------------------

    async fn lake(&mut self) -> anyhow::Result<Exit> {
        let p = self.ctx.pipeline.clone();
        let bronze = p.layout.bronze();
        let fresh = self.seq == 0 && self.checkpoint_files.is_empty();
        let start = match self.settings.start {
            TrendingStart::Beginning => StartAt::Beginning,
            TrendingStart::Now => StartAt::Now,
        };
        let mut tail = {
            let dir = bronze.clone();
            let done = (!fresh).then(|| self.checkpoint_files.clone());
            tokio::task::spawn_blocking(move || LakeTail::new(dir, done, start))
                .await?
                .context("listing bronze files")?
        };
        if fresh && start == StartAt::Now && !tail.done().is_empty() {
            // Remember the files skipped on purpose, so a restart does not count them.
            self.pending_files.extend(tail.done().iter().cloned());
            self.ctx.log.event(format!(
                "start = now: {} bronze files already there are skipped",
                tail.done().len()
            ));
        }
        let threads = match self.settings.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        loop {
            if self.ctx.cancel.is_cancelled() {
                self.final_flush().await;
                return Ok(Exit::Cancelled);
            }
            // Completed first, then list: every file bronze closed before it completed is
            // in the listing.
            let bronze_completed = p.completed.contains("bronze");
            let listed = {
                let dir = bronze.clone();
                tokio::task::spawn_blocking(move || list_complete_files(&dir))
                    .await?
                    .context("listing bronze files")?
            };
            let pending: Vec<(String, PathBuf)> = listed
                .into_iter()
                .filter_map(|p| {
                    let key = p.strip_prefix(&bronze).ok()?.to_string_lossy().into_owned();
                    (!tail.done().contains(&key)).then_some((key, p))
                })
                .collect();
            if pending.is_empty() {
                let flushed = self.flush().await?;
                if bronze_completed && flushed && self.idle() {
                    self.ctx
                        .log
                        .event("bronze completed and every bronze file is counted");
                    return Ok(Exit::Drained);
                }
                let wait = if self.inflight.is_some() || !self.idle() {
                    self.retry
                        .next
                        .map(|n| n.saturating_duration_since(Instant::now()))
                        .unwrap_or(LAKE_POLL)
                        .min(LAKE_POLL)
                } else {
                    LAKE_POLL
                };
                tokio::select! {
                    _ = self.ctx.cancel.cancelled() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
                continue;
            }
            let chunk: Vec<(String, PathBuf)> = pending.into_iter().take(FILES_PER_BATCH).collect();
            let counted = self.count_chunk(&chunk, threads).await?;
            for (key, rows) in counted {
                tail.mark(key.clone());
                self.pending_files.push(key);
                self.ctx.metrics.add_in(rows);
            }
            self.flush().await?;
        }
    }

    /// Counts a chunk of bronze files into `pending`; returns (key, rows) per file handled.
    /// A file that cannot be read is reported and skipped (a vanished one silently).
    async fn count_chunk(
        &mut self,
        chunk: &[(String, PathBuf)],
        threads: usize,
    ) -> anyhow::Result<Vec<(String, u64)>> {
        let like = self.spec.counter(self.settings.rule, now_ms());
        let paths: Vec<PathBuf> = chunk.iter().map(|(_, p)| p.clone()).collect();
        let all = {
            let like = like.clone();
            tokio::task::spawn_blocking(move || {
                crate::trending::count_files(&paths, &like, threads)
            })
            .await?
        };
        match all {
            Ok((counter, per)) => {
                self.pending.merge(counter);
                Ok(chunk
                    .iter()
                    .zip(per)
                    .map(|((k, _), fc)| (k.clone(), fc.rows))
                    .collect())
            }
            Err(_) => {
                // Find the bad file(s): one by one.
                let mut out = Vec::new();
                for (key, path) in chunk {
                    let p = path.clone();
                    let mut c = like.empty_like();
                    let r = tokio::task::spawn_blocking(move || {
                        crate::trending::count_file(&p, &mut c).map(|fc| (c, fc))
                    })
                    .await?;
                    match r {
                        Ok((c, fc)) => {
                            self.pending.merge(c);
                            out.push((key.clone(), fc.rows));
                        }
                        Err(e) if !path.exists() => {
                            self.ctx.log.event(format!(
                                "bronze file vanished before counting: {key} ({e})"
                            ));
                            out.push((key.clone(), 0));
                        }
                        Err(e) => {
                            self.ctx
                                .metrics
                                .error(format!("unreadable bronze file skipped: {e}"));
                            self.ctx
                                .log
                                .event(format!("unreadable bronze file skipped: {key}: {e}"));
                            out.push((key.clone(), 0));
                        }
                    }
                }
                Ok(out)
            }
        }
    }

    // ---------------------------------------------------------------------------------
    // Bus input
    // ---------------------------------------------------------------------------------

    async fn bus(&mut self) -> anyhow::Result<Exit> {
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

/// Reports a failed store call: detail "backing off ...", error count, log on first failure.
fn backing_off(ctx: &StageContext, retry: &mut Retry, what: &str, e: &StoreError) {
    let delay = retry.delay();
    retry.attempt = retry.attempt.saturating_add(1);
    retry.next = Some(Instant::now() + delay);
    let msg = e.to_string();
    if retry.down_since.is_none() {
        retry.down_since = Some(Instant::now());
        ctx.log.event(format!(
            "store unavailable while {what}; counting on in memory and retrying: {msg}"
        ));
        tracing::warn!(stage = %ctx.name, error = %msg, "store unavailable");
    }
    if retry.last_error.as_deref() != Some(msg.as_str()) {
        ctx.metrics.error(msg.clone());
        retry.last_error = Some(msg.clone());
    }
    ctx.metrics
        .set_detail(format!("backing off {:.1}s: {msg}", delay.as_secs_f64()));
}

/// Clears the backoff after a successful store call.
fn recovered(ctx: &StageContext, retry: &mut Retry, tweets: Option<u64>) {
    if let Some(since) = retry.down_since.take() {
        let caught_up = tweets
            .map(|n| {
                format!(
                    "; flushed the batch held back ({n} tweets), then what was counted meanwhile"
                )
            })
            .unwrap_or_default();
        ctx.log.event(format!(
            "store back after {:.1}s{caught_up}",
            since.elapsed().as_secs_f64()
        ));
        tracing::info!(stage = %ctx.name, "store back");
    }
    retry.attempt = 0;
    retry.next = None;
    retry.last_error = None;
}
