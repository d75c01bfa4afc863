//! The labelling queue's orders: which unlabelled text to offer next.
//!
//! - **uncertainty**: model probability closest to 0.5 first (Prodigy's `prefer_uncertain`);
//! - **random**: a fixed seeded permutation (stable between re-ranks);
//! - **newest**: the most recent tweet first;
//! - **disagreement**: labelling functions voting both ways first, then texts whose weak
//!   label disagrees with the model, each group by uncertainty.
//!
//! Ties break on the text id, so an order is a total order and re-ranking is deterministic.

use std::cmp::Ordering;

pub use crate::config::QueueOrder;

/// What the ranking needs to know about one candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Position in the session's item list.
    pub idx: usize,
    pub text_id: i64,
    /// Model probability of the positive class.
    pub p: f32,
    pub created_at: i64,
    /// Rank in the session's fixed random permutation.
    pub random: u32,
    /// 2 = LFs conflict, 1 = weak label disagrees with the model, 0 = neither.
    pub disagreement: u8,
}

/// Distance from a coin toss: 0 = most uncertain.
pub fn uncertainty_key(p: f32) -> f32 {
    (p - 0.5).abs()
}

fn cmp_f32(a: f32, b: f32) -> Ordering {
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

/// The comparison of `order` (smaller = offered first).
pub fn compare(order: QueueOrder, a: &Candidate, b: &Candidate) -> Ordering {
    let by = match order {
        QueueOrder::Uncertainty => cmp_f32(uncertainty_key(a.p), uncertainty_key(b.p)),
        QueueOrder::Random => a.random.cmp(&b.random),
        QueueOrder::Newest => b.created_at.cmp(&a.created_at),
        QueueOrder::Disagreement => b
            .disagreement
            .cmp(&a.disagreement)
            .then_with(|| cmp_f32(uncertainty_key(a.p), uncertainty_key(b.p))),
    };
    by.then_with(|| a.text_id.cmp(&b.text_id))
}

/// Sorts `cands` into `order`.
pub fn rank(cands: &mut [Candidate], order: QueueOrder) {
    cands.sort_unstable_by(|a, b| compare(order, a, b));
}

/// The first `k` of `cands` in `order` (the rest left in any order): O(n) plus `k log k`.
pub fn top_k(cands: &mut Vec<Candidate>, order: QueueOrder, k: usize) {
    if k == 0 {
        cands.clear();
        return;
    }
    if cands.len() > k {
        cands.select_nth_unstable_by(k - 1, |a, b| compare(order, a, b));
        cands.truncate(k);
    }
    rank(cands, order);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(text_id: i64, p: f32) -> Candidate {
        Candidate {
            idx: text_id as usize,
            text_id,
            p,
            created_at: text_id,
            random: (text_id * 7 % 5) as u32,
            disagreement: (text_id % 3) as u8,
        }
    }

    #[test]
    fn uncertainty_puts_the_closest_to_a_coin_toss_first() {
        let mut v = vec![c(1, 0.95), c(2, 0.45), c(3, 0.1), c(4, 0.52), c(5, 0.7)];
        rank(&mut v, QueueOrder::Uncertainty);
        assert_eq!(
            v.iter().map(|c| c.text_id).collect::<Vec<_>>(),
            [4, 2, 5, 3, 1]
        );
        let mut n = v.clone();
        rank(&mut n, QueueOrder::Newest);
        assert_eq!(n[0].text_id, 5);
        let mut d = v.clone();
        rank(&mut d, QueueOrder::Disagreement);
        assert_eq!(d[0].disagreement, 2);
    }

    #[test]
    fn top_k_matches_a_full_sort() {
        let mut all: Vec<Candidate> = (0..500)
            .map(|i| c(i, ((i * 37) % 101) as f32 / 100.0))
            .collect();
        let mut full = all.clone();
        rank(&mut full, QueueOrder::Uncertainty);
        top_k(&mut all, QueueOrder::Uncertainty, 20);
        assert_eq!(all, full[..20].to_vec());
    }
}
