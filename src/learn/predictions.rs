//! Recent predictions of the `classify` stage, by tweet id, for the Feed pane.
//!
//! One bounded map per lake (process-wide registry keyed by the lake root), written by the
//! stage when it runs in this process, or filled from the Delta table `gold/ai_tweets` when
//! it runs in another ([`follow_gold`]); read by the pane when it draws: an in-memory lookup.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use arrow::array::{Float32Array, StringArray};
use tokio_util::sync::CancellationToken;

use crate::lake::{read_batches, LakeConsumer, LakeLocation, StartAt};

/// The Delta table of the tweets `classify` predicted positive.
pub const AI_TWEETS_TABLE: &str = "gold/ai_tweets";
/// Commits of `gold/ai_tweets` read back when [`follow_gold`] starts.
const GOLD_HISTORY: i64 = 50;

/// Predictions kept (oldest dropped first).
pub const CAPACITY: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// Positive (e.g. AI) or not.
    pub positive: bool,
    pub p: f32,
}

#[derive(Default)]
struct Inner {
    map: HashMap<String, Prediction>,
    order: VecDeque<String>,
    /// Scored since the process started.
    scored: u64,
    positive: u64,
}

#[derive(Default)]
pub struct Predictions {
    inner: Mutex<Inner>,
}

impl Predictions {
    pub fn insert(&self, id: &str, pred: Prediction) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if g.map.insert(id.to_string(), pred).is_none() {
            g.order.push_back(id.to_string());
            g.scored += 1;
            g.positive += u64::from(pred.positive);
        }
        while g.order.len() > CAPACITY {
            if let Some(old) = g.order.pop_front() {
                g.map.remove(&old);
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<Prediction> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map
            .get(id)
            .copied()
    }

    /// (scored, predicted positive) since the process started.
    pub fn counts(&self) -> (u64, u64) {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (g.scored, g.positive)
    }

    pub fn is_empty(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map
            .is_empty()
    }
}

/// The predictions of the lake at `root` (the same `Arc` for the same root).
pub fn for_lake(root: &Path) -> Arc<Predictions> {
    static REGISTRY: OnceLock<Mutex<HashMap<PathBuf, Arc<Predictions>>>> = OnceLock::new();
    let reg = REGISTRY.get_or_init(Default::default);
    let mut g = reg.lock().unwrap_or_else(|e| e.into_inner());
    g.entry(root.to_path_buf()).or_default().clone()
}

/// Tails `gold/ai_tweets` (from its last [`GOLD_HISTORY`] commits) into `preds`, once a
/// second, until cancelled. A commit that cannot be read is read again on the next tick.
pub async fn follow_gold(
    location: LakeLocation,
    preds: Arc<Predictions>,
    cancel: CancellationToken,
) {
    let mut consumer: Option<LakeConsumer> = None;
    loop {
        if consumer.is_none() {
            let mut probe =
                LakeConsumer::new(location.clone(), AI_TWEETS_TABLE, None, StartAt::Now);
            if let Ok(Some(latest)) = probe.latest_version().await {
                let after = Some(latest - GOLD_HISTORY).filter(|v| *v >= 0);
                consumer = Some(LakeConsumer::new(
                    location.clone(),
                    AI_TWEETS_TABLE,
                    after,
                    StartAt::Beginning,
                ));
            }
        }
        if let Some(c) = consumer.as_mut() {
            if let Err(e) = read_gold(c, &preds).await {
                tracing::debug!(error = %e, "reading gold/ai_tweets for the Feed");
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Reads the new gold commits into `preds`, acking each once all its files are read.
pub async fn read_gold(c: &mut LakeConsumer, preds: &Predictions) -> anyhow::Result<()> {
    loop {
        let commits = c.poll(64).await?;
        if commits.is_empty() {
            return Ok(());
        }
        for commit in commits {
            for file in &commit.files {
                let bytes = c.read(file).await?;
                for b in read_batches(bytes, &file.path)? {
                    let col = |n: &str| {
                        b.column_by_name(n)
                            .ok_or_else(|| anyhow::anyhow!("{}: no column {n}", file.path))
                    };
                    let id = col("id_str")?.as_any().downcast_ref::<StringArray>();
                    let p = col("probability")?.as_any().downcast_ref::<Float32Array>();
                    let (Some(id), Some(p)) = (id, p) else {
                        anyhow::bail!("{}: unexpected column types", file.path);
                    };
                    for i in 0..b.num_rows() {
                        let pred = Prediction {
                            positive: true,
                            p: p.value(i),
                        };
                        preds.insert(id.value(i), pred);
                    }
                }
            }
            c.ack(commit.version);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_shared_per_lake() {
        let a = for_lake(Path::new("/tmp/pred-test-a"));
        let b = for_lake(Path::new("/tmp/pred-test-a"));
        a.insert(
            "1",
            Prediction {
                positive: true,
                p: 0.9,
            },
        );
        assert_eq!(b.get("1").map(|p| p.positive), Some(true));
        assert!(for_lake(Path::new("/tmp/pred-test-b")).get("1").is_none());
        for i in 0..CAPACITY + 10 {
            a.insert(
                &format!("x{i}"),
                Prediction {
                    positive: false,
                    p: 0.1,
                },
            );
        }
        assert!(a.get("1").is_none());
        assert_eq!(a.counts().0, CAPACITY as u64 + 11);
    }
}
