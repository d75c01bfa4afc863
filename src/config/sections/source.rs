//! `[source]`: where tweets come from and how fast they are replayed.

use std::path::PathBuf;

use crate::config::reader::Reader;
use crate::config::{x_api, ConfigError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Synthetic,
    Replay,
    /// The X API v2 filtered stream (see `source::x_api`).
    XApi,
}

/// `[source] speed`: `10x`, `2`, `0.5x`; empty or `off`: pace by `rate`.
fn parse_speed(raw: Option<&str>) -> Result<Option<f64>, ConfigError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty() && *r != "off") else {
        return Ok(None);
    };
    let n = raw.strip_suffix(['x', 'X']).unwrap_or(raw).trim();
    match n.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(Some(v)),
        _ => Err(ConfigError::invalid(
            "source.speed",
            raw,
            "a replay speed such as 1x, 10x or 0.5x (or off: pace by rate)",
        )),
    }
}

#[derive(Debug, Clone)]
pub struct SourceSettings {
    pub kind: SourceKind,
    pub path: Option<PathBuf>,
    /// Tweets per second; 0 = as fast as possible.
    pub rate: u64,
    /// Replay: the original timing (`created_at`) sped up this many times, instead of `rate`.
    pub speed: Option<f64>,
    pub looping: bool,
    /// Stop after this many tweets; 0 = no limit.
    pub limit: u64,
    pub seed: u64,
    /// `kind = x_api`: base URL, token (never shown), rules, stall timeout.
    pub x_api: x_api::XApiSettings,
}

pub(super) fn parse_source(r: &Reader) -> Result<SourceSettings, ConfigError> {
    let kind = r.choice(
        "source",
        "kind",
        SourceKind::Synthetic,
        &[
            ("synthetic", SourceKind::Synthetic),
            ("replay", SourceKind::Replay),
            ("x_api", SourceKind::XApi),
        ],
    )?;
    let path = r
        .raw("source", "path")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    if kind == SourceKind::Replay {
        match &path {
            None => {
                return Err(ConfigError::invalid(
                    "source.path",
                    "",
                    "a JSONL file or a folder of .json tweets (source.kind = replay)",
                ))
            }
            Some(p) if !p.exists() => {
                return Err(ConfigError::invalid(
                    "source.path",
                    &p.display().to_string(),
                    "an existing JSONL file or folder of .json tweets",
                ))
            }
            Some(_) => {}
        }
    }
    Ok(SourceSettings {
        kind,
        path,
        rate: r.parse(
            "source",
            "rate",
            100,
            "a whole number of tweets per second (0 = as fast as possible)",
            |_| true,
        )?,
        speed: parse_speed(r.raw("source", "speed"))?,
        looping: r.bool("source", "loop", false)?,
        limit: r.parse(
            "source",
            "limit",
            0,
            "a whole number of tweets (0 = no limit)",
            |_| true,
        )?,
        seed: r.parse("source", "seed", 42, "a whole number", |_| true)?,
        x_api: x_api::parse(r)?,
    })
}
