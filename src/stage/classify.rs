//! The `classify` stage: scores every live tweet with the current active-learning model.
//!
//! Two loops share the model (`<lake>/models/current.bin`, re-read when the Label pane's
//! worker saves a newer one):
//!
//! * **live**: tails the tweet topic like the Feed pane does and publishes each tweet's
//!   prediction (label, probability) to `learn::predictions`, which the Feed shows;
//! * **gold**: tails the `bronze` Delta table with a [`LakeConsumer`] and writes the tweets
//!   predicted positive (AI) to the Delta table `gold/ai_tweets` ([`gold`]) and, with
//!   `store = postgres`, the `ai_tweets` table: the seed's AI tweets dataset, for its dashboard.
//!
//! Exactly once per bronze commit: each gold commit carries a `txn` action
//! ([`gold::TXN_APP`]) whose version is the last bronze version it covers, and a start resumes
//! after it. `ai_tweets` is keyed by tweet id, so a batch done again after a crash between the
//! PostgreSQL insert and the gold commit adds nothing there. Bronze commits wait (unread)
//! while there is no model yet. One classify per lake (lease `classify`); a second is refused.

pub mod gold;

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use self::gold::{GoldRow, GoldWriter};
use super::collect::{poll_bronze, read_bronze_tweets};
use super::supervisor::Fatal;
use super::{Exit, Stage, StageContext};
use crate::bus::Offsets;
use crate::config::{BusKind, LearnStart, Settings, StoreKind};
use crate::lake::{LakeConsumer, Lease, StartAt};
use crate::learn::model::{model_path, Model, ModelMeta};
use crate::learn::pg::{insert_ai_tweets, AiTweet, PgConn};
use crate::learn::predictions::{self, Prediction, Predictions};
use crate::tweet::Tweet;

const POLL: Duration = Duration::from_millis(500);
const LIVE_POLL: Duration = Duration::from_millis(250);
const LIVE_BATCH: usize = 1000;
/// Bronze commits per gold commit.
const COMMITS_PER_BATCH: usize = 16;

/// The model as last loaded, and the file's modification time it came from.
pub struct Loaded {
    pub model: Model,
    pub meta: ModelMeta,
    modified: SystemTime,
}

type Shared = Arc<RwLock<Option<Arc<Loaded>>>>;

/// Re-reads the model file when it changed; true when a (new) model is loaded.
fn refresh_model(path: &Path, shared: &Shared) -> bool {
    let Ok(modified) = std::fs::metadata(path).and_then(|m| m.modified()) else {
        return false;
    };
    let current = shared.read().unwrap_or_else(|e| e.into_inner()).clone();
    if current.as_ref().is_some_and(|c| c.modified == modified) {
        return false;
    }
    match Model::load(path) {
        Ok((model, meta)) => {
            *shared.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(Loaded {
                model,
                meta,
                modified,
            }));
            true
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "reading the model file");
            false
        }
    }
}

pub struct ClassifyStage {
    settings: Settings,
}

impl ClassifyStage {
    pub fn new(settings: &Settings) -> ClassifyStage {
        ClassifyStage {
            settings: settings.clone(),
        }
    }
}

#[async_trait]
impl Stage for ClassifyStage {
    fn name(&self) -> &str {
        "classify"
    }

    fn kind(&self) -> &'static str {
        "built-in"
    }

    fn depends_on(&self) -> Vec<String> {
        match self.settings.pipeline.bus {
            BusKind::Embedded => vec!["bronze".to_string()],
            BusKind::Kafka => Vec::new(),
        }
    }

    async fn run(&self, ctx: StageContext) -> anyhow::Result<Exit> {
        let _lease = Lease::acquire(ctx.pipeline.layout.root(), "classify")
            .map_err(|e| Fatal(e.to_string()))?;
        let s = &self.settings;
        let root = s.lake.root.clone();
        let pg = match s.pipeline.store {
            StoreKind::Postgres => Some(PgConn::new(s).map_err(|e| anyhow::anyhow!("{e}"))?),
            StoreKind::Embedded => None,
        };
        let shared: Shared = Arc::new(RwLock::new(None));
        let preds = predictions::for_lake(&root);

        // The checkpoint is the bronze version recorded in gold's last commit.
        let mut gold = GoldWriter::open(&ctx.pipeline.location)
            .await
            .context("opening gold/ai_tweets")?;
        let resumed = gold.checkpoint();
        let start = match s.learn.classify_from {
            LearnStart::Beginning => StartAt::Beginning,
            LearnStart::Now => StartAt::Now,
        };
        let mut bronze = LakeConsumer::new(ctx.pipeline.location.clone(), "bronze", resumed, start);
        match resumed {
            Some(v) => ctx.log.event(format!("resuming after bronze version {v}")),
            None if start == StartAt::Now => {
                // Decide "now" once and record it, so a restart does not skip what came since.
                if poll_bronze(&mut bronze, 1, &ctx).await.is_none() {
                    return Ok(Exit::Cancelled);
                }
                let now = bronze.position().unwrap_or(-1);
                gold.commit(&[], now)
                    .await
                    .context("recording the start position")?;
                ctx.log.event(format!(
                    "first start: classifying bronze after version {now}"
                ));
            }
            None => ctx
                .log
                .event("first start: classifying bronze from version 0"),
        }

        // The live loop, for the Feed.
        let live_stop = CancellationToken::new();
        let live = tokio::spawn(live_loop(
            ctx.pipeline.clone(),
            shared.clone(),
            preds.clone(),
            s.learn.threshold as f32,
            live_stop.clone(),
        ));
        let _stop_live = StopOnDrop(live_stop.clone());
        let result = self
            .gold_loop(&ctx, &mut bronze, &mut gold, pg.as_ref(), &shared, &preds)
            .await;
        live_stop.cancel();
        let _ = live.await;
        result
    }
}

impl ClassifyStage {
    /// Scores new bronze commits in batches and commits the positives with the checkpoint.
    async fn gold_loop(
        &self,
        ctx: &StageContext,
        bronze: &mut LakeConsumer,
        gold: &mut GoldWriter,
        pg: Option<&PgConn>,
        shared: &Shared,
        preds: &Arc<Predictions>,
    ) -> anyhow::Result<Exit> {
        let threshold = self.settings.learn.threshold as f32;
        let positive_name = self.settings.learn.positive_name().to_string();
        let mpath = model_path(&self.settings.lake.root);
        let mut last_check = Instant::now() - Duration::from_secs(10);
        let mut waiting_logged = false;
        loop {
            if ctx.cancel.is_cancelled() {
                return Ok(Exit::Cancelled);
            }
            if last_check.elapsed() >= Duration::from_secs(1) {
                last_check = Instant::now();
                let (p, sh) = (mpath.clone(), shared.clone());
                if tokio::task::spawn_blocking(move || refresh_model(&p, &sh)).await? {
                    if let Some(m) = shared.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
                        ctx.log.event(format!(
                            "model loaded: dataset v{}, {} hand labels{}",
                            m.meta.version,
                            m.meta.hand_labels,
                            m.meta
                                .dev_accuracy
                                .map_or(String::new(), |a| format!(", dev accuracy {a:.3}"))
                        ));
                    }
                }
            }
            let model = shared.read().unwrap_or_else(|e| e.into_inner()).clone();
            let Some(model) = model else {
                if !waiting_logged {
                    ctx.log.event(
                        "waiting for a model: run the collect stage (then label in the Label pane)",
                    );
                    waiting_logged = true;
                }
                ctx.metrics.set_detail("waiting for a model (run collect)");
                tokio::select! {
                    _ = ctx.cancel.cancelled() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
                continue;
            };
            let bronze_done = ctx.pipeline.completed.contains("bronze");
            let Some(commits) = poll_bronze(bronze, COMMITS_PER_BATCH, ctx).await else {
                return Ok(Exit::Cancelled);
            };
            let Some(last) = commits.last().map(|c| c.version) else {
                if bronze_done {
                    return Ok(Exit::Drained);
                }
                set_detail(ctx, &model, preds);
                tokio::select! {
                    _ = ctx.cancel.cancelled() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
                continue;
            };
            let mut rows: Vec<GoldRow> = Vec::new();
            let mut scored = 0u64;
            for commit in &commits {
                for file in &commit.files {
                    let Some(tweets) = read_bronze_tweets(bronze, file, ctx).await else {
                        return Ok(Exit::Cancelled);
                    };
                    let (m2, pos, p2) = (model.clone(), positive_name.clone(), preds.clone());
                    let (version, path) = (commit.version, file.path.clone());
                    let got = tokio::task::spawn_blocking(move || {
                        let mut rows = Vec::new();
                        for t in &tweets {
                            let p = m2.model.predict_text(&t.text);
                            let positive = p > threshold;
                            p2.insert(&t.tweet_id, Prediction { positive, p });
                            if positive {
                                rows.push(GoldRow {
                                    tweet: AiTweet {
                                        id_str: t.tweet_id.clone(),
                                        created_at: t.created_at,
                                        author: t.author.clone(),
                                        text: t.text.clone(),
                                        probability: p,
                                        label: pos.clone(),
                                        model_version: m2.meta.version,
                                        hand_labels: m2.meta.hand_labels as u32,
                                    },
                                    bronze_version: version,
                                    bronze_file: path.clone(),
                                });
                            }
                        }
                        (rows, tweets.len() as u64)
                    })
                    .await?;
                    rows.extend(got.0);
                    scored += got.1;
                }
            }
            ctx.metrics.add_in(scored);
            if let Some(pg) = pg {
                let plain: Vec<AiTweet> = rows.iter().map(|r| r.tweet.clone()).collect();
                insert_ai_tweets(pg, &plain)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            gold.commit(&rows, last).await.with_context(|| {
                format!("committing gold/ai_tweets up to bronze version {last}")
            })?;
            bronze.ack(last);
            ctx.metrics.read_to(last);
            ctx.metrics.add_out(rows.len() as u64);
            set_detail(ctx, &model, preds);
        }
    }
}

struct StopOnDrop(CancellationToken);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

fn set_detail(ctx: &StageContext, model: &Loaded, preds: &Predictions) {
    let (scored, positive) = preds.counts();
    ctx.metrics.set_detail(format!(
        "model v{} · {} hand labels{} · {positive}/{scored} predicted AI",
        model.meta.version,
        model.meta.hand_labels,
        model
            .meta
            .dev_accuracy
            .map_or(String::new(), |a| format!(" · dev acc {a:.2}")),
    ));
}

/// Scores the newest tweets on the topic for the Feed (a view: nothing is committed).
async fn live_loop(
    pipeline: Arc<super::Pipeline>,
    shared: Shared,
    preds: Arc<Predictions>,
    threshold: f32,
    stop: CancellationToken,
) {
    let mut positions = Offsets::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(LIVE_POLL) => {}
        }
        let model = shared.read().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(model) = model else { continue };
        let Ok(messages) = pipeline
            .bus
            .tail(pipeline.topic(), &positions, LIVE_BATCH)
            .await
        else {
            continue;
        };
        for m in messages {
            let pos = positions.entry(m.partition).or_insert(0);
            *pos = (*pos).max(m.offset + 1);
            if let Ok(t) = Tweet::parse(&m.payload) {
                let p = model.model.predict_text(&t.text);
                preds.insert(
                    &t.id,
                    Prediction {
                        positive: p > threshold,
                        p,
                    },
                );
            }
        }
    }
}
