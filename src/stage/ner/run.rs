//! One run of the `ner` stage: lease, resume from the `silver/ner` checkpoint, tail bronze
//! commit by commit, tag, and commit silver rows with the bronze version they cover.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::backend::Backend;
use crate::backoff::Backoff;
use crate::config::NerStart;
use crate::lake::bronze::TABLE as BRONZE;
use crate::lake::read::{read_bronze_texts, BronzeText};
use crate::lake::silver::{day_of, parse_date, CommitError, NerRow, NerTableWriter, NER_TABLE};
use crate::lake::{DataFile, LakeCommit, LakeConsumer, Lease, LeaseError, StartAt};
use crate::stage::ner::status::StatusTracker;
use crate::stage::supervisor::Fatal;
use crate::stage::{Exit, StageContext};

/// How often an idle stage looks for new bronze commits.
const POLL: Duration = Duration::from_millis(250);
/// Bronze commits read from the log at once.
const POLL_COMMITS: usize = 16;
/// Between attempts at reading the bronze log or a bronze file.
const RETRY: Backoff = Backoff {
    initial: Duration::from_millis(250),
    max: Duration::from_secs(30),
    factor: 2.0,
};

pub(super) struct Runner<'a> {
    pub ctx: &'a StageContext,
    pub backend: Backend,
    pub tracker: Arc<StatusTracker>,
}

/// Bronze commits whose rows are written but not committed to silver yet.
#[derive(Default)]
struct Pending {
    /// The last of them (the checkpoint the next silver commit records).
    last: Option<i64>,
    since: Option<Instant>,
}

impl Runner<'_> {
    pub(super) async fn run(self) -> anyhow::Result<Exit> {
        let ctx = self.ctx;
        let p = &ctx.pipeline;
        let _lease = Lease::acquire(p.layout.root(), "ner").map_err(|e| match e {
            LeaseError::Held { .. } => anyhow::Error::new(Fatal(e.to_string())),
            other => anyhow::Error::new(other).context("taking the ner lease"),
        })?;
        ctx.log
            .event(format!("backend: {}", self.backend.describe()));
        let writer_id = format!("ner-{}-{:08x}", std::process::id(), rand::random::<u32>());
        let mut silver = NerTableWriter::open(&p.location, writer_id)
            .await
            .context("opening the silver/ner table")?;
        let done = silver
            .resume_point()
            .await
            .context("reading the ner checkpoint from silver/ner")?;
        let start = match p.settings.ner.start {
            NerStart::Beginning => StartAt::Beginning,
            NerStart::Now => StartAt::Now,
        };
        ctx.log.event(match (done, start) {
            (Some(v), _) => {
                format!("{NER_TABLE} holds bronze up to version {v}: resuming after it")
            }
            (None, StartAt::Beginning | StartAt::FirstCommit) => {
                "first start: reading bronze from its beginning".into()
            }
            (None, StartAt::Now) => "first start: skipping the bronze already there".into(),
        });
        let mut bronze = LakeConsumer::new(p.location.clone(), BRONZE, done, start);
        if !self.backend.wait_ready(&ctx.cancel, &ctx.log).await {
            return Ok(Exit::Cancelled);
        }
        if let Some(v) = bronze.handled() {
            ctx.metrics.read_to(v);
        }
        let mut pending = Pending::default();
        let mut attempt = 0u32;
        let mut record_skip = done.is_none() && start == StartAt::Now;
        loop {
            if ctx.cancel.is_cancelled() {
                self.commit(&mut silver, &mut pending).await?;
                return Ok(Exit::Cancelled);
            }
            // Completed first, then poll: every commit bronze made before it completed is seen.
            let bronze_completed = p.completed.contains("bronze");
            let commits = match bronze.poll(POLL_COMMITS).await {
                Ok(c) => c,
                Err(e) => {
                    self.failed(&mut attempt, format!("reading the bronze log: {e}"))
                        .await;
                    continue;
                }
            };
            attempt = 0;
            if std::mem::take(&mut record_skip) {
                // A first start at "now": remember what was skipped.
                if let Some(v) = bronze.position() {
                    pending.last = Some(v);
                    ctx.metrics.read_to(v);
                    self.commit(&mut silver, &mut pending).await?;
                    ctx.log.event(format!("skipped bronze up to version {v}"));
                }
            }
            if commits.is_empty() {
                self.tracker.set_pending(0);
                self.commit(&mut silver, &mut pending).await?;
                if bronze_completed {
                    ctx.log
                        .event("bronze completed and every commit is through NER");
                    return Ok(Exit::Drained);
                }
                tokio::select! {
                    _ = ctx.cancel.cancelled() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
                continue;
            }
            let mut left: usize = commits.iter().map(|c| c.files.len()).sum();
            self.tracker.set_pending(left as u64);
            for commit in &commits {
                let Some(rows) = self.tag_commit(&mut bronze, commit).await? else {
                    break; // cancelled: the loop head commits what is complete
                };
                silver
                    .write(&rows)
                    .await
                    .context("writing silver/ner rows")?;
                ctx.metrics.add_out(rows.len() as u64);
                bronze.ack(commit.version);
                ctx.metrics.read_to(commit.version);
                pending.last = Some(commit.version);
                pending.since.get_or_insert_with(Instant::now);
                left -= commit.files.len();
                self.tracker.set_pending(left as u64);
                if self.due(&silver, &pending) {
                    self.commit(&mut silver, &mut pending).await?;
                }
            }
        }
    }

    /// True when what is written should be committed now (the lake's roll limits).
    fn due(&self, silver: &NerTableWriter, pending: &Pending) -> bool {
        let lake = &self.ctx.pipeline.settings.lake;
        silver.rows() >= lake.roll_rows as u64
            || silver.bytes() >= lake.roll_bytes
            || pending
                .since
                .is_some_and(|t| t.elapsed() >= lake.roll_seconds)
    }

    /// Commits the rows written so far with the last bronze version they cover.
    async fn commit(
        &self,
        silver: &mut NerTableWriter,
        pending: &mut Pending,
    ) -> anyhow::Result<()> {
        let Some(version) = pending.last else {
            return Ok(());
        };
        match silver.commit(version).await {
            Ok(c) => {
                tracing::debug!(
                    silver = c.version,
                    bronze = version,
                    rows = c.rows,
                    "silver/ner commit"
                );
                self.tracker.silver_committed(c.files as u64, c.rows);
                *pending = Pending::default();
                Ok(())
            }
            Err(CommitError::Moved(m)) => {
                self.ctx.log.event(m.to_string());
                Err(Fatal(m.to_string()).into())
            }
            Err(CommitError::Lake(e)) => Err(e).context("committing to silver/ner"),
        }
    }

    /// Tags every tweet of one bronze commit; `None` when cancelled first.
    async fn tag_commit(
        &self,
        bronze: &mut LakeConsumer,
        commit: &LakeCommit,
    ) -> anyhow::Result<Option<Vec<NerRow>>> {
        let ctx = self.ctx;
        let backend_label = ctx.pipeline.settings.ner.backend_label();
        let mut out = Vec::new();
        for file in &commit.files {
            let Some(tweets) = self.read(bronze, file).await else {
                return Ok(None);
            };
            let date = file
                .partition_values
                .get("date")
                .cloned()
                .flatten()
                .and_then(|d| parse_date(&d));
            for (n, part) in tweets.chunks(self.backend.chunk()).enumerate() {
                let first = n * self.backend.chunk();
                ctx.metrics.add_in(part.len() as u64);
                let texts = part.iter().map(|t| t.text.clone()).collect();
                let Some(outcomes) = self.backend.annotate(texts, &ctx.cancel).await else {
                    return Ok(None);
                };
                anyhow::ensure!(
                    outcomes.len() == part.len(),
                    "NER backend gave {} results for {} texts",
                    outcomes.len(),
                    part.len()
                );
                let now = chrono::Utc::now().timestamp_millis();
                self.tracker.record(
                    part.iter()
                        .zip(&outcomes)
                        .map(|(t, o)| (t.id_str.as_str(), t.text.as_str(), o)),
                );
                let failed: Vec<(&str, &String)> = part
                    .iter()
                    .zip(&outcomes)
                    .filter_map(|(t, o)| o.as_ref().err().map(|e| (t.id_str.as_str(), e)))
                    .collect();
                if let Some((id, msg)) = failed.first() {
                    ctx.metrics
                        .error(format!("{} tweet(s) failed NER: {msg}", failed.len()));
                    ctx.metrics.add_errors(failed.len() as u64 - 1);
                    ctx.log.event(format!(
                        "{} tweet(s) recorded with error, e.g. {id}: {msg}",
                        failed.len()
                    ));
                }
                out.extend(part.iter().zip(outcomes).enumerate().map(|(i, (t, o))| {
                    let (entities, error) = match o {
                        Ok(e) => (e, None),
                        Err(e) => (Vec::new(), Some(e)),
                    };
                    NerRow {
                        id_str: t.id_str.clone(),
                        created_at: t.created_at,
                        text: t.text.clone(),
                        entities,
                        error,
                        backend: backend_label.clone(),
                        bronze_version: commit.version,
                        bronze_file: file.path.clone(),
                        bronze_row: (first + i) as i64,
                        ner_time: now,
                        date: date.unwrap_or_else(|| day_of(now)),
                    }
                }));
            }
        }
        Ok(Some(out))
    }

    /// The tweets of one bronze file, retried with backoff until read; `None` when cancelled.
    async fn read(&self, bronze: &mut LakeConsumer, file: &DataFile) -> Option<Vec<BronzeText>> {
        let mut attempt = 0u32;
        loop {
            let got = match bronze.read(file).await {
                Ok(bytes) => {
                    let path = file.path.clone();
                    tokio::task::spawn_blocking(move || {
                        read_bronze_texts(bytes, &path).map_err(anyhow::Error::from)
                    })
                    .await
                    .map_err(anyhow::Error::from)
                    .and_then(|r| r)
                }
                Err(e) => Err(e.into()),
            };
            match got {
                Ok(t) => {
                    if attempt > 0 {
                        self.ctx
                            .log
                            .event(format!("read bronze file {} after all", file.path));
                    }
                    return Some(t);
                }
                Err(e) => {
                    let what = format!("cannot read bronze file {}: {e:#}", file.path);
                    if !self.failed(&mut attempt, what).await {
                        return None;
                    }
                }
            }
        }
    }

    /// Shows a failed read on the stage and waits before the next attempt; false when
    /// cancelled meanwhile.
    async fn failed(&self, attempt: &mut u32, what: String) -> bool {
        let delay = RETRY.delay(*attempt);
        *attempt = attempt.saturating_add(1);
        let msg = format!(
            "{what} (attempt {attempt}, retrying in {:.1}s)",
            delay.as_secs_f64()
        );
        tracing::warn!("{msg}");
        self.ctx.metrics.error(msg.clone());
        self.ctx.log.event(msg);
        tokio::select! {
            _ = self.ctx.cancel.cancelled() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }
}
