//! The `ner` stage: the `bronze` table -> named entities -> the `silver/ner` table.
//!
//! It tails bronze by table version (a [`LakeConsumer`](crate::lake::LakeConsumer)), sends the
//! tweets' texts to the configured NER backend (a spaCy service over HTTP, either API, or the
//! built-in rules) with bounded concurrency, and writes one silver row per tweet: its
//! entities, or the error it kept failing with after every retry (counted, never dropped).
//!
//! **Exactly once, across crashes.** Silver rows are committed only for whole bronze commits,
//! in one Delta commit with a `txn` action (`ssp-ner/bronze`, version = the last bronze
//! version covered). That version is the checkpoint: a (re)start reads it from `silver/ner`
//! and resumes after it. One writer: the stage holds the `ner` lease of the lake's local
//! folder, and every commit first checks that the table's checkpoint is still the one this
//! run resumed from (the guard on object storage); otherwise it stops with "another ner
//! writer is running". A bronze file that cannot be read is retried with backoff and shown
//! as an error on the stage; the checkpoint never moves past it.
//!
//! The stage drains (exits by itself) once `bronze` completed in this process and every
//! bronze commit is through NER and committed.

mod backend;
mod run;
pub mod status;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::{Exit, Stage, StageContext};
use crate::config::{BusKind, NerSettings, Settings};
use crate::stage::ner::status::{status_path, StatusTracker};
use backend::Backend;

/// How often the status file is written.
const PUBLISH: Duration = Duration::from_secs(1);

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
        let tracker = Arc::new(StatusTracker::new(
            self.settings.backend_label(),
            self.settings.url.is_some(),
            self.settings.window,
        ));
        let backend = Backend::build(&self.settings, tracker.clone())?;
        let publish_stop = CancellationToken::new();
        let publisher = tokio::spawn(publish(
            tracker.clone(),
            status_path(&ctx.pipeline.layout),
            publish_stop.clone(),
            ctx.metrics.clone(),
        ));
        let result = run::Runner {
            ctx: &ctx,
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
