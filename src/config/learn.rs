//! `[learn]`: the label set and its keys, dataset collection and splits, the active-learning
//! model and the streaming classifier (see `crate::learn`).

use std::fmt;
use std::path::PathBuf;

use super::reader::{split_list, Reader};
use super::ConfigError;

/// The seed's split sizes (test, dev, weak train) of its 20,000-text dataset.
pub const SEED_SPLITS: [usize; 3] = [1000, 500, 10_000];

/// The seed's split sizes scaled to `collect_size` texts (dev at least 1).
pub fn scaled_splits(collect_size: usize) -> [usize; 3] {
    let of = |n: usize| n * collect_size / 20_000;
    [of(1000), of(500).max(1), of(10_000)]
}

/// "Not labelled" / a labelling function that abstains (the seed's `ABSTAIN = -1`).
pub const ABSTAIN: i32 = -1;

/// One label of the label set: its name, the value stored, the key that gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelDef {
    pub name: String,
    pub value: i32,
    pub key: char,
}

/// The order in which the Label pane offers tweets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueOrder {
    /// Model probability closest to 0.5 first (Prodigy's prefer_uncertain).
    Uncertainty,
    /// A fixed seeded shuffle.
    Random,
    /// Newest tweet first.
    Newest,
    /// Labelling functions that disagree (with each other or with the model) first.
    Disagreement,
}

impl QueueOrder {
    pub const ALL: [QueueOrder; 4] = [
        QueueOrder::Uncertainty,
        QueueOrder::Random,
        QueueOrder::Newest,
        QueueOrder::Disagreement,
    ];

    pub fn name(self) -> &'static str {
        match self {
            QueueOrder::Uncertainty => "uncertainty",
            QueueOrder::Random => "random",
            QueueOrder::Newest => "newest",
            QueueOrder::Disagreement => "disagreement",
        }
    }

    /// The next order in [`QueueOrder::ALL`] (the `o` key).
    pub fn next(self) -> QueueOrder {
        let i = Self::ALL.iter().position(|o| *o == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }
}

impl fmt::Display for QueueOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Where a first start of `collect` / `classify` begins in bronze.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LearnStart {
    Beginning,
    Now,
}

#[derive(Debug, Clone)]
pub struct LearnSettings {
    /// Exactly two labels: the positive one (predicted by the classifier) and the other.
    pub labels: Vec<LabelDef>,
    /// Value of the positive label (`positive = AI` -> 1).
    pub positive: i32,
    /// Value of the other label.
    pub negative: i32,
    /// Stored with every label event; empty = `$USER`.
    pub labeller: String,
    /// `collect`: unique texts per dataset version.
    pub collect_size: usize,
    pub collect_from: LearnStart,
    pub test_size: usize,
    pub dev_size: usize,
    pub weak_train_size: usize,
    /// Shuffle seed of the split (the seed used 42).
    pub seed: u64,
    /// Keyword groups of the labelling functions; `None` = the built-in copy of `assets/keywords`.
    pub keywords_dir: Option<PathBuf>,
    pub order: QueueOrder,
    /// Share of hand labels asked from the dev split (random order) until it is all labelled.
    pub dev_share: f64,
    /// Training weight of a weak label relative to a hand label.
    pub weak_weight: f64,
    /// The model hashes word n-grams into 2^hash_bits weights.
    pub hash_bits: u32,
    /// `classify`: probability above which a tweet is predicted positive.
    pub threshold: f64,
    pub classify_from: LearnStart,
}

impl LearnSettings {
    pub fn label_name(&self, value: i32) -> &str {
        self.labels
            .iter()
            .find(|l| l.value == value)
            .map_or("-", |l| l.name.as_str())
    }

    pub fn positive_name(&self) -> &str {
        self.label_name(self.positive)
    }

    /// The label given by key `c`, if any.
    pub fn label_for_key(&self, c: char) -> Option<i32> {
        self.labels.iter().find(|l| l.key == c).map(|l| l.value)
    }

    /// Who labels: `labeller`, else `$USER`, else `ssp`.
    pub fn who(&self) -> String {
        if !self.labeller.is_empty() {
            return self.labeller.clone();
        }
        std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "ssp".to_string())
    }
}

pub(super) const KEYS: &[&str] = &[
    "labels",
    "keys",
    "positive",
    "labeller",
    "collect_size",
    "collect_from",
    "test_size",
    "dev_size",
    "weak_train_size",
    "seed",
    "keywords_dir",
    "order",
    "dev_share",
    "weak_weight",
    "hash_bits",
    "threshold",
    "classify_from",
];

fn parse_labels(r: &Reader) -> Result<Vec<LabelDef>, ConfigError> {
    let raw = r.string("learn", "labels", "AI=1, OTHER=0");
    let expected = "two NAME=value pairs with distinct whole values >= 0, e.g. AI=1, OTHER=0";
    let mut labels = Vec::new();
    for pair in split_list(&raw) {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(ConfigError::invalid("learn.labels", &raw, expected));
        };
        let name = name.trim();
        let value: i32 = value
            .trim()
            .parse()
            .map_err(|_| ConfigError::invalid("learn.labels", &raw, expected))?;
        if name.is_empty()
            || value < 0
            || labels
                .iter()
                .any(|l: &LabelDef| l.value == value || l.name.eq_ignore_ascii_case(name))
        {
            return Err(ConfigError::invalid("learn.labels", &raw, expected));
        }
        labels.push(LabelDef {
            name: name.to_string(),
            value,
            key: '\0',
        });
    }
    if labels.len() != 2 {
        return Err(ConfigError::invalid("learn.labels", &raw, expected));
    }
    let raw_keys = r.string("learn", "keys", "1, 0");
    let keys = split_list(&raw_keys);
    let expected_keys = format!(
        "one single-character key per label ({}), distinct (and free in the Label pane: \
         the key map checks that when the screen starts)",
        labels.len()
    );
    if keys.len() != labels.len() {
        return Err(ConfigError::invalid("learn.keys", &raw_keys, expected_keys));
    }
    for (label, key) in labels.iter_mut().zip(&keys) {
        let mut chars = key.chars();
        let (Some(c), None) = (chars.next(), chars.next()) else {
            return Err(ConfigError::invalid("learn.keys", &raw_keys, expected_keys));
        };
        label.key = c;
    }
    if labels[0].key == labels[1].key {
        return Err(ConfigError::invalid("learn.keys", &raw_keys, expected_keys));
    }
    Ok(labels)
}

fn start(r: &Reader, key: &str, default: LearnStart) -> Result<LearnStart, ConfigError> {
    r.choice(
        "learn",
        key,
        default,
        &[
            ("beginning", LearnStart::Beginning),
            ("now", LearnStart::Now),
        ],
    )
}

pub(super) fn parse(r: &Reader) -> Result<LearnSettings, ConfigError> {
    r.reject_unknown("learn", KEYS)?;
    let labels = parse_labels(r)?;
    let positive_name = r.string("learn", "positive", &labels[0].name);
    let Some(positive) = labels
        .iter()
        .find(|l| l.name.eq_ignore_ascii_case(&positive_name))
        .map(|l| l.value)
    else {
        return Err(ConfigError::invalid(
            "learn.positive",
            &positive_name,
            format!(
                "the name of one of the labels ({})",
                labels
                    .iter()
                    .map(|l| l.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" | ")
            ),
        ));
    };
    let negative = labels
        .iter()
        .find(|l| l.value != positive)
        .map_or(0, |l| l.value);
    let size = |key: &str, default: usize, min: usize| {
        r.parse(
            "learn",
            key,
            default,
            &format!("a whole number >= {min}"),
            |v: usize| v >= min && v <= 100_000_000,
        )
    };
    let mut test_size = size("test_size", 1000, 0)?;
    let mut dev_size = size("dev_size", 500, 1)?;
    let mut weak_train_size = size("weak_train_size", 10_000, 0)?;
    let collect_size = size("collect_size", 20_000, 1)?;
    if collect_size < SEED_SPLITS.iter().sum::<usize>()
        && [test_size, dev_size, weak_train_size] == SEED_SPLITS
    {
        // A smaller dataset with the seed's split sizes untouched: keep the seed's ratios
        // (of its 20,000 texts: test 5 %, dev 2.5 %, weak train 50 %, train the rest).
        [test_size, dev_size, weak_train_size] = scaled_splits(collect_size);
    }
    let fixed = test_size + dev_size + weak_train_size;
    if collect_size < fixed {
        return Err(ConfigError::invalid(
            "learn.collect_size",
            &collect_size.to_string(),
            format!(
                "a whole number >= test_size + dev_size + weak_train_size ({fixed}); the train split gets the rest"
            ),
        ));
    }
    let keywords_dir = r
        .raw("learn", "keywords_dir")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    if let Some(p) = &keywords_dir {
        if !p.is_dir() {
            return Err(ConfigError::invalid(
                "learn.keywords_dir",
                &p.display().to_string(),
                "an existing folder of <group>.txt keyword files (see assets/keywords)",
            ));
        }
    }
    let order_choices: Vec<(&str, QueueOrder)> =
        QueueOrder::ALL.iter().map(|o| (o.name(), *o)).collect();
    Ok(LearnSettings {
        positive,
        negative,
        labels,
        labeller: r.string("learn", "labeller", ""),
        collect_size,
        collect_from: start(r, "collect_from", LearnStart::Beginning)?,
        test_size,
        dev_size,
        weak_train_size,
        seed: r.parse("learn", "seed", 42, "a whole number", |_| true)?,
        keywords_dir,
        order: r.choice("learn", "order", QueueOrder::Uncertainty, &order_choices)?,
        dev_share: r.parse(
            "learn",
            "dev_share",
            0.2,
            "a number from 0 to 1",
            |v: f64| (0.0..=1.0).contains(&v),
        )?,
        weak_weight: r.parse(
            "learn",
            "weak_weight",
            0.1,
            "a number from 0 to 1",
            |v: f64| (0.0..=1.0).contains(&v),
        )?,
        hash_bits: r.parse(
            "learn",
            "hash_bits",
            18,
            "a whole number from 10 to 24",
            |v: u32| (10..=24).contains(&v),
        )?,
        threshold: r.parse(
            "learn",
            "threshold",
            0.5,
            "a number between 0 and 1",
            |v: f64| v > 0.0 && v < 1.0,
        )?,
        classify_from: start(r, "classify_from", LearnStart::Now)?,
    })
}
