//! The `ner` stage: bronze files -> named entities -> `<lake>/silver/ner/…parquet`.
//!
//! It reads complete bronze files incrementally (in name order, each in row order), sends
//! the tweets' texts to the configured NER backend (a spaCy service over HTTP, either API, or
//! the built-in rules) with bounded concurrency, and writes one silver row per tweet: its
//! entities, or the error it kept failing with after every retry (counted, never dropped).
//!
//! **Exactly once, across crashes.** Every silver row names its bronze file and row, and the
//! rows of a bronze file are written in order, so the *closed* silver files always hold a
//! prefix of each bronze file. The checkpoint (`<lake>/_checkpoints/ner.json`: bronze files
//! done, rows done of a partly processed one, silver files accounted for) is saved right
//! after each silver file is closed. Should the process die between the two, the start-up
//! reads the provenance columns of the silver files the checkpoint does not list yet and
//! moves the checkpoint forward: the silver file *is* the commit, the JSON file only saves
//! re-reading it. A temp file that never closed holds nothing anyone reads; those rows are
//! simply done again. So a restart neither skips a tweet nor records one twice.
//!
//! The stage drains (exits by itself) once `bronze` completed in this process, no bronze
//! file is left to do and the last silver file is closed and checkpointed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::{Exit, Stage, StageContext};
use crate::config::{BusKind, NerSettings, NerStart, Settings};
use crate::lake::incremental::{write_atomic, LakeTail, StartAt};
use crate::lake::read::list_complete_files;
use crate::lake::rolling::remove_stale_temp_files;
use crate::lake::silver::{ner_dir, read_progress, NerRow, SilverNerWriter};
use crate::lake::{LakeLayout, RollPolicy};
use crate::nlp::status::{status_path, StatusTracker};
use crate::nlp::{ClientOptions, Entity, NerClient, RuleTagger};

/// How often an idle stage looks for new bronze files.
const POLL: Duration = Duration::from_millis(500);
/// How often the status file is written.
const PUBLISH: Duration = Duration::from_secs(1);
/// Tweets tagged per step by the rules backend.
const RULES_CHUNK: usize = 2048;

/// Where the `ner` stage keeps its checkpoint.
pub fn checkpoint_path(layout: &LakeLayout) -> PathBuf {
    layout.root().join("_checkpoints").join("ner.json")
}

/// What is durably done, relative to the bronze folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NerCheckpoint {
    /// Bronze files whose every row is in closed silver files.
    pub done: BTreeSet<String>,
    /// Bronze files partly done: rows `[0, n)` are in closed silver files.
    #[serde(default)]
    pub partial: BTreeMap<String, u64>,
    /// Silver files (relative to the silver NER folder) already folded into the above.
    #[serde(default)]
    pub silver: BTreeSet<String>,
}

impl NerCheckpoint {
    pub fn load(path: &Path) -> std::io::Result<Option<NerCheckpoint>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        write_atomic(path, &bytes)
    }

    /// Folds in the silver files not accounted for yet (a crash after a silver file closed
    /// and before the checkpoint was saved); returns how many it read.
    pub fn recover(&mut self, silver_dir: &Path) -> anyhow::Result<usize> {
        let mut read = 0;
        for path in list_complete_files(silver_dir)? {
            let key = relative(silver_dir, &path);
            if self.silver.contains(&key) {
                continue;
            }
            for (bronze, next) in read_progress(&path)? {
                if !self.done.contains(&bronze) {
                    let e = self.partial.entry(bronze).or_insert(0);
                    *e = (*e).max(next);
                }
            }
            self.silver.insert(key);
            read += 1;
        }
        Ok(read)
    }
}

fn relative(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

pub struct NerStage {
    settings: NerSettings,
    bus: BusKind,
}

impl NerStage {
    pub fn new(settings: &Settings) -> NerStage {
        NerStage {
            settings: settings.ner.clone(),
            bus: settings.pipeline.bus,
        }
    }
}

#[async_trait]
impl Stage for NerStage {
    fn name(&self) -> &str {
        "ner"
    }

    fn kind(&self) -> &'static str {
        "built-in"
    }

    /// With the embedded bus, bronze (and so the source) must run in this process.
    fn depends_on(&self) -> Vec<String> {
        let mut deps = match self.bus {
            BusKind::Embedded => vec!["bronze".to_string()],
            BusKind::Kafka => Vec::new(),
        };
        for d in &self.settings.depends_on {
            if !deps.contains(d) {
                deps.push(d.clone());
            }
        }
        deps
    }

    async fn run(&self, ctx: StageContext) -> anyhow::Result<Exit> {
        let backend = Backend::build(&self.settings)?;
        let tracker = Arc::new(StatusTracker::new(
            self.settings.backend_label(),
            backend.is_model(),
            self.settings.window,
        ));
        let publish_stop = CancellationToken::new();
        let publisher = tokio::spawn(publish(
            tracker.clone(),
            status_path(&ctx.pipeline.layout),
            publish_stop.clone(),
            ctx.metrics.clone(),
        ));
        let result = Runner {
            ctx: &ctx,
            settings: &self.settings,
            backend,
            tracker: tracker.clone(),
        }
        .run()
        .await;
        tracker.set_running(false);
        if let Err(e) = &result {
            tracker.set_health(false, format!("stage failed: {e:#}"));
        }
        publish_stop.cancel();
        let _ = publisher.await;
        result
    }
}

/// Where entities come from.
enum Backend {
    Rules(Arc<RuleTagger>),
    Http(Arc<NerClient>),
}

impl Backend {
    fn build(s: &NerSettings) -> anyhow::Result<Backend> {
        match &s.url {
            None => {
                let tagger = match &s.gazetteer {
                    Some(p) => RuleTagger::with_extra(p)
                        .with_context(|| format!("reading the gazetteer {}", p.display()))?,
                    None => RuleTagger::builtin(),
                };
                Ok(Backend::Rules(Arc::new(tagger)))
            }
            Some(url) => {
                let opts = ClientOptions {
                    url: url.clone(),
                    api: s.api,
                    timeout: s.timeout,
                    max_response_bytes: s.max_response_bytes,
                    retries: s.retries,
                    backoff: s.backoff,
                    backoff_max: s.backoff_max,
                    pool: s.concurrency,
                };
                Ok(Backend::Http(Arc::new(NerClient::new(opts)?)))
            }
        }
    }

    fn is_model(&self) -> bool {
        matches!(self, Backend::Http(_))
    }
}

/// The entities of each text, or the error it is recorded with.
type Outcome = Result<Vec<Entity>, String>;

struct Runner<'a> {
    ctx: &'a StageContext,
    settings: &'a NerSettings,
    backend: Backend,
    tracker: Arc<StatusTracker>,
}

/// The open silver file and what it will commit when closed.
struct Silver {
    writer: SilverNerWriter,
    /// Bronze key -> (next row written, whether that is all of it), for rows in the open
    /// file (or bronze files found complete with nothing left to write).
    uncommitted: BTreeMap<String, (u64, bool)>,
    checkpoint: NerCheckpoint,
    checkpoint_path: PathBuf,
    silver_dir: PathBuf,
}

impl Silver {
    /// Closes the open file (atomic rename), then saves the checkpoint naming what it holds.
    async fn commit(&mut self, tracker: &StatusTracker) -> anyhow::Result<()> {
        if self.uncommitted.is_empty() && !self.writer.is_open() {
            return Ok(());
        }
        if let Some(closed) = self.writer.close().context("closing the silver NER file")? {
            tracker.silver_closed(closed.rows);
            tracing::debug!(path = %closed.path.display(), rows = closed.rows, "silver NER file closed");
            self.checkpoint
                .silver
                .insert(relative(&self.silver_dir, &closed.path));
        }
        for (bronze, (next, complete)) in std::mem::take(&mut self.uncommitted) {
            if complete {
                self.checkpoint.partial.remove(&bronze);
                self.checkpoint.done.insert(bronze);
            } else {
                self.checkpoint.partial.insert(bronze, next);
            }
        }
        self.save_checkpoint().await
    }
}

/// A bronze tweet to tag.
struct BronzeTweet {
    id_str: String,
    text: String,
    created_at: Option<i64>,
}

fn read_bronze(path: &Path) -> anyhow::Result<Vec<BronzeTweet>> {
    Ok(crate::lake::read::read_bronze_texts(path)?
        .into_iter()
        .map(|t| BronzeTweet {
            id_str: t.id_str,
            text: t.text,
            created_at: t.created_at,
        })
        .collect())
}

impl Runner<'_> {
    async fn run(self) -> anyhow::Result<Exit> {
        let ctx = self.ctx;
        let p = &ctx.pipeline;
        let layout = p.layout.clone();
        let bronze_dir = layout.bronze();
        let silver_dir = ner_dir(&layout);
        let cp_path = super::ner::checkpoint_path(&layout);
        ctx.log.event(format!(
            "backend: {}",
            match &self.backend {
                Backend::Rules(t) => format!(
                    "rules (built-in tagger, {} gazetteer names; not a model)",
                    t.gazetteer_len()
                ),
                Backend::Http(c) => format!(
                    "spaCy service {} ({} API, {} in flight, batch {})",
                    c.endpoint(),
                    self.settings.api,
                    self.settings.concurrency,
                    self.settings.batch_size
                ),
            }
        ));

        // Checkpoint + recovery from silver files it does not know yet.
        let (checkpoint, fresh, recovered) = {
            let cp_path = cp_path.clone();
            let silver_dir = silver_dir.clone();
            tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let _ = remove_stale_temp_files(&silver_dir);
                let loaded = NerCheckpoint::load(&cp_path).context("reading the NER checkpoint")?;
                let fresh = loaded.is_none();
                let mut cp = loaded.unwrap_or_default();
                let recovered = cp
                    .recover(&silver_dir)
                    .context("reading silver NER files")?;
                Ok((cp, fresh && recovered == 0, recovered))
            })
            .await??
        };
        if recovered > 0 {
            ctx.log.event(format!(
                "recovered progress from {recovered} silver file(s) the checkpoint did not list"
            ));
        }
        let start = match self.settings.start {
            NerStart::Beginning => StartAt::Beginning,
            NerStart::Now => StartAt::Now,
        };
        let mut tail = LakeTail::new(
            bronze_dir.clone(),
            (!fresh).then(|| checkpoint.done.clone()),
            start,
        )
        .context("listing bronze files")?;
        let mut silver = Silver {
            writer: SilverNerWriter::new(
                &layout,
                RollPolicy {
                    max_rows: p.settings.lake.roll_rows,
                    max_bytes: p.settings.lake.roll_bytes,
                    max_age: p.settings.lake.roll_seconds,
                },
                format!("ner-{}-{:08x}", std::process::id(), rand::random::<u32>()),
            ),
            uncommitted: BTreeMap::new(),
            checkpoint,
            checkpoint_path: cp_path,
            silver_dir,
        };
        if fresh && start == StartAt::Now {
            // Remember the files skipped on purpose.
            for key in tail.done().iter() {
                silver.uncommitted.insert(key.clone(), (0, true));
            }
            silver.commit(&self.tracker).await?;
        }
        if recovered > 0 {
            silver.save_checkpoint().await?;
        }

        // Show what waits while the service is not ready yet.
        if let Ok(Ok(files)) = {
            let dir = bronze_dir.clone();
            tokio::task::spawn_blocking(move || list_complete_files(&dir)).await
        } {
            let waiting = files
                .iter()
                .filter(|p| !tail.done().contains(&relative(&bronze_dir, p)))
                .count();
            self.tracker.set_pending(waiting as u64);
        }
        if !self.wait_ready().await {
            silver.commit(&self.tracker).await?;
            return Ok(Exit::Cancelled);
        }

        loop {
            if ctx.cancel.is_cancelled() {
                silver.commit(&self.tracker).await?;
                return Ok(Exit::Cancelled);
            }
            // Completed first, then list: every file bronze closed before it completed is
            // in the listing.
            let bronze_completed = p.completed.contains("bronze");
            let listed = {
                let dir = bronze_dir.clone();
                tokio::task::spawn_blocking(move || list_complete_files(&dir))
                    .await?
                    .context("listing bronze files")?
            };
            let pending: Vec<(String, PathBuf)> = listed
                .into_iter()
                .map(|p| (relative(&bronze_dir, &p), p))
                .filter(|(k, _)| !tail.done().contains(k))
                .collect();
            self.tracker.set_pending(pending.len() as u64);
            if pending.is_empty() {
                if silver.writer.should_roll(Instant::now())
                    || bronze_completed
                    || (!silver.writer.is_open() && !silver.uncommitted.is_empty())
                {
                    silver.commit(&self.tracker).await?;
                }
                if bronze_completed {
                    ctx.log
                        .event("bronze completed and every file is through NER");
                    return Ok(Exit::Drained);
                }
                tokio::select! {
                    _ = ctx.cancel.cancelled() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
                continue;
            }
            let mut left = pending.len() as u64;
            for (key, path) in pending {
                if ctx.cancel.is_cancelled() {
                    break;
                }
                let from = silver
                    .uncommitted
                    .get(&key)
                    .map(|(n, _)| *n)
                    .or_else(|| silver.checkpoint.partial.get(&key).copied())
                    .unwrap_or(0);
                let tweets = {
                    let p = path.clone();
                    match tokio::task::spawn_blocking(move || read_bronze(&p)).await? {
                        Ok(t) => t,
                        Err(e) if !path.exists() => {
                            ctx.log
                                .event(format!("bronze file vanished before NER: {key} ({e:#})"));
                            tail.mark(key);
                            continue;
                        }
                        Err(e) => {
                            return Err(e.context(format!("reading bronze file {}", path.display())))
                        }
                    }
                };
                let total = tweets.len() as u64;
                if self.process_file(&key, &tweets, from, &mut silver).await? {
                    break; // cancelled: the loop head commits and returns
                }
                silver.uncommitted.insert(key.clone(), (total, true));
                tail.mark(key);
                left -= 1;
                self.tracker.set_pending(left);
            }
        }
    }

    /// Tags rows `from..` of one bronze file into the silver writer; true when cancelled.
    async fn process_file(
        &self,
        key: &str,
        tweets: &[BronzeTweet],
        from: u64,
        silver: &mut Silver,
    ) -> anyhow::Result<bool> {
        let ctx = self.ctx;
        let chunk = match &self.backend {
            Backend::Rules(_) => RULES_CHUNK,
            Backend::Http(_) => match self.settings.api {
                crate::config::NerApi::Ssp => {
                    self.settings.batch_size * self.settings.concurrency * 2
                }
                crate::config::NerApi::SpacySeed => self.settings.concurrency * 4,
            },
        };
        let backend_label = self.settings.backend_label();
        let mut row = from as usize;
        while row < tweets.len() {
            let end = (row + chunk).min(tweets.len());
            let part = &tweets[row..end];
            let texts: Vec<String> = part.iter().map(|t| t.text.clone()).collect();
            ctx.metrics.add_in(part.len() as u64);
            let Some(outcomes) = self.annotate(texts).await else {
                return Ok(true);
            };
            anyhow::ensure!(
                outcomes.len() == part.len(),
                "NER backend gave {} results for {} texts",
                outcomes.len(),
                part.len()
            );
            let now = chrono::Utc::now().timestamp_millis();
            let rows: Vec<NerRow> = part
                .iter()
                .zip(outcomes)
                .enumerate()
                .map(|(i, (t, outcome))| {
                    let (entities, error) = match outcome {
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
                        bronze_file: key.to_string(),
                        bronze_row: (row + i) as i64,
                        ner_time: now,
                    }
                })
                .collect();
            silver
                .writer
                .write(&rows)
                .context("writing silver NER rows")?;
            let errors: Vec<&NerRow> = rows.iter().filter(|r| r.error.is_some()).collect();
            if let Some(first) = errors.first() {
                let msg = first.error.clone().unwrap_or_default();
                ctx.metrics
                    .error(format!("{} tweet(s) failed NER: {msg}", errors.len()));
                ctx.metrics.add_errors(errors.len() as u64 - 1);
                ctx.log.event(format!(
                    "{} tweet(s) recorded with error, e.g. {}: {msg}",
                    errors.len(),
                    first.id_str
                ));
            }
            let recorded: Vec<Outcome> = rows
                .iter()
                .map(|r| match &r.error {
                    Some(e) => Err(e.clone()),
                    None => Ok(r.entities.clone()),
                })
                .collect();
            self.tracker.record(
                rows.iter()
                    .zip(recorded.iter())
                    .map(|(r, o)| (r.id_str.as_str(), r.text.as_str(), o)),
            );
            ctx.metrics.add_out(rows.len() as u64);
            silver
                .uncommitted
                .insert(key.to_string(), (end as u64, end == tweets.len()));
            row = end;
            if silver.writer.should_roll(Instant::now()) {
                silver.commit(&self.tracker).await?;
            }
        }
        Ok(false)
    }

    /// The outcome per text, or `None` when cancelled.
    async fn annotate(&self, texts: Vec<String>) -> Option<Vec<Outcome>> {
        match &self.backend {
            Backend::Rules(tagger) => {
                let tagger = tagger.clone();
                let tagged = tokio::task::spawn_blocking(move || {
                    texts.iter().map(|t| tagger.tag(t)).collect::<Vec<_>>()
                })
                .await
                .ok()?;
                Some(tagged.into_iter().map(Ok).collect())
            }
            Backend::Http(client) => {
                let per_request = match self.settings.api {
                    crate::config::NerApi::Ssp => self.settings.batch_size,
                    crate::config::NerApi::SpacySeed => 1,
                };
                let mut out = self.send(client, &texts, per_request).await?;
                // A batch the service refused outright (a 4xx, e.g. 413): find the culprit
                // by sending its texts one by one, so its neighbours are not failed with it.
                if per_request > 1 {
                    let mut singles = Vec::new();
                    for (start, result) in out.iter().enumerate() {
                        if let Err((true, _)) = result {
                            singles.push(start);
                        }
                    }
                    if !singles.is_empty() {
                        let texts: Vec<String> =
                            singles.iter().map(|i| texts[*i].clone()).collect();
                        let again = self.send(client, &texts, 1).await?;
                        for (i, r) in singles.into_iter().zip(again) {
                            out[i] = r;
                        }
                    }
                }
                Some(out.into_iter().map(|r| r.map_err(|(_, e)| e)).collect())
            }
        }
    }

    /// Sends `texts` in requests of `per_request`, `concurrency` at a time; per text its
    /// entities, or (refused by the service outright, error).
    async fn send(
        &self,
        client: &Arc<NerClient>,
        texts: &[String],
        per_request: usize,
    ) -> Option<Vec<Result<Vec<Entity>, (bool, String)>>> {
        let cancel = self.ctx.cancel.clone();
        let tracker = self.tracker.clone();
        let requests: Vec<Vec<String>> = texts
            .chunks(per_request.max(1))
            .map(<[String]>::to_vec)
            .collect();
        let answers: Vec<(usize, crate::nlp::Annotated)> = futures::stream::iter(requests)
            .map(|req| {
                let client = client.clone();
                let cancel = cancel.clone();
                let tracker = tracker.clone();
                async move {
                    let a = client.annotate(&req, &cancel, tracker.as_ref()).await;
                    (req.len(), a)
                }
            })
            .buffered(self.settings.concurrency.max(1))
            .collect()
            .await;
        let mut out = Vec::with_capacity(texts.len());
        for (n, a) in answers {
            match a.results {
                Ok(lists) => out.extend(lists.into_iter().map(Ok)),
                Err(crate::nlp::NerError::Cancelled) => return None,
                Err(e) => {
                    let refused = !e.retryable() && n > 1;
                    let msg = format!(
                        "{} after {} attempt{}: {e}",
                        e.kind(),
                        a.attempts,
                        if a.attempts == 1 { "" } else { "s" }
                    );
                    out.extend((0..n).map(|_| Err((refused, msg.clone()))));
                }
            }
        }
        if cancel.is_cancelled() {
            return None;
        }
        Some(out)
    }

    /// Waits until the service answers its readiness probe; false when cancelled first.
    async fn wait_ready(&self) -> bool {
        let Backend::Http(client) = &self.backend else {
            self.tracker.set_health(true, "ready");
            return true;
        };
        let mut attempt = 0u32;
        let mut logged = false;
        loop {
            let h = tokio::select! {
                h = client.health() => h,
                _ = self.ctx.cancel.cancelled() => return false,
            };
            if h.ready {
                self.tracker
                    .set_health(true, format!("ready: {}", h.detail));
                self.ctx.log.event(format!(
                    "NER service ready: {} ({})",
                    client.health_url(),
                    h.detail
                ));
                return true;
            }
            let delay = crate::nlp::ner_client::backoff_delay(client.options(), attempt)
                .max(Duration::from_millis(200));
            attempt = attempt.saturating_add(1);
            self.tracker.set_health(
                false,
                format!("waiting for {}: {}", client.health_url(), h.detail),
            );
            if !logged {
                self.ctx.log.event(format!(
                    "waiting for the NER service at {}: {}",
                    client.health_url(),
                    h.detail
                ));
                logged = true;
            }
            tokio::select! {
                _ = self.ctx.cancel.cancelled() => return false,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }
}

impl Silver {
    async fn save_checkpoint(&mut self) -> anyhow::Result<()> {
        let cp = self.checkpoint.clone();
        let path = self.checkpoint_path.clone();
        tokio::task::spawn_blocking(move || cp.save(&path))
            .await?
            .context("saving the NER checkpoint")
    }
}

/// Writes the status file every second until `stop`, then once more; mirrors a summary
/// into the stage's detail line.
async fn publish(
    tracker: Arc<StatusTracker>,
    path: PathBuf,
    stop: CancellationToken,
    metrics: Arc<super::StageMetrics>,
) {
    loop {
        let s = tracker.snapshot();
        let mut detail = if s.is_model {
            format!("{} · {}", s.backend, s.health)
        } else {
            "rules (built-in, not a model)".to_string()
        };
        if let Some(p50) = s.p50_ms {
            detail.push_str(&format!(" · p50 {p50:.0} ms"));
        }
        metrics.set_detail(detail);
        let p = path.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = s.save(&p) {
                tracing::debug!(error = %e, "writing the NER status file");
            }
        })
        .await;
        if stop.is_cancelled() {
            return;
        }
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(PUBLISH) => {}
        }
    }
}
