//! The model in a session: training examples, applying a committed event (online step),
//! installing a model trained from scratch, rescoring, dev metrics, and `fit` itself.

use super::{Example, Item, MetricsPoint, Session, EPOCHS, HISTORY, ONLINE_STEPS, REPLAY};
use crate::learn::dataset::{Split, SplitMix64};
use crate::learn::labels::{EventKind, LabelEvent};
use crate::learn::lf::{ABSTAIN, POS};
use crate::learn::model::{scores, Model, Scores};

impl Session {
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
        let mut h = crate::learn::history::merge(saved, &self.history);
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

    pub(super) fn record_metrics(&mut self) {
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
