//! One labelling session over one dataset version, in memory: the texts with their features
//! and LF votes, the hand labels (folded from the store's events), the weak labels, the
//! model, its probabilities and the queue. No I/O here: the worker commits events first and
//! then applies them to the session.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::dataset::{Dataset, DatasetRow, Split, SplitMix64};
use super::label_model::{LabelModel, Weak};
use super::labels::{fold, EventKind, LabelEvent};
use super::lf::{lf_summary, LabelingFunctions, LfSummaryRow, Vote, ABSTAIN, LF_NAMES, NEG, POS};
use super::model::{featurize, scores, Features, Model, Scores};
use super::queue::{self, Candidate, QueueOrder};
use crate::config::LearnSettings;

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

    /// Label value -> vote.
    pub fn vote_of(&self, label: i32) -> Vote {
        if label == self.settings.positive {
            POS
        } else if label == self.settings.negative {
            NEG
        } else {
            ABSTAIN
        }
    }

    /// Vote -> label value.
    pub fn label_of(&self, vote: Vote) -> i32 {
        match vote {
            POS => self.settings.positive,
            NEG => self.settings.negative,
            _ => crate::config::ABSTAIN,
        }
    }

    /// Weak labels in label values, one per item.
    pub fn slabels(&self) -> Vec<i32> {
        self.weak.iter().map(|w| self.label_of(w.label)).collect()
    }

    /// Re-estimates LF accuracies on dev hand labels and recomputes every weak label.
    pub fn refit_label_model(&mut self) {
        let dev: Vec<(&[Vote], Vote)> = self
            .items
            .iter()
            .zip(&self.hand)
            .filter(|(it, h)| it.row.split == Split::Dev && **h != crate::config::ABSTAIN)
            .map(|(it, h)| (&it.votes[..], self.vote_of(*h)))
            .collect();
        self.label_model = LabelModel::fit(LF_NAMES.len(), dev);
        self.weak = self
            .items
            .iter()
            .map(|it| self.label_model.predict(&it.votes))
            .collect();
        let votes: Vec<Vec<Vote>> = self.items.iter().map(|it| it.votes.to_vec()).collect();
        let gold: Vec<Vote> = self
            .items
            .iter()
            .zip(&self.hand)
            .map(|(it, h)| {
                if it.row.split == Split::Dev {
                    self.vote_of(*h)
                } else {
                    ABSTAIN
                }
            })
            .collect();
        self.lf_rows = lf_summary(&LF_NAMES, &votes, Some(&gold));
        self.generation += 1;
    }

    /// The LF summary: coverage, overlaps and conflicts over the whole dataset; correct,
    /// incorrect and empirical accuracy against the dev split's hand labels.
    pub fn lf_summary(&self) -> &[LfSummaryRow] {
        &self.lf_rows
    }

    /// How far the weak labels are trusted, from 0 to 1: their agreement with the dev hand
    /// labels beyond chance (Cohen's kappa, negative counted as 0), smoothed towards full
    /// trust with [`TRUST_PRIOR`] pseudo-labels. Without dev labels: 1. Weak labels that do no
    /// better than chance on dev fade out of training as dev labels arrive.
    pub fn weak_trust(&self) -> f64 {
        let (mut n, mut agree, mut pred_pos, mut gold_pos) = (0.0, 0.0, 0.0, 0.0);
        for (i, it) in self.items.iter().enumerate() {
            if it.row.split != Split::Dev || self.hand[i] == crate::config::ABSTAIN {
                continue;
            }
            let g = self.vote_of(self.hand[i]) == POS;
            let p = self.weak[i].label == POS;
            n += 1.0;
            agree += f64::from(u8::from(g == p));
            pred_pos += f64::from(u8::from(p));
            gold_pos += f64::from(u8::from(g));
        }
        if n == 0.0 {
            return 1.0;
        }
        let po = agree / n;
        let pe = (pred_pos / n) * (gold_pos / n) + (1.0 - pred_pos / n) * (1.0 - gold_pos / n);
        let kappa = if pe >= 1.0 {
            0.0
        } else {
            ((po - pe) / (1.0 - pe)).max(0.0)
        };
        (n * kappa + TRUST_PRIOR) / (n + TRUST_PRIOR)
    }

    /// What a full training uses: hand labels of the training splits (weight 1) and, for
    /// their other texts, weak labels (weight `weak_weight` x the weak label's confidence
    /// `|2p - 1|` x [`Session::weak_trust`]), scaled so the heaviest weighs 1.
    pub fn examples(&self) -> Vec<Example> {
        let ww = (self.settings.weak_weight * self.weak_trust()) as f32;
        let mut out = Vec::new();
        for (i, it) in self.items.iter().enumerate() {
            if !it.row.split.trains() {
                continue;
            }
            let h = self.vote_of(self.hand[i]);
            if h != ABSTAIN {
                out.push((i, if h == POS { 1.0 } else { 0.0 }, 1.0));
                continue;
            }
            let w = self.weak[i];
            let conf = ((2.0 * w.p - 1.0).abs()) as f32;
            if ww > 0.0 && conf > 0.0 {
                out.push((i, if w.label == POS { 1.0 } else { 0.0 }, ww * conf));
            }
        }
        // Weights are relative: the heaviest example weighs 1 (before the first hand label
        // the weak labels alone train the model at full step size).
        let max = out.iter().map(|e| e.2).fold(0.0f32, f32::max);
        if max > 0.0 && max < 1.0 {
            for e in &mut out {
                e.2 /= max;
            }
        }
        out
    }

    /// Applies a committed event: hand label, label model (dev), online model update (train).
    /// Returns true when the model should be retrained from scratch (undo of a training
    /// label, or weak labels changed).
    pub fn apply(&mut self, ev: &LabelEvent) -> bool {
        self.events.push(ev.clone());
        let Some(i) = self.index_of(ev.event.text_id) else {
            return false;
        };
        self.hand[i] = ev.event.label;
        self.skipped.remove(&i);
        let split = self.items[i].row.split;
        let mut retrain = false;
        if split == Split::Dev {
            self.refit_label_model();
            retrain = true;
        } else if split.trains() {
            // The online step answers at once; the retrain from scratch that follows makes
            // the model a function of the labels alone, so a restart gets the same one.
            if ev.event.kind == EventKind::Label {
                self.online_update(i);
            }
            retrain = true;
        }
        self.rescore();
        self.record_metrics();
        self.generation += 1;
        retrain
    }

    /// A few SGD steps on item `i`'s hand label, plus a replay of earlier hand labels.
    pub fn online_update(&mut self, i: usize) {
        let v = self.vote_of(self.hand[i]);
        if v == ABSTAIN {
            return;
        }
        let y = if v == POS { 1.0 } else { 0.0 };
        for _ in 0..ONLINE_STEPS {
            self.model.update(&self.items[i].features, y, 1.0);
        }
        let earlier: Vec<usize> = (0..self.items.len())
            .filter(|j| {
                *j != i
                    && self.items[*j].row.split.trains()
                    && self.vote_of(self.hand[*j]) != ABSTAIN
            })
            .collect();
        if earlier.is_empty() {
            return;
        }
        let mut rng = SplitMix64::new(self.events.len() as u64 ^ self.settings.seed);
        for _ in 0..REPLAY.min(earlier.len()) {
            let j = earlier[rng.below(earlier.len())];
            let y = if self.vote_of(self.hand[j]) == POS {
                1.0
            } else {
                0.0
            };
            self.model.update(&self.items[j].features, y, 1.0);
        }
    }

    /// Installs a model trained from scratch on the labels up to event `trained_seq`, then
    /// replays the training labels committed since.
    pub fn install(&mut self, model: Model, trained_events: usize) {
        self.model = model;
        let later: Vec<usize> = self.events[trained_events.min(self.events.len())..]
            .iter()
            .filter(|e| e.event.kind == EventKind::Label)
            .filter_map(|e| self.index_of(e.event.text_id))
            .filter(|i| self.items[*i].row.split.trains())
            .collect();
        for i in later {
            self.online_update(i);
        }
        self.rescore();
        let (m, w) = dev_scores(self);
        if let Some(last) = self.history.last_mut() {
            last.model = m;
            last.weak = w;
        }
        self.generation += 1;
    }

    /// Puts the saved history (from before a restart) in front of this session's points.
    pub fn restore_history(&mut self, saved: Vec<MetricsPoint>) {
        let mut h = super::history::merge(saved, &self.history);
        if h.len() > HISTORY {
            h.drain(..h.len() - HISTORY);
        }
        self.history = h;
        self.generation += 1;
    }

    /// Trains from scratch here (tests; the worker does this on a blocking thread).
    pub fn retrain(&mut self) {
        let m = fit(
            &self.items,
            &self.examples(),
            self.settings.hash_bits,
            self.settings.seed,
        );
        let n = self.events.len();
        self.install(m, n);
    }

    /// Model probability of every item.
    pub fn rescore(&mut self) {
        let model = &self.model;
        for (p, it) in self.probs.iter_mut().zip(self.items.iter()) {
            *p = model.predict(&it.features);
        }
    }

    fn record_metrics(&mut self) {
        let (model, weak) = dev_scores(self);
        let hand = self
            .hand
            .iter()
            .filter(|h| **h != crate::config::ABSTAIN)
            .count();
        if self.history.last().is_some_and(|l| l.hand == hand) {
            self.history.pop();
        }
        self.history.push(MetricsPoint { hand, model, weak });
        if self.history.len() > HISTORY {
            self.history.remove(0);
        }
    }

    /// Model and weak labeller on the hand-labelled dev texts.
    pub fn dev_scores(&self) -> (Scores, Scores) {
        dev_scores(self)
    }

    pub fn skip(&mut self, text_id: i64) {
        if let Some(i) = self.index_of(text_id) {
            self.skipped.insert(i);
            self.generation += 1;
        }
    }

    pub fn set_order(&mut self, order: QueueOrder) {
        self.order = order;
        self.generation += 1;
    }

    pub fn set_target(&mut self, target: Target) {
        self.target = target;
        self.generation += 1;
    }

    fn candidate(&self, i: usize) -> Candidate {
        let it = &self.items[i];
        let p = self.probs[i];
        let pos = it.votes.contains(&POS);
        let neg = it.votes.contains(&NEG);
        let w = self.weak[i].label;
        let disagreement = if pos && neg {
            2
        } else if (w == POS) != (p > 0.5) {
            1
        } else {
            0
        };
        Candidate {
            idx: i,
            text_id: it.row.text_id,
            p,
            created_at: it.row.created_at.unwrap_or(0),
            random: self.random[i],
            disagreement,
        }
    }

    fn open(&self, i: usize) -> bool {
        self.hand[i] == crate::config::ABSTAIN && !self.skipped.contains(&i)
    }

    /// Unlabelled, unskipped items of `splits`, as candidates.
    fn candidates(&self, splits: &[Split]) -> Vec<Candidate> {
        (0..self.items.len())
            .filter(|i| splits.contains(&self.items[*i].row.split) && self.open(*i))
            .map(|i| self.candidate(i))
            .collect()
    }

    /// The whole pool of the current target ranked (the benchmark's "re-rank").
    pub fn rank_all(&self) -> Vec<usize> {
        let splits: &[Split] = match &self.target {
            Target::Auto => &[Split::WeakTrain, Split::Train],
            Target::Only(s) => std::slice::from_ref(s),
        };
        let mut c = self.candidates(splits);
        queue::rank(&mut c, self.order);
        c.into_iter().map(|c| c.idx).collect()
    }

    /// The next `k` items to offer, in order.
    pub fn head(&self, k: usize) -> Vec<usize> {
        match self.target {
            Target::Only(s) => {
                let mut c = self.candidates(&[s]);
                queue::top_k(&mut c, self.order, k);
                c.into_iter().map(|c| c.idx).collect()
            }
            Target::Auto => {
                let mut pool = self.candidates(&[Split::WeakTrain, Split::Train]);
                queue::top_k(&mut pool, self.order, k);
                let mut dev = self.candidates(&[Split::Dev]);
                queue::top_k(&mut dev, QueueOrder::Random, k);
                let mut n = self
                    .hand
                    .iter()
                    .filter(|h| **h != crate::config::ABSTAIN)
                    .count();
                let mut d = self
                    .items
                    .iter()
                    .zip(&self.hand)
                    .filter(|(it, h)| it.row.split == Split::Dev && **h != crate::config::ABSTAIN)
                    .count();
                let share = self.settings.dev_share;
                let (mut pi, mut di) = (0, 0);
                let mut out = Vec::with_capacity(k);
                while out.len() < k && (pi < pool.len() || di < dev.len()) {
                    let want_dev =
                        di < dev.len() && ((d as f64) < share * (n + 1) as f64 || pi >= pool.len());
                    if want_dev {
                        out.push(dev[di].idx);
                        di += 1;
                        d += 1;
                    } else {
                        out.push(pool[pi].idx);
                        pi += 1;
                    }
                    n += 1;
                }
                out
            }
        }
    }

    /// Texts with a hand label now (the model's version: what it has learned from).
    pub fn hand_labels(&self) -> usize {
        self.hand
            .iter()
            .filter(|h| **h != crate::config::ABSTAIN)
            .count()
    }

    pub fn progress(&self) -> Progress {
        let mut p = Progress::default();
        let split_i = |s: Split| Split::ALL.iter().position(|x| *x == s).unwrap_or(0);
        let mut per_label: Vec<(i32, usize)> =
            self.settings.labels.iter().map(|l| (l.value, 0)).collect();
        for (it, h) in self.items.iter().zip(&self.hand) {
            let si = split_i(it.row.split);
            p.split_sizes[si] += 1;
            if *h != crate::config::ABSTAIN {
                p.per_split[si] += 1;
                if let Some(e) = per_label.iter_mut().find(|(v, _)| v == h) {
                    e.1 += 1;
                }
            }
        }
        p.per_label = per_label;
        let splits: Vec<Split> = match self.target {
            Target::Auto => vec![Split::Dev, Split::WeakTrain, Split::Train],
            Target::Only(s) => vec![s],
        };
        p.remaining = (0..self.items.len())
            .filter(|i| splits.contains(&self.items[*i].row.split) && self.open(*i))
            .count();
        p.skipped = self.skipped.len();
        p
    }

    /// The names of the LFs that voted on item `i`, with their votes.
    pub fn fired(&self, i: usize) -> Vec<(&'static str, Vote)> {
        self.items[i]
            .votes
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != ABSTAIN)
            .map(|(j, v)| (LF_NAMES[j], *v))
            .collect()
    }
}

fn dev_scores(s: &Session) -> (Scores, Scores) {
    let dev: Vec<(usize, bool)> = s
        .items
        .iter()
        .enumerate()
        .filter(|(i, it)| it.row.split == Split::Dev && s.hand[*i] != crate::config::ABSTAIN)
        .map(|(i, _)| (i, s.vote_of(s.hand[i]) == POS))
        .collect();
    let threshold = s.settings.threshold as f32;
    let model = scores(dev.iter().map(|(i, g)| (s.probs[*i] > threshold, *g)));
    let weak = scores(dev.iter().map(|(i, g)| (s.weak[*i].label == POS, *g)));
    (model, weak)
}

/// Trains a fresh model on `examples` for [`EPOCHS`] epochs in a seeded order.
pub fn fit(items: &[Item], examples: &[Example], bits: u32, seed: u64) -> Model {
    let mut model = Model::new(bits);
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut rng = SplitMix64::new(seed ^ 0xf17);
    for _ in 0..EPOCHS {
        rng.shuffle(&mut order);
        for k in &order {
            let (i, y, w) = examples[*k];
            model.update(&items[i].features, y, w);
        }
    }
    model
}
