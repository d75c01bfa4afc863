//! Datasets: tweets collected from bronze, de-duplicated on text, shuffled with a seed and
//! split into test / dev / weak-train / train, the seed's way.
//!
//! Versions live under `<lake>/datasets/v<N>/` (N from 0), written into a hidden temporary
//! folder and renamed into place, so a version is complete or absent and a new version never
//! overwrites an old one (the rename refuses an existing folder). Each holds the seed's
//! tables as Delta tables: `raw_tweet_dataset`, `deduplicated_raw_tweet_dataset` (every unique
//! text with its split), `test_dataset`, `dev_dataset`, `snorkel_train_dataset`,
//! `train_dataset`, plus `manifest.json`. A version is written once, by one process, so each
//! table has a single data commit; the folder rename is what makes the version atomic.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

mod files;

pub use files::*;

/// The four splits, in the order they are filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    Test,
    Dev,
    /// The seed's "snorkel train": weak labels only.
    WeakTrain,
    Train,
}

impl Split {
    pub const ALL: [Split; 4] = [Split::Test, Split::Dev, Split::WeakTrain, Split::Train];

    /// Table / file stem without the version: `test_dataset`, ... (the seed's names).
    pub fn table(self) -> &'static str {
        match self {
            Split::Test => "test_dataset",
            Split::Dev => "dev_dataset",
            Split::WeakTrain => "snorkel_train_dataset",
            Split::Train => "train_dataset",
        }
    }

    /// Short name: `test`, `dev`, `weak_train`, `train`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Test => "test",
            Split::Dev => "dev",
            Split::WeakTrain => "weak_train",
            Split::Train => "train",
        }
    }

    pub fn parse(s: &str) -> Option<Split> {
        Split::ALL.into_iter().find(|x| x.name() == s)
    }

    /// Splits whose hand labels train the model (dev and test only evaluate).
    pub fn trains(self) -> bool {
        matches!(self, Split::WeakTrain | Split::Train)
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A tweet as collected from bronze.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTweet {
    pub tweet_id: String,
    pub created_at: Option<i64>,
    pub author: Option<String>,
    pub text: String,
}

/// One unique text of a dataset version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetRow {
    /// 1-based, in order of first appearance in the raw dataset.
    pub text_id: i64,
    pub tweet_id: String,
    pub created_at: Option<i64>,
    pub author: Option<String>,
    pub text: String,
    pub split: Split,
}

/// Split sizes and shuffle seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitSpec {
    pub test: usize,
    pub dev: usize,
    pub weak_train: usize,
    pub seed: u64,
}

impl SplitSpec {
    pub fn from_settings(s: &crate::config::LearnSettings) -> SplitSpec {
        SplitSpec {
            test: s.test_size,
            dev: s.dev_size,
            weak_train: s.weak_train_size,
            seed: s.seed,
        }
    }

    pub fn fixed(&self) -> usize {
        self.test + self.dev + self.weak_train
    }
}

/// A complete dataset version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    pub version: u32,
    pub spec: SplitSpec,
    pub raw: Vec<RawTweet>,
    /// Unique texts in text_id order.
    pub rows: Vec<DatasetRow>,
    /// Where the texts came from: the bronze table versions read (`bronze v3..v40`).
    pub source: Option<String>,
}

impl Dataset {
    pub fn count(&self, split: Split) -> usize {
        self.rows.iter().filter(|r| r.split == split).count()
    }

    pub fn split_rows(&self, split: Split) -> impl Iterator<Item = &DatasetRow> {
        self.rows.iter().filter(move |r| r.split == split)
    }
}

/// SplitMix64: a tiny, stable PRNG (the split must not change with a dependency's version).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// Errors building a version.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DatasetError {
    #[error("only {unique} unique texts: the splits need at least {needed} (test {test} + dev {dev} + weak-train {weak_train})")]
    TooFew {
        unique: usize,
        needed: usize,
        test: usize,
        dev: usize,
        weak_train: usize,
    },
}

/// De-duplicates on the stripped text (first appearance wins, empty texts dropped), numbers
/// the unique texts from 1, shuffles them with the seed and fills test, dev, weak-train in
/// that order; the rest is train. Split sizes are exact.
pub fn build(version: u32, raw: Vec<RawTweet>, spec: SplitSpec) -> Result<Dataset, DatasetError> {
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    for t in &raw {
        let text = t.text.trim();
        if text.is_empty() || !seen.insert(text.to_string()) {
            continue;
        }
        rows.push(DatasetRow {
            text_id: rows.len() as i64 + 1,
            tweet_id: t.tweet_id.clone(),
            created_at: t.created_at,
            author: t.author.clone(),
            text: text.to_string(),
            split: Split::Train,
        });
    }
    if rows.len() < spec.fixed() {
        return Err(DatasetError::TooFew {
            unique: rows.len(),
            needed: spec.fixed(),
            test: spec.test,
            dev: spec.dev,
            weak_train: spec.weak_train,
        });
    }
    let mut order: Vec<usize> = (0..rows.len()).collect();
    SplitMix64::new(spec.seed).shuffle(&mut order);
    for (pos, i) in order.into_iter().enumerate() {
        rows[i].split = if pos < spec.test {
            Split::Test
        } else if pos < spec.test + spec.dev {
            Split::Dev
        } else if pos < spec.fixed() {
            Split::WeakTrain
        } else {
            Split::Train
        };
    }
    Ok(Dataset {
        version,
        spec,
        raw,
        rows,
        source: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(n: usize) -> Vec<RawTweet> {
        (0..n)
            .map(|i| RawTweet {
                tweet_id: i.to_string(),
                created_at: Some(i as i64),
                author: None,
                text: format!(" text {} ", i % (n - 3)),
            })
            .collect()
    }

    #[test]
    fn dedupes_numbers_and_splits_exactly() {
        let spec = SplitSpec {
            test: 5,
            dev: 3,
            weak_train: 7,
            seed: 42,
        };
        let ds = build(0, raw(30), spec).unwrap();
        assert_eq!(ds.rows.len(), 27);
        assert_eq!(ds.rows[0].text, "text 0");
        assert_eq!(ds.rows.last().unwrap().text_id, 27);
        assert_eq!(
            (
                ds.count(Split::Test),
                ds.count(Split::Dev),
                ds.count(Split::WeakTrain),
                ds.count(Split::Train)
            ),
            (5, 3, 7, 12)
        );
        // Same seed, same split; another seed, another split.
        assert_eq!(build(0, raw(30), spec).unwrap(), ds);
        let other = build(0, raw(30), SplitSpec { seed: 7, ..spec }).unwrap();
        assert_ne!(other.rows, ds.rows);
        assert!(matches!(
            build(0, raw(10), spec),
            Err(DatasetError::TooFew {
                unique: 7,
                needed: 15,
                ..
            })
        ));
    }

    #[test]
    fn shuffle_is_stable() {
        let mut v: Vec<u32> = (0..10).collect();
        SplitMix64::new(42).shuffle(&mut v);
        let mut w: Vec<u32> = (0..10).collect();
        SplitMix64::new(42).shuffle(&mut w);
        assert_eq!(v, w);
        assert_ne!(v, (0..10).collect::<Vec<_>>());
    }
}
