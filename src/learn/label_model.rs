//! Combines the labelling functions' votes into one weak label (`slabel`): an
//! accuracy-weighted vote.
//!
//! Each LF's accuracy is estimated on the hand-labelled dev split, smoothed towards a prior
//! (`PRIOR_ACCURACY` with `PRIOR_WEIGHT` pseudo-votes), so it starts as a plain majority vote
//! and learns which LFs to trust as dev labels arrive. A vote adds the LF's log-odds
//! `ln(acc / (1 - acc))` for its label; the class prior (also from dev, smoothed) is the
//! starting point; `p = sigmoid(sum)`. `slabel` is `1` when `p > 0.5`, `0` otherwise, and
//! abstain (`-1`) when no LF voted.

use super::lf::{Vote, ABSTAIN, NEG, POS};

/// What an LF is assumed to get right before dev labels say otherwise.
pub const PRIOR_ACCURACY: f64 = 0.75;
/// How many dev votes the prior is worth.
pub const PRIOR_WEIGHT: f64 = 4.0;
/// Log-odds weights are clipped to this (an LF right on every dev point is not infallible).
pub const MAX_WEIGHT: f64 = 4.0;

#[derive(Debug, Clone, PartialEq)]
pub struct LabelModel {
    /// Log-odds weight per LF.
    pub weights: Vec<f64>,
    /// Smoothed accuracy per LF.
    pub accuracies: Vec<f64>,
    /// Log-odds of the positive class before any vote.
    pub prior: f64,
}

/// A weak label: probability of the positive class and the label (`POS`, `NEG`, `ABSTAIN`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weak {
    pub p: f64,
    pub label: Vote,
}

impl LabelModel {
    /// Without dev labels: every LF at the prior accuracy, even classes.
    pub fn uniform(n_lfs: usize) -> LabelModel {
        let w = logit(PRIOR_ACCURACY);
        LabelModel {
            weights: vec![w; n_lfs],
            accuracies: vec![PRIOR_ACCURACY; n_lfs],
            prior: 0.0,
        }
    }

    /// Fits accuracies and the class prior on hand-labelled points: `(votes, gold)` pairs,
    /// gold in vote terms (`POS` / `NEG`).
    pub fn fit<'a>(n_lfs: usize, labelled: impl IntoIterator<Item = (&'a [Vote], Vote)>) -> LabelModel {
        let mut correct = vec![0.0; n_lfs];
        let mut seen = vec![0.0; n_lfs];
        let (mut pos, mut n) = (0.0, 0.0);
        for (votes, gold) in labelled {
            if gold == ABSTAIN {
                continue;
            }
            n += 1.0;
            if gold == POS {
                pos += 1.0;
            }
            for (j, v) in votes.iter().enumerate().take(n_lfs) {
                if *v != ABSTAIN {
                    seen[j] += 1.0;
                    if *v == gold {
                        correct[j] += 1.0;
                    }
                }
            }
        }
        let accuracies: Vec<f64> = (0..n_lfs)
            .map(|j| (correct[j] + PRIOR_WEIGHT * PRIOR_ACCURACY) / (seen[j] + PRIOR_WEIGHT))
            .collect();
        LabelModel {
            weights: accuracies
                .iter()
                .map(|a| logit(*a).clamp(-MAX_WEIGHT, MAX_WEIGHT))
                .collect(),
            accuracies,
            prior: logit((pos + 1.0) / (n + 2.0)),
        }
    }

    /// The weak label of one point.
    pub fn predict(&self, votes: &[Vote]) -> Weak {
        let mut score = self.prior;
        let mut any = false;
        for (v, w) in votes.iter().zip(&self.weights) {
            match *v {
                POS => score += w,
                NEG => score -= w,
                _ => continue,
            }
            any = true;
        }
        let p = sigmoid(score);
        Weak {
            p,
            label: if !any {
                ABSTAIN
            } else if p > 0.5 {
                POS
            } else {
                NEG
            },
        }
    }
}

pub fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_without_dev_labels_and_abstain_without_votes() {
        let m = LabelModel::uniform(3);
        assert_eq!(m.predict(&[POS, ABSTAIN, ABSTAIN]).label, POS);
        assert_eq!(m.predict(&[POS, NEG, NEG]).label, NEG);
        let w = m.predict(&[ABSTAIN, ABSTAIN, ABSTAIN]);
        assert_eq!(w.label, ABSTAIN);
        assert!((w.p - 0.5).abs() < 1e-9);
    }

    #[test]
    fn learns_to_trust_the_accurate_lf() {
        // LF0 says POS and is always right; LF1 says NEG on the same points and is always wrong.
        let rows: Vec<(Vec<Vote>, Vote)> = (0..40).map(|_| (vec![POS, NEG], POS)).collect();
        let m = LabelModel::fit(2, rows.iter().map(|(v, g)| (v.as_slice(), *g)));
        assert!(m.accuracies[0] > 0.95 && m.accuracies[1] < 0.1, "{m:?}");
        assert_eq!(m.predict(&[POS, NEG]).label, POS);
        // An LF below 0.5 votes the other way: LF1 alone now means POS.
        assert_eq!(m.predict(&[ABSTAIN, NEG]).label, POS);
    }
}
