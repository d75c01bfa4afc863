//! `[trending]`: the trending hashtags stage (input, rule, window, top N, table, snapshots).

use std::fmt;
use std::time::Duration;

use super::ident::is_valid_ident;
use super::reader::Reader;
use super::ConfigError;
use crate::tweet::hashtag_rule::HashtagRule;

/// Where the trending stage reads tweets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrendingInput {
    /// Complete bronze Parquet files (the playground's Parquet stream source).
    Lake,
    /// Its own consumer group on the tweet topic (the low-latency path).
    Bus,
}

impl TrendingInput {
    pub fn name(self) -> &'static str {
        match self {
            TrendingInput::Lake => "lake",
            TrendingInput::Bus => "bus",
        }
    }
}

impl fmt::Display for TrendingInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a first start with lake input begins (a checkpoint always wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrendingStart {
    Beginning,
    Now,
}

#[derive(Debug, Clone)]
pub struct TrendingSettings {
    pub input: TrendingInput,
    pub rule: HashtagRule,
    /// Sliding window length.
    pub window: Duration,
    /// Tags in the top lists (pane, gold snapshot order).
    pub top: usize,
    pub start: TrendingStart,
    /// Bus input: flush to the store at least this often.
    pub flush: Duration,
    /// Store table name (lower-case SQL identifier); helper tables add a suffix.
    pub table: String,
    /// Embedded store: gold snapshot period (zero = never).
    pub snapshot_every: Duration,
    pub snapshot_keep: usize,
    /// Threads counting bronze files when several are pending (0 = one per core).
    pub threads: usize,
}

/// Keys of `[trending]`.
pub const KEYS: &[&str] = &[
    "input",
    "rule",
    "window_seconds",
    "top",
    "start",
    "flush_seconds",
    "table",
    "snapshot_seconds",
    "snapshot_keep",
    "threads",
];

/// Longest table name: its helper tables add up to 10 characters (`_spellings`).
pub const MAX_TABLE_LEN: usize = 53;

pub(super) fn parse(r: &Reader) -> Result<TrendingSettings, ConfigError> {
    r.reject_unknown("trending", KEYS)?;
    let table = r.string("trending", "table", "trending_hashtags");
    if !is_valid_ident(&table) || table.len() > MAX_TABLE_LEN {
        return Err(ConfigError::invalid(
            "trending.table",
            &table,
            format!("a lower-case SQL identifier of at most {MAX_TABLE_LEN} characters ([a-z_][a-z0-9_]*)"),
        ));
    }
    let seconds = |key: &str, default: f64, min: f64, expected: &str| {
        r.parse("trending", key, default, expected, |v: f64| {
            v.is_finite() && v >= min && v <= 366.0 * 86_400.0
        })
        .map(Duration::from_secs_f64)
    };
    Ok(TrendingSettings {
        input: r.choice(
            "trending",
            "input",
            TrendingInput::Lake,
            &[("lake", TrendingInput::Lake), ("bus", TrendingInput::Bus)],
        )?,
        rule: r.choice(
            "trending",
            "rule",
            HashtagRule::Twitter,
            &[
                ("twitter", HashtagRule::Twitter),
                ("seed", HashtagRule::Seed),
            ],
        )?,
        window: seconds(
            "window_seconds",
            900.0,
            1.0,
            "a number of seconds >= 1 (e.g. 900)",
        )?,
        top: r.parse(
            "trending",
            "top",
            20,
            "a whole number from 1 to 1000",
            |v: usize| (1..=1000).contains(&v),
        )?,
        start: r.choice(
            "trending",
            "start",
            TrendingStart::Beginning,
            &[
                ("beginning", TrendingStart::Beginning),
                ("now", TrendingStart::Now),
            ],
        )?,
        flush: seconds(
            "flush_seconds",
            0.25,
            0.01,
            "a number of seconds >= 0.01 (e.g. 0.25)",
        )?,
        table,
        snapshot_every: seconds(
            "snapshot_seconds",
            60.0,
            0.0,
            "a number of seconds >= 0 (0 = no gold snapshots)",
        )?,
        snapshot_keep: r.parse(
            "trending",
            "snapshot_keep",
            5,
            "a whole number of snapshots >= 1",
            |v: usize| v >= 1,
        )?,
        threads: r.parse(
            "trending",
            "threads",
            0,
            "a whole number of threads (0 = one per core)",
            |v: usize| v <= 256,
        )?,
    })
}
