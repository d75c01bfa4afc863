//! The `classify` stage: scores every live tweet with the current active-learning model.
//!
//! Two loops share the model (`<lake>/models/current.bin`, re-read when the Label pane's
//! worker saves a newer one):
//!
//! * **live**: tails the tweet topic like the Feed pane does and publishes each tweet's
//!   prediction (label, probability) to `learn::predictions`, which the Feed shows;
//! * **gold**: reads complete bronze files incrementally and writes the tweets predicted
//!   positive (AI) to `<lake>/gold/ai_tweets/` (Parquet) and, with `store = postgres`, the
//!   `ai_tweets` table: the seed's AI tweets dataset, for its dashboard.
//!
//! Exactly once per bronze file: the gold file of a batch is closed (renamed) with the list
//! of bronze files it covers in its footer, then the checkpoint
//! (`<lake>/_checkpoints/classify.json`) is saved. After a crash between the two, start-up
//! reads the footers of gold files and moves the checkpoint forward; a temp file that never
//! closed is done again. `ai_tweets` is keyed by tweet id, so replaying a batch adds nothing.
//! Bronze files wait (unread) while there is no model yet.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use arrow::array::{ArrayRef, Float32Array, Int32Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::collect::read_bronze_tweets;
use super::{Exit, Stage, StageContext};
use crate::bus::Offsets;
use crate::config::{BusKind, LearnStart, Settings, StoreKind};
use crate::lake::incremental::{FileCheckpoint, LakeTail, StartAt};
use crate::lake::{list_complete_files, RollPolicy, RollingParquet};
use crate::learn::model::{model_path, Model, ModelMeta};
use crate::learn::pg::{insert_ai_tweets, AiTweet, PgConn};
use crate::learn::predictions::{self, Prediction, Predictions};
use crate::tweet::Tweet;

const POLL: Duration = Duration::from_millis(500);
const LIVE_POLL: Duration = Duration::from_millis(250);
const LIVE_BATCH: usize = 1000;
/// Bronze files per gold batch.
const FILES_PER_BATCH: usize = 16;
/// Footer key listing the bronze files a gold file covers.
pub const FOOTER_KEY: &str = "ssp.bronze_files";

/// `<lake>/gold/ai_tweets`.
pub fn gold_dir(lake_root: &Path) -> PathBuf {
    lake_root.join("gold").join("ai_tweets")
}

pub fn checkpoint_path(lake_root: &Path) -> PathBuf {
    lake_root.join("_checkpoints").join("classify.json")
}

pub fn ai_tweets_schema() -> SchemaRef {
    let ts = crate::lake::schema::timestamp_utc;
    Arc::new(Schema::new(vec![
        Field::new("id_str", DataType::Utf8, false),
        Field::new("created_at", ts(), true),
        Field::new("author", DataType::Utf8, true),
        Field::new("text", DataType::Utf8, false),
        Field::new("probability", DataType::Float32, false),
        Field::new("label", DataType::Utf8, false),
        Field::new("model_version", DataType::Int32, false),
        Field::new("hand_labels", DataType::Int32, false),
        Field::new("bronze_file", DataType::Utf8, false),
        Field::new("classified_at", ts(), false),
    ]))
}

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

/// Bronze files named in the footers of gold files the checkpoint does not list yet.
fn recover(cp: &mut FileCheckpoint, gold: &Path) -> anyhow::Result<usize> {
    let mut n = 0;
    for path in list_complete_files(gold)? {
        let file = std::fs::File::open(&path)?;
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .with_context(|| format!("reading {}", path.display()))?;
        let kv = reader
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .cloned();
        let Some(list) = kv
            .unwrap_or_default()
            .into_iter()
            .find(|k| k.key == FOOTER_KEY)
            .and_then(|k| k.value)
        else {
            continue;
        };
        let files: Vec<String> = serde_json::from_str(&list).unwrap_or_default();
        for f in files {
            if cp.done.insert(f) {
                n += 1;
            }
        }
    }
    Ok(n)
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
        let s = &self.settings;
        let root = s.lake.root.clone();
        let threshold = s.learn.threshold as f32;
        let positive_name = s.learn.positive_name().to_string();
        let pg = match s.pipeline.store {
            StoreKind::Postgres => Some(PgConn::new(s).map_err(|e| anyhow::anyhow!("{e}"))?),
            StoreKind::Embedded => None,
        };
        let shared: Shared = Arc::new(RwLock::new(None));
        let preds = predictions::for_lake(&root);
        let mpath = model_path(&root);

        // Checkpoint + recovery.
        let cp_path = checkpoint_path(&root);
        let gold = gold_dir(&root);
        let (mut cp, fresh) = {
            let (cp_path, gold) = (cp_path.clone(), gold.clone());
            tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let _ = crate::lake::remove_stale_temp_files(&gold);
                let loaded =
                    FileCheckpoint::load(&cp_path).context("reading the classify checkpoint")?;
                let fresh = loaded.is_none();
                let mut cp = loaded.unwrap_or_default();
                let n = recover(&mut cp, &gold)?;
                Ok((cp, fresh && n == 0))
            })
            .await??
        };
        let start = match s.learn.classify_from {
            LearnStart::Beginning => StartAt::Beginning,
            LearnStart::Now => StartAt::Now,
        };
        let mut tail = {
            let (b, done) = (
                ctx.pipeline.layout.bronze(),
                (!fresh).then(|| cp.done.clone()),
            );
            tokio::task::spawn_blocking(move || LakeTail::new(b, done, start)).await??
        };
        if fresh {
            cp.done = tail.done().clone();
            save_checkpoint(&cp, &cp_path).await?;
        }

        // The live loop, for the Feed.
        let live_stop = CancellationToken::new();
        let live = tokio::spawn(live_loop(
            ctx.pipeline.clone(),
            shared.clone(),
            preds.clone(),
            threshold,
            live_stop.clone(),
        ));
        let _stop_live = StopOnDrop(live_stop.clone());

        let mut writer = RollingParquet::new(
            gold.clone(),
            ai_tweets_schema(),
            format!(
                "classify-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            ),
            RollPolicy::default(),
        );
        let mut last_check = Instant::now() - Duration::from_secs(10);
        let mut waiting_logged = false;
        let result: anyhow::Result<Exit> = async {
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
                        ctx.log.event("waiting for a model: run the collect stage (then label in the Label pane)");
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
                let pending: Vec<(String, PathBuf)> = tail.pending().context("listing bronze files")?;
                if pending.is_empty() {
                    if bronze_done {
                        return Ok(Exit::Drained);
                    }
                    set_detail(&ctx, &model, &preds);
                    tokio::select! {
                        _ = ctx.cancel.cancelled() => {}
                        _ = tokio::time::sleep(POLL) => {}
                    }
                    continue;
                }
                let batch: Vec<(String, PathBuf)> = pending.into_iter().take(FILES_PER_BATCH).collect();
                let keys: Vec<String> = batch.iter().map(|(k, _)| k.clone()).collect();
                let (m2, pos) = (model.clone(), positive_name.clone());
                let p2 = preds.clone();
                let (rows, scored) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                    let mut rows = Vec::new();
                    let mut scored = 0u64;
                    for (key, path) in &batch {
                        for t in read_bronze_tweets(path).with_context(|| format!("reading bronze file {key}"))? {
                            let p = m2.model.predict_text(&t.text);
                            let positive = p > threshold;
                            p2.insert(&t.tweet_id, Prediction { positive, p });
                            scored += 1;
                            if positive {
                                rows.push((
                                    AiTweet {
                                        id_str: t.tweet_id,
                                        created_at: t.created_at,
                                        author: t.author,
                                        text: t.text,
                                        probability: p,
                                        label: pos.clone(),
                                        model_version: m2.meta.version,
                                        hand_labels: m2.meta.hand_labels as u32,
                                    },
                                    key.clone(),
                                ));
                            }
                        }
                    }
                    Ok((rows, scored))
                })
                .await??;
                ctx.metrics.add_in(scored);
                if let Some(pg) = &pg {
                    let plain: Vec<AiTweet> = rows.iter().map(|(r, _)| r.clone()).collect();
                    insert_ai_tweets(pg, &plain)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                }
                if !rows.is_empty() {
                    writer
                        .write(&gold_batch(&rows)?)
                        .context("writing gold ai_tweets")?;
                    writer
                        .close_with_metadata(vec![(
                            FOOTER_KEY.to_string(),
                            serde_json::to_string(&keys)?,
                        )])
                        .context("closing the gold ai_tweets file")?;
                }
                ctx.metrics.add_out(rows.len() as u64);
                for k in keys {
                    tail.mark(k.clone());
                    cp.done.insert(k);
                }
                save_checkpoint(&cp, &cp_path).await?;
                set_detail(&ctx, &model, &preds);
            }
        }
        .await;
        live_stop.cancel();
        let _ = live.await;
        result
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

async fn save_checkpoint(cp: &FileCheckpoint, path: &Path) -> anyhow::Result<()> {
    let (cp, path) = (cp.clone(), path.to_path_buf());
    tokio::task::spawn_blocking(move || cp.save(&path))
        .await?
        .context("saving the classify checkpoint")
}

fn gold_batch(rows: &[(AiTweet, String)]) -> anyhow::Result<RecordBatch> {
    let now = chrono::Utc::now().timestamp_millis();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.0.id_str.as_str()),
        )),
        Arc::new(
            TimestampMillisecondArray::from(
                rows.iter().map(|r| r.0.created_at).collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from(
            rows.iter()
                .map(|r| r.0.author.as_deref())
                .collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.0.text.as_str()),
        )),
        Arc::new(Float32Array::from_iter_values(
            rows.iter().map(|r| r.0.probability),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.0.label.as_str()),
        )),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.0.model_version as i32),
        )),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.0.hand_labels as i32),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.1.as_str()),
        )),
        Arc::new(TimestampMillisecondArray::from(vec![now; rows.len()]).with_timezone("UTC")),
    ];
    Ok(RecordBatch::try_new(ai_tweets_schema(), cols)?)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_reads_bronze_keys_from_gold_footers() {
        let dir = tempfile::tempdir().unwrap();
        let gold = gold_dir(dir.path());
        let mut w = RollingParquet::new(
            gold.clone(),
            ai_tweets_schema(),
            "t".into(),
            RollPolicy::default(),
        );
        let row = AiTweet {
            id_str: "1".into(),
            created_at: None,
            author: None,
            text: "x".into(),
            probability: 0.9,
            label: "AI".into(),
            model_version: 0,
            hand_labels: 0,
        };
        w.write(&gold_batch(&[(row, "date=x/part-1.parquet".into())]).unwrap())
            .unwrap();
        w.close_with_metadata(vec![(
            FOOTER_KEY.into(),
            "[\"date=x/part-1.parquet\"]".into(),
        )])
        .unwrap();
        let mut cp = FileCheckpoint::default();
        assert_eq!(recover(&mut cp, &gold).unwrap(), 1);
        assert!(cp.done.contains("date=x/part-1.parquet"));
        assert_eq!(recover(&mut cp, &gold).unwrap(), 0);
    }
}
