//! Lake input: tails the `bronze` Delta table by version with a [`LakeConsumer`]. Each poll
//! takes up to [`COMMITS_PER_BATCH`] commits, counts the files they added (on parallel
//! threads), and hands the last version counted to the next store batch, which commits it
//! with the counts. A file that does not read stops the version there: the error is shown
//! and the commit is retried with backoff, never skipped.

use std::time::{Duration, Instant};

use super::now_ms;
use super::run::{version_text, Retry, Run};
use crate::config::TrendingStart;
use crate::lake::{bronze, LakeCommit, LakeConsumer, StartAt};
use crate::stage::Exit;
use crate::trending::{count_files, FileBytes};

/// How often the bronze log is polled when idle (one read of the next commit's log entry).
const LAKE_POLL: Duration = Duration::from_millis(200);
/// Bronze commits counted per batch (a backlog is caught up in chunks).
const COMMITS_PER_BATCH: usize = 64;
/// Data read into memory per batch before counting (at least one commit is always taken).
const MAX_BATCH_BYTES: u64 = 512 << 20;

/// What counting a run of commits gave.
#[derive(Default)]
struct Counted {
    /// Last version whose files were all counted (into `pending`).
    last: Option<i64>,
    rows: u64,
    /// The first commit that could not be counted, and why.
    failed: Option<String>,
}

impl Run<'_> {
    pub(super) async fn lake(&mut self) -> anyhow::Result<Exit> {
        let p = self.ctx.pipeline.clone();
        let start = match self.settings.start {
            TrendingStart::Beginning => StartAt::Beginning,
            TrendingStart::Now => StartAt::Now,
        };
        let mut consumer =
            LakeConsumer::new(p.location.clone(), bronze::TABLE, self.lake_version, start);
        if let Some(v) = consumer.handled() {
            self.ctx.metrics.read_to(v);
        }
        let threads = match self.settings.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let mut retry = Retry::default();
        loop {
            if self.ctx.cancel.is_cancelled() {
                self.final_flush().await;
                return Ok(Exit::Cancelled);
            }
            if !retry.ready() {
                self.flush().await?;
                self.pause(retry.next).await;
                continue;
            }
            // Completed first, then poll: every commit bronze made before it completed is seen.
            let bronze_completed = p.completed.contains("bronze");
            let commits = match consumer.poll(COMMITS_PER_BATCH).await {
                Ok(c) => c,
                Err(e) => {
                    self.lake_failed(&mut retry, format!("reading the bronze log: {e}"));
                    continue;
                }
            };
            if commits.is_empty() {
                self.skipped_at_start(&consumer);
                self.lake_ok(&mut retry);
                let flushed = self.flush().await?;
                if bronze_completed && flushed && self.idle() {
                    self.ctx.log.event(format!(
                        "bronze completed and every bronze commit is counted (version {})",
                        version_text(self.lake_version)
                    ));
                    return Ok(Exit::Drained);
                }
                let until = if self.idle() { None } else { self.retry.next };
                self.pause(until).await;
                continue;
            }
            let counted = self.count_commits(&mut consumer, &commits, threads).await?;
            if let Some(v) = counted.last {
                consumer.ack(v);
                self.ctx.metrics.read_to(v);
                self.pending_version = Some(v);
                self.ctx.metrics.add_in(counted.rows);
            }
            match counted.failed {
                Some(msg) => self.lake_failed(&mut retry, msg),
                None => self.lake_ok(&mut retry),
            }
            self.flush().await?;
        }
    }

    /// Sleeps until `until` (at most [`LAKE_POLL`]) or cancellation.
    async fn pause(&self, until: Option<Instant>) {
        let wait = until
            .map(|n| n.saturating_duration_since(Instant::now()))
            .unwrap_or(LAKE_POLL)
            .min(LAKE_POLL);
        tokio::select! {
            _ = self.ctx.cancel.cancelled() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }

    /// With `start = now` on a first start, the consumer begins after the table's current
    /// version: that version goes into the next batch, so a restart does not count it either.
    fn skipped_at_start(&mut self, consumer: &LakeConsumer) {
        let Some(at) = consumer.position() else {
            return;
        };
        let inflight = self.inflight.as_ref().and_then(|b| b.lake_version);
        let known = [self.lake_version, self.pending_version, inflight]
            .into_iter()
            .flatten()
            .max();
        if known.is_none_or(|k| at > k) {
            self.pending_version = Some(at);
            self.ctx.metrics.read_to(at);
            self.ctx.log.event(format!(
                "start = now: bronze versions up to {at} are not counted"
            ));
        }
    }

    /// Reads and counts the files of `commits` (oldest first) into `pending`, up to the first
    /// commit with a file that does not read or decode.
    async fn count_commits(
        &mut self,
        consumer: &mut LakeConsumer,
        commits: &[LakeCommit],
        threads: usize,
    ) -> anyhow::Result<Counted> {
        let mut read: Vec<(i64, Vec<FileBytes>)> = Vec::new();
        let mut failed = None;
        let mut bytes = 0u64;
        'commits: for c in commits {
            if !read.is_empty() && bytes >= MAX_BATCH_BYTES {
                break;
            }
            let mut files = Vec::with_capacity(c.files.len());
            for f in &c.files {
                match consumer.read(f).await {
                    Ok(b) => {
                        bytes += b.len() as u64;
                        files.push(FileBytes {
                            path: f.path.clone(),
                            bytes: b,
                        });
                    }
                    Err(e) => {
                        failed = Some(format!("bronze version {}: {e}", c.version));
                        break 'commits;
                    }
                }
            }
            read.push((c.version, files));
        }
        let like = self.spec.counter(self.settings.rule, now_ms());
        let all: Vec<FileBytes> = read.iter().flat_map(|(_, f)| f.iter().cloned()).collect();
        let together = {
            let like = like.clone();
            tokio::task::spawn_blocking(move || count_files(&all, &like, threads)).await?
        };
        if let Ok((counter, per)) = together {
            self.pending.merge(counter);
            return Ok(Counted {
                last: read.last().map(|(v, _)| *v),
                rows: per.iter().map(|f| f.rows).sum(),
                failed,
            });
        }
        // Commit by commit: count the ones before the commit that does not decode.
        let mut out = Counted::default();
        for (version, files) in read {
            let like = like.clone();
            let r =
                tokio::task::spawn_blocking(move || count_files(&files, &like, threads)).await?;
            match r {
                Ok((counter, per)) => {
                    self.pending.merge(counter);
                    out.rows += per.iter().map(|f| f.rows).sum::<u64>();
                    out.last = Some(version);
                }
                Err(e) => {
                    out.failed = Some(format!("bronze version {version}: {e}"));
                    return Ok(out);
                }
            }
        }
        out.failed = failed;
        Ok(out)
    }

    /// Shows a bronze read failure (once per distinct message) and schedules the retry.
    fn lake_failed(&mut self, retry: &mut Retry, msg: String) {
        let delay = retry.delay();
        retry.attempt = retry.attempt.saturating_add(1);
        retry.next = Some(Instant::now() + delay);
        retry.down_since.get_or_insert_with(Instant::now);
        if retry.last_error.as_deref() != Some(msg.as_str()) {
            self.ctx.metrics.error(msg.clone());
            self.ctx.log.event(format!(
                "{msg}; not counted: retrying with backoff, the bronze version stays before it"
            ));
            tracing::warn!(stage = %self.ctx.name, error = %msg, "bronze file unreadable");
            retry.last_error = Some(msg.clone());
        }
        self.lake_error = Some(msg);
        self.show_progress();
    }

    /// Clears a bronze read failure once reads succeed again.
    fn lake_ok(&mut self, retry: &mut Retry) {
        if let Some(since) = retry.down_since.take() {
            self.ctx.log.event(format!(
                "bronze reads again after {:.1}s",
                since.elapsed().as_secs_f64()
            ));
        }
        *retry = Retry::default();
        if self.lake_error.take().is_some() {
            self.show_progress();
        }
    }
}
