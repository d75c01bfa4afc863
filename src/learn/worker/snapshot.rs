//! What the Label pane draws: the snapshot the worker publishes (state, queue head, progress,
//! scores, review list, versions) and how it is built from a session.

use crate::config::ABSTAIN;
use crate::learn::dataset::Split;
use crate::learn::labels::LabelEvent;
use crate::learn::lf::{LfSummaryRow, Vote};
use crate::learn::model::Scores;
use crate::learn::queue::QueueOrder;
use crate::learn::session::{MetricsPoint, Progress, Session, Target};

/// Items of the queue head sent to the pane.
pub const HEAD: usize = 32;
/// Decisions the review list shows.
pub const REVIEW: usize = 30;

/// One text as the pane shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueItem {
    pub text_id: i64,
    pub split: Split,
    pub text: String,
    pub author: Option<String>,
    pub created_at: Option<i64>,
    /// Model probability of the positive label.
    pub p: f32,
    /// Weak label (label value, -1 = abstain) and its probability.
    pub weak: i32,
    pub weak_p: f64,
    /// LFs that voted, with their vote (1 positive, 0 negative).
    pub fired: Vec<(&'static str, Vote)>,
    /// Its current hand label (-1 = none).
    pub label: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WorkerState {
    Starting,
    /// No dataset version yet: run `collect`.
    NoDataset,
    Loading(u32),
    Ready,
    Failed(String),
}

/// What the pane draws.
#[derive(Debug, Clone)]
pub struct LabelSnapshot {
    pub state: WorkerState,
    pub store: String,
    pub version: Option<u32>,
    pub order: QueueOrder,
    pub target: Target,
    pub head: Vec<QueueItem>,
    pub progress: Progress,
    pub hand_total: usize,
    /// Dev-split accuracy / F1 of the model and of the weak labeller.
    pub model: Scores,
    pub weak: Scores,
    /// How far weak labels are trusted in training (0..1, see `Session::weak_trust`).
    pub weak_trust: f64,
    pub history: Vec<MetricsPoint>,
    pub lf_summary: Vec<LfSummaryRow>,
    /// The last decisions (newest first, one per text, undone ones gone), for review.
    pub review: Vec<ReviewItem>,
    /// Every dataset version with its hand-labelled texts (the one labelled now: live).
    pub versions: Vec<(u32, usize)>,
    pub retraining: bool,
    /// The last store error, until the next success.
    pub error: Option<String>,
    pub generation: u64,
}

impl LabelSnapshot {
    /// `v0 2{suffix} · ▶v1 0{suffix}`: every version with its labelled count, the one
    /// labelled now marked.
    pub fn versions_list(&self, suffix: &str) -> String {
        self.versions
            .iter()
            .map(|(v, n)| {
                let mark = if Some(*v) == self.version { "▶" } else { "" };
                format!("{mark}v{v} {n}{suffix}")
            })
            .collect::<Vec<_>>()
            .join(" · ")
    }

    pub fn starting(store: String, order: QueueOrder) -> LabelSnapshot {
        LabelSnapshot {
            state: WorkerState::Starting,
            store,
            version: None,
            order,
            target: Target::Auto,
            head: Vec::new(),
            progress: Progress::default(),
            hand_total: 0,
            model: Scores::default(),
            weak: Scores::default(),
            weak_trust: 1.0,
            history: Vec::new(),
            lf_summary: Vec::new(),
            review: Vec::new(),
            versions: Vec::new(),
            retraining: false,
            error: None,
            generation: 0,
        }
    }
}

/// A decision in the review list: the label event standing for a text now.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewItem {
    pub seq: u64,
    pub at_ms: i64,
    pub who: String,
    pub label: i32,
    pub item: QueueItem,
}
/// Item `i` of the session as the pane shows it.
pub fn queue_item(s: &Session, i: usize) -> QueueItem {
    let it = &s.items[i];
    QueueItem {
        text_id: it.row.text_id,
        split: it.row.split,
        text: it.row.text.clone(),
        author: it.row.author.clone(),
        created_at: it.row.created_at,
        p: s.probs[i],
        weak: s.label_of(s.weak[i].label),
        weak_p: s.weak[i].p,
        fired: s.fired(i),
        label: s.hand[i],
    }
}

/// The snapshot of a session.
pub fn snapshot_of(
    s: &Session,
    store: String,
    retraining: bool,
    error: Option<String>,
) -> LabelSnapshot {
    let (model, weak) = s.dev_scores();
    LabelSnapshot {
        state: WorkerState::Ready,
        store,
        version: Some(s.version),
        order: s.order,
        target: s.target,
        head: s.head(HEAD).into_iter().map(|i| queue_item(s, i)).collect(),
        progress: s.progress(),
        hand_total: s.hand.iter().filter(|h| **h != ABSTAIN).count(),
        model,
        weak,
        weak_trust: s.weak_trust(),
        history: s.history.clone(),
        lf_summary: s.lf_summary().to_vec(),
        review: review_items(s, REVIEW),
        versions: vec![(s.version, s.hand_labels())],
        retraining,
        error,
        generation: s.generation,
    }
}

/// The newest `n` decisions standing now: one per text, newest first.
pub fn review_items(s: &Session, n: usize) -> Vec<ReviewItem> {
    let mut current: Vec<&LabelEvent> = crate::learn::labels::current_label_events(&s.events)
        .into_values()
        .collect();
    current.sort_unstable_by_key(|e| std::cmp::Reverse(e.seq));
    current
        .into_iter()
        .filter_map(|e| {
            let i = s.index_of(e.event.text_id)?;
            (s.hand[i] != ABSTAIN).then(|| ReviewItem {
                seq: e.seq,
                at_ms: e.event.at_ms,
                who: e.event.who.clone(),
                label: s.hand[i],
                item: queue_item(s, i),
            })
        })
        .take(n)
        .collect()
}
