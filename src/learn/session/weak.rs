//! Weak labels in a session: label values and LF votes, the label model refitted on dev hand
//! labels, the LF summary, and how far the weak labels are trusted.

use super::{Session, TRUST_PRIOR};
use crate::learn::dataset::Split;
use crate::learn::label_model::LabelModel;
use crate::learn::lf::{lf_summary, LfSummaryRow, Vote, ABSTAIN, LF_NAMES, NEG, POS};

impl Session {
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
