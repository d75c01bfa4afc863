//! One run of the trending stage: the counts not yet in the store, the batch in flight, the
//! store's backoff, and the gold snapshots. The inputs ([`super::lake`], [`super::bus`]) feed
//! `pending` and call [`Run::flush`].

use crate::backoff::Backoff;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::now_ms;
use crate::bus::Offsets;
use crate::config::{StoreKind, TrendingInput, TrendingSettings};
use crate::stage::StageContext;
use crate::store::{self, Committed, Store, StoreError, TrendingBatch, TrendingMeta};
use crate::trending::gold::{self, Snapshot};
use crate::trending::{Counter, Window, WindowSpec};

/// How long a stop may spend on a last flush.
const FINAL_FLUSH: Duration = Duration::from_secs(5);
/// Store retries: 250 ms doubling up to 5 s.
const RETRY: Backoff = Backoff::doubling(Duration::from_millis(250), Duration::from_secs(5));

/// One run: the counts not yet in the store, the batch in flight, the committed window.
pub(super) struct Run<'a> {
    pub(super) ctx: &'a StageContext,
    pub(super) store: Arc<dyn Store>,
    pub(super) settings: TrendingSettings,
    pub(super) spec: WindowSpec,
    meta: TrendingMeta,
    bus_id: String,
    window: Window,
    pub(super) seq: u64,
    /// Last bronze version in the store (lake input), as read at start and then committed.
    pub(super) lake_version: Option<i64>,
    pub(super) checkpoint_offsets: BTreeMap<(String, i32), i64>,
    /// Counted, not yet in a batch.
    pub(super) pending: Counter,
    /// Last bronze version counted into `pending` (lake input), not yet in a batch.
    pub(super) pending_version: Option<i64>,
    /// Next offsets read (bus input), not yet in a batch.
    pub(super) pending_offsets: Offsets,
    /// Sent at least once, not known to be committed: retried as is.
    pub(super) inflight: Option<TrendingBatch>,
    /// When the tweets of the batch in flight entered the bus (for the latency readout).
    inflight_sent: crate::latency::SentTimes,
    pub(super) retry: Retry,
    pub(super) last_flush: Instant,
    snapshot_at: Instant,
    snapshot_seq: u64,
    /// Offsets of the last committed batch, to commit to the bus.
    pub(super) committed_offsets: Option<Offsets>,
    /// A bronze file that cannot be read right now (lake input), shown in the detail.
    pub(super) lake_error: Option<String>,
}

/// Backoff between store attempts while the store is unavailable.
#[derive(Default)]
pub(super) struct Retry {
    pub(super) attempt: u32,
    pub(super) next: Option<Instant>,
    pub(super) down_since: Option<Instant>,
    pub(super) last_error: Option<String>,
}

impl Retry {
    pub(super) fn delay(&self) -> Duration {
        RETRY.delay(self.attempt)
    }

    pub(super) fn ready(&self) -> bool {
        self.next.is_none_or(|n| Instant::now() >= n)
    }

    /// Waits until the next attempt is due (or `cancel`).
    pub(super) async fn wait(&self, ctx: &StageContext) {
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
    pub(super) async fn start(
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
            "checkpoint: batch {}, bronze version {}, {} window buckets",
            checkpoint.seq,
            version_text(checkpoint.lake_version),
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
            lake_version: checkpoint.lake_version,
            checkpoint_offsets: checkpoint.offsets,
            pending: spec.counter(settings.rule, now_ms()),
            pending_version: None,
            pending_offsets: Offsets::new(),
            inflight: None,
            inflight_sent: Default::default(),
            retry,
            last_flush: Instant::now(),
            snapshot_at: Instant::now(),
            snapshot_seq: checkpoint.seq,
            committed_offsets: None,
            lake_error: None,
        }))
    }

    pub(super) fn idle(&self) -> bool {
        self.inflight.is_none()
            && self.pending.is_empty()
            && self.pending_version.is_none()
            && self.pending_offsets.is_empty()
    }

    /// Sends one batch (the one in flight, else a new one from what is pending) unless the
    /// backoff says wait. `Ok(true)` when nothing is left unflushed afterwards.
    pub(super) async fn flush(&mut self) -> anyhow::Result<bool> {
        let now = now_ms();
        if self.inflight.is_none() {
            if self.idle() && !self.window.has_expired(&self.spec, now) {
                return Ok(true);
            }
            let mut counter = std::mem::replace(
                &mut self.pending,
                self.spec.counter(self.settings.rule, now),
            );
            self.inflight_sent = std::mem::take(&mut counter.sent);
            let mut batch =
                self.window
                    .prepare(&self.spec, &counter, self.seq, self.meta.clone(), now);
            batch.lake_version = self.pending_version.take();
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
                self.ctx
                    .metrics
                    .counted(&std::mem::take(&mut self.inflight_sent));
                self.window.apply(&batch);
                self.seq = c.seq();
                if batch.lake_version.is_some() {
                    self.lake_version = batch.lake_version;
                }
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
                self.show_progress();
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

    /// Shows the batch number (and the bronze version, and a file that does not read).
    pub(super) fn show_progress(&self) {
        self.ctx.metrics.set_detail(match self.settings.input {
            TrendingInput::Lake => {
                let at = format!(
                    "batch {} · bronze version {}",
                    self.seq,
                    version_text(self.lake_version)
                );
                match &self.lake_error {
                    Some(e) => format!("{at} · retrying: {e}"),
                    None => at,
                }
            }
            TrendingInput::Bus => format!("batch {}", self.seq),
        });
    }

    /// Flushes until everything is in the store (waiting out the backoff), or cancelled.
    pub(super) async fn flush_all(&mut self) -> anyhow::Result<bool> {
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
    /// (lake: its versions are not in the checkpoint; bus: its offsets were not committed).
    pub(super) async fn final_flush(&mut self) {
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
    pub(super) async fn snapshot(&mut self, force: bool) {
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
        let snap = Snapshot {
            table: self.settings.table.clone(),
            rows,
            seq: self.seq,
            now_ms: now_ms(),
        };
        let location = &self.ctx.pipeline.location;
        match gold::write_snapshot(location, snap, self.settings.snapshot_keep).await {
            Ok(_) => self.snapshot_seq = self.seq,
            Err(e) => {
                // Counts are safe in the store; the snapshot is retried at the next interval.
                let msg = format!("gold snapshot failed (retried later): {e}");
                self.ctx.metrics.error(msg.clone());
                self.ctx.log.event(msg);
            }
        }
    }
}

/// `42`, or `none` before the first.
pub(super) fn version_text(v: Option<i64>) -> String {
    v.map_or_else(|| "none".into(), |v| v.to_string())
}

/// Reports a failed store call: detail "backing off ...", error count, log on first failure.
pub(super) fn backing_off(ctx: &StageContext, retry: &mut Retry, what: &str, e: &StoreError) {
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
pub(super) fn recovered(ctx: &StageContext, retry: &mut Retry, tweets: Option<u64>) {
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
