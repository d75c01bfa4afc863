//! The Lag pane's state: per consumer group lag on the tweet topic, a short history for the
//! sparkline, broker health; refreshed by a background collector about every second.

use std::collections::{BTreeMap, VecDeque};

use crate::bus::{BrokerHealth, GroupLag};

/// Samples kept per group (one a second: the last five minutes).
pub const HISTORY: usize = 300;

/// What the collector publishes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LagSnapshot {
    pub groups: Vec<GroupLag>,
    pub broker: Option<BrokerHealth>,
    pub error: Option<String>,
    /// "embedded" or "kafka host:port".
    pub bus: String,
}

#[derive(Default)]
pub struct LagView {
    pub snapshot: LagSnapshot,
    pub history: BTreeMap<String, VecDeque<u64>>,
    pub selected: usize,
    /// Per-partition detail of the selected group.
    pub detail: bool,
}

impl LagView {
    pub fn update(&mut self, snapshot: LagSnapshot) {
        for g in &snapshot.groups {
            let h = self.history.entry(g.group.clone()).or_default();
            if h.len() == HISTORY {
                h.pop_front();
            }
            h.push_back(g.total() as u64);
        }
        self.selected = self.selected.min(snapshot.groups.len().saturating_sub(1));
        self.snapshot = snapshot;
    }

    pub fn selected_group(&self) -> Option<&GroupLag> {
        self.snapshot.groups.get(self.selected)
    }

    pub fn move_selection(&mut self, delta: isize) {
        let max = self.snapshot.groups.len().saturating_sub(1) as isize;
        self.selected = (self.selected as isize + delta).clamp(0, max) as usize;
    }
}
