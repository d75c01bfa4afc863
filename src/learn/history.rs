//! The model's history (dev accuracy and F1 over the hand-label count) kept per dataset
//! version beside the model file, so the pane's curve survives restarts:
//! `<lake>/models/history-v<N>.json`, rewritten atomically (temporary file + rename).

use std::io;
use std::path::{Path, PathBuf};

use super::session::MetricsPoint;

pub fn history_path(lake_root: &Path, version: u32) -> PathBuf {
    lake_root
        .join("models")
        .join(format!("history-v{version}.json"))
}

/// The saved history; empty when there is none or it cannot be read (a lost curve is
/// redrawn from here on, never an error).
pub fn load(path: &Path) -> Vec<MetricsPoint> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(path = %path.display(), error = %e, "unreadable model history");
            Vec::new()
        }),
        Err(_) => Vec::new(),
    }
}

pub fn save(path: &Path, points: &[MetricsPoint]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(points)?)?;
    std::fs::rename(&tmp, path)
}

/// The saved points before the session's own: those with fewer hand labels than the
/// session's first point (the session recomputes the point for the labels it holds).
pub fn merge(saved: Vec<MetricsPoint>, current: &[MetricsPoint]) -> Vec<MetricsPoint> {
    let first = current.first().map_or(usize::MAX, |p| p.hand);
    let mut out: Vec<MetricsPoint> = saved.into_iter().filter(|p| p.hand < first).collect();
    out.extend_from_slice(current);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learn::model::Scores;

    fn point(hand: usize, acc: f64) -> MetricsPoint {
        let s = Scores {
            n: hand,
            accuracy: acc,
            f1: acc / 2.0,
        };
        MetricsPoint {
            hand,
            model: s,
            weak: s,
        }
    }

    #[test]
    fn saves_loads_and_merges_before_the_current_point() {
        let dir = tempfile::tempdir().unwrap();
        let path = history_path(dir.path(), 3);
        assert!(load(&path).is_empty());
        let saved = vec![point(1, 0.5), point(2, 0.6), point(3, 0.7)];
        save(&path, &saved).unwrap();
        assert_eq!(load(&path), saved);
        // A session restarted with 3 labels recomputes point 3 and keeps 1 and 2.
        let merged = merge(load(&path), &[point(3, 0.75)]);
        assert_eq!(merged, vec![point(1, 0.5), point(2, 0.6), point(3, 0.75)]);
        std::fs::write(&path, b"{torn").unwrap();
        assert!(load(&path).is_empty());
    }
}
