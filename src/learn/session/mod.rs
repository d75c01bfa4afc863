//! One labelling session over one dataset version, in memory: the texts with their features
//! and LF votes, the hand labels (folded from the store's events), the weak labels, the
//! model, its probabilities and the queue. No I/O here: the worker commits events first and
//! then applies them to the session.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::dataset::{Dataset, DatasetRow, Split, SplitMix64};
use super::label_model::{LabelModel, Weak};
use super::labels::{fold, LabelEvent};
use super::lf::{LabelingFunctions, LfSummaryRow, Vote, LF_NAMES};
use super::model::{featurize, Features, Model, Scores};
use super::queue::QueueOrder;
use crate::config::LearnSettings;

mod queue;
mod training;
mod weak;
pub use training::fit;

/// Epochs of a full (re)training.
pub const EPOCHS: usize = 4;
/// SGD steps on a new hand label, and earlier hand labels replayed with it.
pub const ONLINE_STEPS: usize = 2;
pub const REPLAY: usize = 8;
/// Accuracy points kept for the sparkline.
pub const HISTORY: usize = 200;
/// Dev labels the "trust the weak labels fully" prior is worth (see [`Session::weak_trust`]).
pub const TRUST_PRIOR: f64 = 5.0;

/// One text of the dataset, with what never changes during a session.
#[derive(Debug, Clone)]
pub struct Item {
    pub row: DatasetRow,
    pub features: Features,
    pub votes: [Vote; 8],
}

/// Which texts the queue offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Train and weak-train in the chosen order, with `dev_share` of the labels from dev
    /// (in random order, so dev stays an unbiased sample) until dev is labelled.
    Auto,
    /// One split only.
    Only(Split),
}

impl Target {
    pub const ALL: [Target; 5] = [
        Target::Auto,
        Target::Only(Split::Dev),
        Target::Only(Split::Test),
        Target::Only(Split::Train),
        Target::Only(Split::WeakTrain),
    ];

    pub fn name(self) -> String {
        match self {
            Target::Auto => "auto (train + dev share)".to_string(),
            Target::Only(s) => format!("{s} only"),
        }
    }

    pub fn next(self) -> Target {
        let i = Self::ALL.iter().position(|t| *t == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }
}

/// Dev-split scores of the model and of the weak labeller after `hand` hand labels.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MetricsPoint {
    pub hand: usize,
    pub model: Scores,
    pub weak: Scores,
}

/// Counts for the progress line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Hand-labelled texts per split (test, dev, weak_train, train).
    pub per_split: [usize; 4],
    /// Texts per split.
    pub split_sizes: [usize; 4],
    /// Hand labels per label value.
    pub per_label: Vec<(i32, usize)>,
    /// Unlabelled texts the current target can still offer (skips excluded).
    pub remaining: usize,
    pub skipped: usize,
}

pub struct Session {
    pub settings: LearnSettings,
    pub version: u32,
    pub items: Arc<Vec<Item>>,
    index: HashMap<i64, usize>,
    pub events: Vec<LabelEvent>,
    /// Current hand label per item (label values; -1 = none).
    pub hand: Vec<i32>,
    pub label_model: LabelModel,
    pub weak: Vec<Weak>,
    pub model: Model,
    pub probs: Vec<f32>,
    pub order: QueueOrder,
    pub target: Target,
    skipped: HashSet<usize>,
    random: Vec<u32>,
    pub history: Vec<MetricsPoint>,
    lf_rows: Vec<LfSummaryRow>,
    /// Bumped on every change the queue or the pane can see.
    pub generation: u64,
    /// Where the dataset's texts came from (see [`Dataset::source`]).
    pub source: Option<String>,
}

/// A training example: item, target (1 positive / 0 negative), weight.
pub type Example = (usize, f32, f32);

impl Session {
    /// Builds the session and trains the model from scratch (CPU: run it off the UI thread).
    pub fn new(
        ds: Dataset,
        events: Vec<LabelEvent>,
        settings: &LearnSettings,
        lfs: &LabelingFunctions,
    ) -> Session {
        let bits = settings.hash_bits;
        let source = ds.source.clone();
        let items: Vec<Item> = ds
            .rows
            .into_iter()
            .map(|row| Item {
                features: featurize(&row.text, bits),
                votes: lfs.votes(&row.text),
                row,
            })
            .collect();
        let index = items
            .iter()
            .enumerate()
            .map(|(i, it)| (it.row.text_id, i))
            .collect();
        let mut order: Vec<u32> = (0..items.len() as u32).collect();
        SplitMix64::new(settings.seed ^ 0x5eed).shuffle(&mut order);
        let mut random = vec![0u32; items.len()];
        for (rank, i) in order.into_iter().enumerate() {
            random[i as usize] = rank as u32;
        }
        let n = items.len();
        let mut s = Session {
            settings: settings.clone(),
            version: ds.version,
            items: Arc::new(items),
            index,
            events: Vec::new(),
            hand: vec![crate::config::ABSTAIN; n],
            label_model: LabelModel::uniform(LF_NAMES.len()),
            weak: Vec::new(),
            model: Model::new(bits),
            probs: vec![0.5; n],
            order: settings.order,
            target: Target::Auto,
            skipped: HashSet::new(),
            random,
            history: Vec::new(),
            lf_rows: Vec::new(),
            generation: 0,
            source,
        };
        for (text_id, label) in fold(&events) {
            if let Some(i) = s.index.get(&text_id) {
                s.hand[*i] = label;
            }
        }
        s.events = events;
        s.refit_label_model();
        s.model = fit(&s.items, &s.examples(), bits, settings.seed);
        s.rescore();
        s.record_metrics();
        s
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn index_of(&self, text_id: i64) -> Option<usize> {
        self.index.get(&text_id).copied()
    }
}
