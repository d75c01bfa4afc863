//! The `collect` stage: bronze tweets -> a new dataset version (the seed's
//! `raw_tweet_dataset_<N>` and its splits).
//!
//! It tails the `bronze` Delta table with a [`LakeConsumer`] (from the first version, or only
//! commits made after it started: `[learn] collect_from`) until it has `collect_size` unique
//! texts, then builds the version (de-duplicate, seeded shuffle, exact split sizes: see
//! `learn::dataset`), stores it (embedded: Parquet under `<lake>/datasets/v<N>`; PostgreSQL:
//! the seed's tables, and the Parquet files too), saves a first model trained on the weak
//! labels for `classify`, and completes. Each run makes one new version; an existing version
//! is never overwritten. A stop before the end writes nothing. One collect per lake at a time
//! (lease `collect`).
//!
//! If `bronze` completes in this process before `collect_size` is reached (a finite replay),
//! the version is built from what was collected, provided the fixed splits can be filled.
//! Collect reads the table, not the bus: it depends on no stage. When no bronze runs in this
//! process (`ssp-tui dataset collect` on a lake written earlier, or by other hosts) and the
//! table has not grown for [`idle_limit`], it builds from what the table holds; an empty
//! table is said so on the stage, and collect waits for tweets.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;

use super::{Exit, Stage, StageContext};
use crate::backoff::Backoff;
use crate::config::{LearnStart, Settings, StoreKind};
use crate::lake::read::read_bronze_texts;
use crate::lake::{DataFile, LakeCommit, LakeConsumer, Lease, StartAt};
use crate::learn::dataset::{self, RawTweet, SplitSpec};
use crate::learn::lf::{Keywords, LabelingFunctions};
use crate::learn::model::{model_path, ModelMeta};
use crate::learn::{labels, Session};

const POLL: Duration = Duration::from_millis(500);
/// Bronze commits read per poll.
const COMMITS_PER_POLL: usize = 16;

/// How long a table nobody writes here must stay unchanged before collect builds from it:
/// three bronze rolls, at least 10 s.
pub fn idle_limit(settings: &Settings) -> Duration {
    (settings.lake.roll_seconds * 3).max(Duration::from_secs(10))
}

pub struct CollectStage {
    settings: Settings,
}

impl CollectStage {
    pub fn new(settings: &Settings) -> CollectStage {
        CollectStage {
            settings: settings.clone(),
        }
    }
}

/// Retries of a lake read: each failure is shown on the stage (error count, last error, log)
/// and waited out with a growing delay; nothing is skipped.
#[derive(Default)]
pub(crate) struct Retry {
    attempt: u32,
}

impl Retry {
    /// Reports `e` and waits before the next attempt; false when the stage was cancelled.
    pub(crate) async fn failed(&mut self, ctx: &StageContext, what: &str, e: String) -> bool {
        let delay = Backoff::default().delay(self.attempt);
        self.attempt += 1;
        let msg = format!(
            "{what}: {e} (attempt {}, retrying in {delay:.1?})",
            self.attempt
        );
        ctx.metrics.error(msg.clone());
        ctx.log.event(msg);
        tokio::select! {
            _ = ctx.cancel.cancelled() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }
}

/// Up to `max` new bronze commits (retried while the lake cannot be read); `None` when cancelled.
pub(crate) async fn poll_bronze(
    consumer: &mut LakeConsumer,
    max: usize,
    ctx: &StageContext,
) -> Option<Vec<LakeCommit>> {
    let mut retry = Retry::default();
    loop {
        match consumer.poll(max).await {
            Ok(c) => return Some(c),
            Err(e) => {
                if !retry
                    .failed(ctx, "reading the bronze log", e.to_string())
                    .await
                {
                    return None;
                }
            }
        }
    }
}

/// Reads `(id_str, created_at, author, text)` of every row of one bronze data file, retrying
/// until it can (a file is never skipped); `None` when the stage was cancelled.
pub async fn read_bronze_tweets(
    consumer: &mut LakeConsumer,
    file: &DataFile,
    ctx: &StageContext,
) -> Option<Vec<RawTweet>> {
    let mut retry = Retry::default();
    loop {
        let got: anyhow::Result<_> = match consumer.read(file).await {
            Ok(bytes) => {
                let path = file.path.clone();
                tokio::task::spawn_blocking(move || read_bronze_texts(bytes, &path))
                    .await
                    .map_err(anyhow::Error::from)
                    .and_then(|r| r.map_err(anyhow::Error::from))
            }
            Err(e) => Err(e.into()),
        };
        match got {
            Ok(texts) => {
                return Some(
                    texts
                        .into_iter()
                        .map(|t| RawTweet {
                            tweet_id: t.id_str,
                            created_at: t.created_at,
                            author: t.author,
                            text: t.text,
                        })
                        .collect(),
                )
            }
            Err(e) => {
                let what = format!("reading bronze file {}", file.path);
                if !retry.failed(ctx, &what, format!("{e:#}")).await {
                    return None;
                }
            }
        }
    }
}

#[async_trait]
impl Stage for CollectStage {
    fn name(&self) -> &str {
        "collect"
    }

    fn kind(&self) -> &'static str {
        "built-in"
    }

    /// Collect reads the bronze table, whoever writes it: no stage to wait for.
    fn depends_on(&self) -> Vec<String> {
        Vec::new()
    }

    /// One run makes one version: never restarted by itself.
    fn restart_policy(&self) -> crate::config::RestartPolicy {
        crate::config::RestartPolicy::No
    }

    async fn run(&self, ctx: StageContext) -> anyhow::Result<Exit> {
        let _lease = Lease::acquire(ctx.pipeline.layout.root(), "collect")?;
        let learn = &self.settings.learn;
        let root = self.settings.lake.root.clone();
        let store = labels::open(&self.settings).map_err(|e| anyhow::anyhow!("{e}"))?;
        let lfs = LabelingFunctions::new(
            &Keywords::from_settings(learn.keywords_dir.as_deref())
                .context("reading the keyword groups")?,
        );
        let mut versions = store
            .versions()
            .await
            .map_err(|e| anyhow::anyhow!("listing dataset versions: {e}"))?;
        versions.extend(dataset::lake_versions(&root).unwrap_or_default());
        let version = versions.iter().max().map_or(0, |v| v + 1);
        let spec = SplitSpec::from_settings(learn);
        let size = learn.collect_size;
        ctx.log.event(format!(
            "collecting dataset v{version}: {size} unique texts from bronze ({}), store {}",
            match learn.collect_from {
                LearnStart::Beginning => "from the beginning",
                LearnStart::Now => "commits made from now on",
            },
            store.describe()
        ));
        let start = match learn.collect_from {
            LearnStart::Beginning => StartAt::Beginning,
            LearnStart::Now => StartAt::Now,
        };
        let mut consumer = LakeConsumer::new(ctx.pipeline.location.clone(), "bronze", None, start);
        let mut raw: Vec<RawTweet> = Vec::new();
        let mut unique: HashSet<String> = HashSet::new();
        // The bronze versions read, for the dataset's provenance.
        let mut read: Option<(i64, i64)> = None;
        let stopped = |unique: &HashSet<String>| {
            ctx.log.event(format!(
                "stopped with {} of {size} unique texts: nothing written",
                unique.len()
            ));
            Ok(Exit::Cancelled)
        };
        let idle = idle_limit(&self.settings);
        let mut last_growth = std::time::Instant::now();
        'collect: loop {
            if ctx.cancel.is_cancelled() {
                return stopped(&unique);
            }
            let bronze_done = ctx.pipeline.completed.contains("bronze");
            let Some(commits) = poll_bronze(&mut consumer, COMMITS_PER_POLL, &ctx).await else {
                return stopped(&unique);
            };
            if commits.is_empty() {
                if bronze_done {
                    ctx.log.event(format!(
                        "bronze completed with {} unique texts (wanted {size}): building from those",
                        unique.len()
                    ));
                    break 'collect;
                }
                let bronze_here = ctx.pipeline.active.contains("bronze");
                if !bronze_here && last_growth.elapsed() >= idle {
                    if !unique.is_empty() {
                        ctx.log.event(format!(
                            "bronze has not grown for {:.0} s and no bronze stage runs here: building from its {} unique texts (wanted {size})",
                            idle.as_secs_f64(),
                            unique.len()
                        ));
                        break 'collect;
                    }
                    ctx.metrics.set_detail(format!(
                        "v{version}: bronze holds no tweets yet: start source and bronze (S starts all; headless: ssp-tui run source bronze)"
                    ));
                }
                tokio::select! {
                    _ = ctx.cancel.cancelled() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
                continue;
            }
            last_growth = std::time::Instant::now();
            for commit in commits {
                let v = commit.version;
                read = Some(read.map_or((v, v), |(first, _)| (first, v)));
                for file in &commit.files {
                    let Some(tweets) = read_bronze_tweets(&mut consumer, file, &ctx).await else {
                        return stopped(&unique);
                    };
                    ctx.metrics.add_in(tweets.len() as u64);
                    for t in tweets {
                        let text = t.text.trim();
                        if !text.is_empty() {
                            unique.insert(text.to_string());
                        }
                        raw.push(t);
                        if unique.len() >= size {
                            break 'collect;
                        }
                    }
                }
                consumer.ack(commit.version);
                ctx.metrics.read_to(commit.version);
                ctx.metrics.set_detail(format!(
                    "v{version}: {}/{size} unique texts, {} still needed ({} tweets read, bronze v{}; a smaller [learn] collect_size builds sooner)",
                    unique.len(),
                    size.saturating_sub(unique.len()),
                    raw.len(),
                    commit.version
                ));
            }
        }
        ctx.metrics
            .set_detail(format!("v{version}: building the splits…"));
        let learn2 = learn.clone();
        let lfs2 = lfs.clone();
        let (ds, slabels) = tokio::task::spawn_blocking(move || {
            let mut ds = dataset::build(version, raw, spec)?;
            ds.source = read.map(|(first, last)| match first == last {
                true => format!("bronze v{first}"),
                false => format!("bronze v{first}..v{last}"),
            });
            let slabels = crate::learn::initial_slabels(&ds, &learn2, &lfs2);
            Ok::<_, dataset::DatasetError>((ds, slabels))
        })
        .await??;
        store
            .create_version(&ds, &slabels)
            .await
            .map_err(|e| anyhow::anyhow!("storing dataset v{version}: {e}"))?;
        if self.settings.pipeline.store == StoreKind::Postgres {
            // The seed also wrote its tables as Parquet files.
            let (r, d, s) = (root.clone(), ds.clone(), slabels.clone());
            tokio::task::spawn_blocking(move || dataset::write_version(&r, &d, &s))
                .await?
                .context("writing the dataset's Parquet files")?;
        }
        let m = dataset::Manifest::of(&ds);
        let summary = format!(
            "dataset v{version}: {} tweets, {} unique texts: test {}, dev {}, weak-train {}, train {}",
            m.raw, m.unique, m.test, m.dev, m.weak_train, m.train
        );
        ctx.log.event(summary.clone());
        ctx.metrics.add_out(m.unique as u64);
        ctx.metrics.set_detail(summary);
        // A first model from the weak labels, so `classify` can start before any hand label.
        let learn2 = learn.clone();
        let path = model_path(&root);
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let s = Session::new(ds, Vec::new(), &learn2, &lfs);
            let meta = ModelMeta {
                version,
                hand_labels: 0,
                updates: s.model.updates,
                dev_accuracy: None,
                saved_at_ms: chrono::Utc::now().timestamp_millis(),
            };
            s.model.save(&path, &meta)?;
            Ok(())
        })
        .await?
        .context("saving the first model")?;
        Ok(Exit::Drained)
    }
}
