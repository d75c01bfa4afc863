//! What the `ner` stage publishes about itself for the NER pane: backend, health, rates,
//! latency, errors, counts per label, the top entities per label over the last minutes and
//! the latest tweets with their entities.
//!
//! The stage keeps a [`StatusTracker`] and writes its [`NerStatus`] snapshot about once a
//! second to `<lake>/_status/ner.json` (temp file + rename). The TUI reads that file on a
//! background task ([`watch_status_file`]), so the pane also works when the stage runs in
//! another process (`ssp-tui run ner` elsewhere, the TUI as a monitor), like the other panes
//! that read what stages write.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::lake::LakeLayout;
use crate::nlp::entity::Entity;

#[cfg(test)]
mod tests;
mod tracker;
mod window;

pub use tracker::StatusTracker;
pub use window::EntityWindow;

/// Latest tweets kept for the pane.
pub const LATEST: usize = 40;
/// Top entities per label shown.
pub const TOP_PER_LABEL: usize = 5;

/// Where the `ner` stage's status lives.
pub fn status_path(layout: &LakeLayout) -> PathBuf {
    layout.root().join("_status").join("ner.json")
}

/// A tweet as the pane shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatestTweet {
    pub id_str: String,
    pub text: String,
    pub entities: Vec<Entity>,
    pub error: Option<String>,
}

/// The top entities of one label over the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelTop {
    pub label: String,
    /// Entities of this label in the window.
    pub total: u64,
    pub entities: Vec<(String, u64)>,
}

/// The snapshot the stage publishes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NerStatus {
    /// When it was written (Unix epoch milliseconds).
    pub updated_ms: i64,
    pub pid: u32,
    /// False once the stage ended (its last word).
    pub running: bool,
    /// `spacy http://127.0.0.1:5000 (ssp)` or `rules`.
    pub backend: String,
    /// True for a spaCy service, false for the built-in rules.
    pub is_model: bool,
    pub healthy: bool,
    /// `ready: en_core_web_sm 3.8.0`, `waiting for …: connection refused`, `rules …`.
    pub health: String,
    /// Tweets through NER in this run, and those recorded with an error.
    pub tweets: u64,
    pub tweet_errors: u64,
    pub requests: u64,
    pub request_errors: u64,
    pub retries: u64,
    pub tweets_per_s: f64,
    pub requests_per_s: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub last_error: Option<String>,
    /// Entities per label in this run, most frequent first.
    pub label_counts: Vec<(String, u64)>,
    pub window_minutes: u64,
    pub top: Vec<LabelTop>,
    /// Newest first.
    pub latest: Vec<LatestTweet>,
    /// Bronze data files read from the log and not processed yet.
    pub pending_files: u64,
    /// Data files and rows committed to `silver/ner` in this run.
    pub silver_files: u64,
    pub silver_rows: u64,
}

impl NerStatus {
    /// Seconds since it was written.
    pub fn age(&self, now_ms: i64) -> Duration {
        Duration::from_millis(now_ms.saturating_sub(self.updated_ms).max(0) as u64)
    }

    /// Reads a status file; `None` when missing or unreadable.
    pub fn load(path: &Path) -> Option<NerStatus> {
        let bytes = std::fs::read(path).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Writes a status file: temp file then rename (no fsync: it is a view, not data).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        let tmp = dir.join(format!(".ner.status.{}.tmp", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    }
}

/// Reads the status file every `every` on a blocking thread and publishes changes; for the
/// TUI's background collectors. Ends when `cancel` fires or nobody listens.
pub async fn watch_status_file(
    path: PathBuf,
    tx: watch::Sender<Option<NerStatus>>,
    every: Duration,
    cancel: CancellationToken,
) {
    loop {
        let p = path.clone();
        let Ok(status) = tokio::task::spawn_blocking(move || NerStatus::load(&p)).await else {
            return;
        };
        if status.is_some() {
            tx.send_if_modified(|old| {
                let changed = *old != status;
                *old = status;
                changed
            });
        }
        if tx.is_closed() {
            return;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
