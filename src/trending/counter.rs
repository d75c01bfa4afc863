//! The hot path: counting hashtag occurrences by case-insensitive key, with per-spelling
//! counts (for the display form) and per-bucket counts (for the sliding window).

use super::rule::{tag_key, HashtagRule, NO_TAGS};
use rustc_hash::FxHashMap;

/// Counts of one key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub count: u64,
    /// Spellings as produced by the rule, with their counts (usually one or two).
    pub spellings: Vec<(Box<str>, u64)>,
    /// (bucket start in epoch ms, count), for occurrences recent enough to matter for the window.
    pub buckets: Vec<(i64, u64)>,
}

#[inline]
fn add_bucket(buckets: &mut Vec<(i64, u64)>, b: i64, n: u64) {
    // Input arrives in time order, so the last bucket is nearly always the one.
    if let Some((last, c)) = buckets.last_mut() {
        if *last == b {
            *c += n;
            return;
        }
    }
    match buckets.iter_mut().find(|(x, _)| *x == b) {
        Some((_, c)) => *c += n,
        None => buckets.push((b, n)),
    }
}

/// See [`Counter::slot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    entry: u32,
    spelling: u32,
    occurrence: bool,
}

/// Occurrence counts of a set of tweets: a delta to add to the store.
///
/// The hot path looks a spelling up as it is (one hash of the bytes, no lower-casing, no
/// allocation); only a spelling seen for the first time is lower-cased to find its key.
#[derive(Debug, Clone)]
pub struct Counter {
    rule: HashtagRule,
    bucket_ms: i64,
    /// Occurrences before this bucket start count all-time only (too old for any window).
    min_bucket: i64,
    /// key -> index in `entries`
    keys: FxHashMap<Box<str>, u32>,
    entries: Vec<(Box<str>, Entry)>,
    /// spelling -> (index in `entries`, index in its `spellings`)
    spellings: FxHashMap<Box<str>, (u32, u32)>,
    /// Tweets seen.
    pub tweets: u64,
    /// Tag occurrences counted (without the seed rule's `no tags`).
    pub occurrences: u64,
    /// When the counted tweets entered the bus (sampled), for the end-to-end latency.
    pub sent: crate::latency::SentTimes,
}

impl Counter {
    /// `bucket_ms` is the window's bucket width; occurrences older than `min_bucket_ms` (epoch
    /// ms) are counted all-time only.
    pub fn new(rule: HashtagRule, bucket_ms: i64, min_bucket_ms: i64) -> Counter {
        Counter {
            rule,
            bucket_ms: bucket_ms.max(1),
            min_bucket: min_bucket_ms,
            keys: FxHashMap::default(),
            entries: Vec::new(),
            spellings: FxHashMap::default(),
            tweets: 0,
            occurrences: 0,
            sent: Default::default(),
        }
    }

    /// An empty counter with the same settings.
    pub fn empty_like(&self) -> Counter {
        Counter::new(self.rule, self.bucket_ms, self.min_bucket)
    }

    pub fn rule(&self) -> HashtagRule {
        self.rule
    }

    pub fn bucket_ms(&self) -> i64 {
        self.bucket_ms
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.tweets == 0
    }

    /// Distinct keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The bucket an event time falls in, or `None` when too old for the window.
    #[inline]
    pub fn bucket_of(&self, at_ms: Option<i64>) -> Option<i64> {
        let at = at_ms?;
        let b = at.div_euclid(self.bucket_ms) * self.bucket_ms;
        (b >= self.min_bucket).then_some(b)
    }

    /// One tweet: its hashtag list (Twitter rule) or text (seed rule), and its event time.
    #[inline]
    pub fn add_tweet<'a, I>(&mut self, hashtags: I, text: &'a str, at_ms: Option<i64>)
    where
        I: IntoIterator<Item = &'a str>,
    {
        let bucket = self.bucket_of(at_ms);
        self.tweets += 1;
        let rule = self.rule;
        rule.for_each_tag(hashtags, text, |tag| self.add_in_bucket(tag, 1, bucket));
    }

    /// Starts a tweet seen at `at_ms` whose tags are then added with [`Counter::add_slot`];
    /// returns its window bucket.
    #[inline]
    pub fn start_tweet(&mut self, at_ms: Option<i64>) -> Option<i64> {
        self.tweets += 1;
        self.bucket_of(at_ms)
    }

    /// A handle to one spelling, for callers that meet the same spellings again and again
    /// (dictionary-encoded columns): registered with a zero count until added.
    pub fn slot(&mut self, spelling: &str) -> Slot {
        let (entry, spelling_at) = match self.spellings.get(spelling) {
            Some(&at) => at,
            None => self.new_spelling(spelling),
        };
        Slot {
            entry,
            spelling: spelling_at,
            occurrence: self.rule != HashtagRule::Seed || spelling != NO_TAGS,
        }
    }

    /// One occurrence of a slot's spelling in `bucket`.
    #[inline]
    pub fn add_slot(&mut self, slot: Slot, bucket: Option<i64>) {
        self.occurrences += slot.occurrence as u64;
        let e = &mut self.entries[slot.entry as usize].1;
        e.count += 1;
        e.spellings[slot.spelling as usize].1 += 1;
        if let Some(b) = bucket {
            add_bucket(&mut e.buckets, b, 1);
        }
    }

    /// `n` occurrences of one spelling in a given bucket.
    #[inline]
    pub fn add_in_bucket(&mut self, spelling: &str, n: u64, bucket: Option<i64>) {
        if self.rule != HashtagRule::Seed || spelling != NO_TAGS {
            self.occurrences += n;
        }
        let (ei, si) = match self.spellings.get(spelling) {
            Some(&at) => at,
            None => self.new_spelling(spelling),
        };
        let e = &mut self.entries[ei as usize].1;
        e.count += n;
        e.spellings[si as usize].1 += n;
        if let Some(b) = bucket {
            add_bucket(&mut e.buckets, b, n);
        }
    }

    /// Registers a spelling (and its key, if new) with a zero count.
    #[cold]
    fn new_spelling(&mut self, spelling: &str) -> (u32, u32) {
        let key = tag_key(spelling);
        let ei = match self.keys.get(&*key) {
            Some(&i) => i,
            None => {
                let i = self.entries.len() as u32;
                let key: Box<str> = key.into_owned().into_boxed_str();
                self.keys.insert(key.clone(), i);
                self.entries.push((key, Entry::default()));
                i
            }
        };
        let e = &mut self.entries[ei as usize].1;
        let si = e.spellings.len() as u32;
        e.spellings.push((spelling.into(), 0));
        self.spellings.insert(spelling.into(), (ei, si));
        (ei, si)
    }

    /// Adds everything `other` counted.
    pub fn merge(&mut self, other: Counter) {
        self.tweets += other.tweets;
        self.occurrences += other.occurrences;
        self.sent.merge(other.sent);
        for (key, e) in other.entries {
            for (spelling, n) in e.spellings {
                let (ei, si) = match self.spellings.get(&*spelling) {
                    Some(&at) => at,
                    None => self.new_spelling(&spelling),
                };
                let mine = &mut self.entries[ei as usize].1;
                mine.count += n;
                mine.spellings[si as usize].1 += n;
            }
            // Every entry has a spelling, so its key exists here now.
            if let Some(&ei) = self.keys.get(&key) {
                let mine = &mut self.entries[ei as usize].1;
                for (b, n) in e.buckets {
                    add_bucket(&mut mine.buckets, b, n);
                }
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(k, e)| (&**k, e))
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.keys.get(key).map(|i| &self.entries[*i as usize].1)
    }

    /// Every key with its count (tests, benchmarks).
    pub fn counts(&self) -> std::collections::BTreeMap<String, u64> {
        self.iter().map(|(k, e)| (k.to_string(), e.count)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_keys_spellings_and_buckets() {
        let mut c = Counter::new(HashtagRule::Twitter, 1000, 5000);
        c.add_tweet(["AI", "Rust"], "", Some(5_500));
        c.add_tweet(["ai"], "", Some(6_100));
        c.add_tweet(["AI"], "", Some(1_000)); // too old for the window
        c.add_tweet(std::iter::empty(), "", None);
        assert_eq!(c.tweets, 4);
        assert_eq!(c.occurrences, 4);
        let ai = c.get("ai").unwrap();
        assert_eq!(ai.count, 3);
        let want: Vec<(Box<str>, u64)> = vec![("AI".into(), 2), ("ai".into(), 1)];
        assert_eq!(ai.spellings, want);
        assert_eq!(ai.buckets, vec![(5000, 1), (6000, 1)]);

        let mut d = c.empty_like();
        d.add_tweet(["Ai", "go"], "", Some(6_900));
        c.merge(d);
        let ai = c.get("ai").unwrap();
        assert_eq!(ai.count, 4);
        assert_eq!(ai.buckets, vec![(5000, 1), (6000, 2)]);
        assert_eq!(c.len(), 3);
        assert_eq!(c.tweets, 5);
    }

    #[test]
    fn seed_rule_counts_no_tags_apart() {
        let mut c = Counter::new(HashtagRule::Seed, 1000, 0);
        c.add_tweet(std::iter::empty(), "plain", Some(0));
        c.add_tweet(std::iter::empty(), "a #B #b", Some(0));
        assert_eq!(c.get(NO_TAGS).unwrap().count, 1);
        assert_eq!(c.get("#b").unwrap().count, 2);
        assert_eq!(c.occurrences, 2);
    }
}
