//! What every stage gets: the shared pipeline (settings, bus, lake) and its own run context.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{LogBuffer, StageMetrics};
use crate::bus::{Bus, Offsets};
use crate::config::Settings;
use crate::lake::{LakeLayout, LakeLocation};

/// Shared by all stages of one process.
pub struct Pipeline {
    pub settings: Settings,
    pub bus: Arc<dyn Bus>,
    pub layout: LakeLayout,
    /// Where the Delta tables live (the local folder, or an object store).
    pub location: LakeLocation,
    /// Where the tweet topic ends, once a finite source in this process has delivered all.
    pub tweets_end: TopicEnd,
    /// Stages of this process that completed (drained): downstream stages drain after them.
    pub completed: Completed,
    /// Stages of this process being run now (running, or backing off between runs).
    pub active: Completed,
    /// Woken whenever a stage of this process changes state.
    pub state_changed: tokio::sync::Notify,
}

impl Pipeline {
    pub fn new(settings: Settings, bus: Arc<dyn Bus>) -> Arc<Pipeline> {
        let layout = LakeLayout::new(settings.lake.root.clone());
        let location = settings.lake.tables.clone();
        Arc::new(Pipeline {
            settings,
            bus,
            layout,
            location,
            tweets_end: TopicEnd::default(),
            completed: Completed::default(),
            active: Completed::default(),
            state_changed: tokio::sync::Notify::new(),
        })
    }

    pub fn topic(&self) -> &str {
        &self.settings.kafka.topic
    }
}

/// The exact end of a topic as delivered by its producer (from delivery reports), so
/// consumers can drain to it without trusting a broker's high watermark.
#[derive(Clone)]
pub struct TopicEnd {
    tx: Arc<watch::Sender<Option<Offsets>>>,
}

impl Default for TopicEnd {
    fn default() -> Self {
        TopicEnd {
            tx: Arc::new(watch::channel(None).0),
        }
    }
}

impl TopicEnd {
    /// The producer starts a new run: the end is unknown again.
    pub fn reset(&self) {
        self.tx.send_replace(None);
    }
    pub fn finish(&self, offsets: Offsets) {
        self.tx.send_replace(Some(offsets));
    }
    pub fn get(&self) -> Option<Offsets> {
        self.tx.borrow().clone()
    }
    pub fn subscribe(&self) -> watch::Receiver<Option<Offsets>> {
        self.tx.subscribe()
    }
    /// True when `positions` (next offsets read) reached the end on every partition.
    pub fn reached(end: &Offsets, positions: &Offsets) -> bool {
        end.iter()
            .all(|(p, e)| *e <= 0 || positions.get(p).is_some_and(|pos| pos >= e))
    }
}

/// A set of stage names of this process (which completed; which are active).
#[derive(Clone, Default)]
pub struct Completed {
    names: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
}

impl Completed {
    pub fn mark(&self, name: &str) {
        self.names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string());
    }
    pub fn clear(&self, name: &str) {
        self.names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }
    /// Marks `name` until the returned guard is dropped.
    pub fn hold(&self, name: &str) -> NameGuard {
        self.mark(name);
        NameGuard {
            set: self.clone(),
            name: name.to_string(),
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(name)
    }
}

/// Clears its name from the set when dropped.
pub struct NameGuard {
    set: Completed,
    name: String,
}

impl Drop for NameGuard {
    fn drop(&mut self) {
        self.set.clear(&self.name);
    }
}

/// One run of one stage.
#[derive(Clone)]
pub struct StageContext {
    pub name: String,
    pub cancel: CancellationToken,
    pub metrics: Arc<StageMetrics>,
    pub log: LogBuffer,
    pub pipeline: Arc<Pipeline>,
}
