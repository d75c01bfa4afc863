//! The queue in a session: skips, order and target, which texts are offered next (with the
//! dev share), and the progress counts.

use super::{Progress, Session, Target};
use crate::learn::dataset::Split;
use crate::learn::lf::{NEG, POS};
use crate::learn::queue::{self, Candidate, QueueOrder};

impl Session {
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
}
