//! Recent predictions of the `classify` stage, by tweet id, for the Feed pane.
//!
//! One bounded map per lake (process-wide registry keyed by the lake root), written by the
//! stage and read by the pane when it draws: an in-memory lookup, no I/O.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

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
