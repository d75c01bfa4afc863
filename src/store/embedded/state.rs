//! The embedded store's state file: what one JSON document holds, and how a batch changes it.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::store::trending::{TopQuery, TopRow, TrendingBatch, TrendingMeta, TrendingTop};
use crate::tweet::hashtag_rule::{display_form, NO_TAGS};

/// Format 2 replaced the set of counted bronze files (plain-Parquet lake) by the bronze table
/// version; a format-1 file is read with its file set ignored.
pub(super) const FORMAT_VERSION: u32 = 2;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct StoredTag {
    pub(super) hashtag: String,
    pub(super) count: u64,
    pub(super) window: u64,
    pub(super) spellings: BTreeMap<String, u64>,
    pub(super) updated_ms: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct TrendingState {
    pub(super) version: u32,
    pub(super) seq: u64,
    pub(super) last_batch: i64,
    pub(super) meta: Option<TrendingMeta>,
    pub(super) tweets: u64,
    pub(super) occurrences: u64,
    pub(super) updated_ms: Option<i64>,
    pub(super) tags: BTreeMap<String, StoredTag>,
    /// bucket start ms -> key -> count
    pub(super) buckets: BTreeMap<i64, BTreeMap<String, u64>>,
    /// Last bronze table version counted.
    #[serde(default)]
    pub(super) lake_version: Option<i64>,
    /// bus identity -> topic -> partition -> next offset
    pub(super) offsets: BTreeMap<String, BTreeMap<String, BTreeMap<i32, i64>>>,
}

pub(super) fn apply(s: &mut TrendingState, b: &TrendingBatch) {
    for t in &b.tags {
        let tag = s.tags.entry(t.key.clone()).or_default();
        tag.count += t.count;
        for (sp, n) in &t.spellings {
            *tag.spellings.entry(sp.clone()).or_default() += n;
        }
        if let Some(d) = display_form(tag.spellings.iter().map(|(k, v)| (k.as_str(), *v))) {
            if tag.hashtag != d {
                tag.hashtag = d.to_string();
            }
        }
        tag.updated_ms = b.now_ms;
    }
    let keep = s.buckets.split_off(&b.window_cutoff_ms);
    s.buckets = keep;
    for (bucket, k, n) in &b.buckets {
        if *bucket >= b.window_cutoff_ms {
            *s.buckets
                .entry(*bucket)
                .or_default()
                .entry(k.clone())
                .or_default() += n;
        }
    }
    for (k, v) in &b.window {
        if let Some(tag) = s.tags.get_mut(k) {
            tag.window = *v;
            tag.updated_ms = b.now_ms;
        }
    }
    if let Some(v) = b.lake_version {
        s.lake_version = Some(v);
    }
    for (topic, p, next) in &b.offsets {
        s.offsets
            .entry(b.bus.clone())
            .or_default()
            .entry(topic.clone())
            .or_default()
            .insert(*p, *next);
    }
    s.tweets += b.tweets;
    s.occurrences += b.occurrences;
    s.seq += 1;
    s.last_batch = b.id;
    s.meta = Some(b.meta.clone());
    s.updated_ms = Some(b.now_ms);
}

/// Top `n` by count, then display form (byte order).
fn top_n(rows: impl Iterator<Item = TopRow>, n: usize) -> Vec<TopRow> {
    let mut v: Vec<TopRow> = rows.filter(|r| r.count > 0).collect();
    v.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.hashtag.cmp(&b.hashtag))
    });
    v.truncate(n);
    v
}

pub(super) fn top_of(s: &TrendingState, q: &TopQuery) -> TrendingTop {
    let all_time = top_n(
        s.tags
            .iter()
            .filter(|(k, _)| k.as_str() != NO_TAGS)
            .map(|(_, t)| TopRow {
                hashtag: t.hashtag.clone(),
                count: t.count,
            }),
        q.n,
    );
    let mut window: HashMap<&str, u64> = HashMap::new();
    for (_, keys) in s.buckets.range(q.cutoff_ms()..) {
        for (k, n) in keys {
            if k != NO_TAGS {
                *window.entry(k.as_str()).or_default() += n;
            }
        }
    }
    let window = top_n(
        window.into_iter().map(|(k, count)| TopRow {
            hashtag: s
                .tags
                .get(k)
                .map_or_else(|| k.to_string(), |t| t.hashtag.clone()),
            count,
        }),
        q.n,
    );
    TrendingTop {
        all_time,
        window,
        distinct: s.tags.len() as u64 - s.tags.contains_key(NO_TAGS) as u64,
        occurrences: s.occurrences,
        tweets: s.tweets,
        seq: s.seq,
        meta: s.meta.clone(),
        updated_at_ms: s.updated_ms,
    }
}
