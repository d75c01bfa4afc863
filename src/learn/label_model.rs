//! Combines the labelling functions' votes into one weak label (`slabel`): an
//! accuracy-weighted vote.
//!
//! Each LF's accuracy is estimated on the hand-labelled dev split, smoothed towards a prior
//! (`PRIOR_ACCURACY` with `PRIOR_WEIGHT` pseudo-votes), so it starts as a plain majority vote
//! and learns which LFs to trust as dev labels arrive. A vote adds the LF's log-odds
//! `ln(acc / (1 - acc))` for its label; the class prior (also from dev, smoothed) is the
//! starting point; `p = sigmoid(sum)`.
//!
//! A text no LF votes on is its own case: the seed's LFs are built so that an AI tweet hits
//! an AI keyword, so "no vote" is evidence too. Its probability is the share of positives
//! among dev texts without a vote, smoothed towards `NO_VOTE_PRIOR`. As in the seed (Snorkel,
//! `probability > 0.5 -> 1`), every text gets `slabel` 1 or 0.

use super::lf::{Vote, ABSTAIN, NEG, POS};

/// What an LF is assumed to get right before dev labels say otherwise.
pub const PRIOR_ACCURACY: f64 = 0.75;
/// How many dev votes the prior is worth.
pub const PRIOR_WEIGHT: f64 = 4.0;
/// Log-odds weights are clipped to this (an LF right on every dev point is not infallible).
pub const MAX_WEIGHT: f64 = 4.0;
/// Probability of the positive label for a text no LF votes on, before dev labels say.
pub const NO_VOTE_PRIOR: f64 = 0.25;

#[derive(Debug, Clone, PartialEq)]
pub struct LabelModel {
    /// Log-odds weight per LF.
    pub weights: Vec<f64>,
    /// Smoothed accuracy per LF.
    pub accuracies: Vec<f64>,
    /// Log-odds of the positive class on dev (breaks ties between votes).
    pub prior: f64,
    /// Probability of the positive class when no LF votes.
    pub no_vote: f64,
}

/// A weak label: probability of the positive class, the label (`POS` or `NEG`) and whether
/// any LF voted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weak {
    pub p: f64,
    pub label: Vote,
    pub voted: bool,
}

impl LabelModel {
    /// Without dev labels: every LF at the prior accuracy, even classes.
    pub fn uniform(n_lfs: usize) -> LabelModel {
        let w = logit(PRIOR_ACCURACY);
        LabelModel {
            weights: vec![w; n_lfs],
            accuracies: vec![PRIOR_ACCURACY; n_lfs],
            prior: 0.0,
            no_vote: NO_VOTE_PRIOR,
        }
    }

    /// Fits accuracies and the class prior on hand-labelled points: `(votes, gold)` pairs,
    /// gold in vote terms (`POS` / `NEG`).
    pub fn fit<'a>(
        n_lfs: usize,
        labelled: impl IntoIterator<Item = (&'a [Vote], Vote)>,
    ) -> LabelModel {
        let mut correct = vec![0.0; n_lfs];
        let mut seen = vec![0.0; n_lfs];
        let (mut pos, mut n) = (0.0, 0.0);
        let (mut none_pos, mut none_n) = (0.0, 0.0);
        for (votes, gold) in labelled {
            if gold == ABSTAIN {
                continue;
            }
            n += 1.0;
            if gold == POS {
                pos += 1.0;
            }
            if votes.iter().take(n_lfs).all(|v| *v == ABSTAIN) {
                none_n += 1.0;
                if gold == POS {
                    none_pos += 1.0;
                }
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
            no_vote: (none_pos + PRIOR_WEIGHT * NO_VOTE_PRIOR) / (none_n + PRIOR_WEIGHT),
        }
    }

    /// The weak label of one point.
    pub fn predict(&self, votes: &[Vote]) -> Weak {
        let mut score = 0.0;
        let mut any = false;
        for (v, w) in votes.iter().zip(&self.weights) {
            match *v {
                POS => score += w,
                NEG => score -= w,
                _ => continue,
            }
            any = true;
        }
        let p = match (any, score == 0.0) {
            (false, _) => self.no_vote,
            (true, true) => sigmoid(self.prior),
            (true, false) => sigmoid(score),
        };
        Weak {
            p,
            label: if p > 0.5 { POS } else { NEG },
            voted: any,
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
    fn majority_without_dev_labels_and_no_vote_leans_negative() {
        let m = LabelModel::uniform(3);
        assert_eq!(m.predict(&[POS, ABSTAIN, ABSTAIN]).label, POS);
        assert_eq!(m.predict(&[POS, NEG, NEG]).label, NEG);
        let w = m.predict(&[ABSTAIN, ABSTAIN, ABSTAIN]);
        assert_eq!((w.label, w.voted), (NEG, false));
        assert!((w.p - NO_VOTE_PRIOR).abs() < 1e-9);
        // Dev texts without a vote that are all positive move it.
        let rows: Vec<(Vec<Vote>, Vote)> = (0..20).map(|_| (vec![ABSTAIN; 3], POS)).collect();
        let m = LabelModel::fit(3, rows.iter().map(|(v, g)| (v.as_slice(), *g)));
        assert_eq!(m.predict(&[ABSTAIN; 3]).label, POS);
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
