//! Entity counts in minute buckets, ranked into the top entities per label over a window.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use super::LabelTop;

/// Distinct entities counted per minute bucket (beyond that new ones are not counted).
const BUCKET_CAP: usize = 20_000;

/// Counts per (label, text) in one minute.
type Bucket = HashMap<(String, String), u64>;

/// Entity counts in minute buckets, for "top entities over the last N minutes".
#[derive(Debug, Default)]
pub struct EntityWindow {
    minutes: u64,
    /// (minute since the epoch, counts), oldest first.
    buckets: VecDeque<(i64, Bucket)>,
}

impl EntityWindow {
    pub fn new(window: Duration) -> Self {
        EntityWindow {
            minutes: (window.as_secs() / 60).max(1),
            buckets: VecDeque::new(),
        }
    }

    fn prune(&mut self, now_minute: i64) {
        while self
            .buckets
            .front()
            .is_some_and(|(m, _)| *m <= now_minute - self.minutes as i64)
        {
            self.buckets.pop_front();
        }
    }

    pub fn add(&mut self, now_secs: i64, label: &str, text: &str) {
        let minute = now_secs.div_euclid(60);
        if self.buckets.back().map(|(m, _)| *m) != Some(minute) {
            self.buckets.push_back((minute, HashMap::new()));
            self.prune(minute);
        }
        let Some((_, bucket)) = self.buckets.back_mut() else {
            return;
        };
        let key = (label.to_string(), text.to_string());
        if let Some(n) = bucket.get_mut(&key) {
            *n += 1;
        } else if bucket.len() < BUCKET_CAP {
            bucket.insert(key, 1);
        }
    }

    /// Labels by entity count (most first), each with its `per_label` top entities.
    pub fn top(&mut self, now_secs: i64, per_label: usize) -> Vec<LabelTop> {
        self.prune(now_secs.div_euclid(60));
        let mut by_label: HashMap<&str, HashMap<&str, u64>> = HashMap::new();
        for (_, bucket) in &self.buckets {
            for ((label, text), n) in bucket {
                *by_label
                    .entry(label.as_str())
                    .or_default()
                    .entry(text.as_str())
                    .or_default() += n;
            }
        }
        let mut out: Vec<LabelTop> = by_label
            .into_iter()
            .map(|(label, texts)| {
                let total = texts.values().sum();
                let mut entities: Vec<(String, u64)> =
                    texts.into_iter().map(|(t, n)| (t.to_string(), n)).collect();
                entities.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                entities.truncate(per_label);
                LabelTop {
                    label: label.to_string(),
                    total,
                    entities,
                }
            })
            .collect();
        out.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.label.cmp(&b.label)));
        out
    }
}
