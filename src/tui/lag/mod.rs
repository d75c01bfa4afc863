//! The Lag pane's state: per consumer group lag on the tweet topic, a short history for the
//! sparkline, drain rates and ETAs from consecutive samples, broker health; refreshed by a
//! background collector about every second.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::bus::{BrokerHealth, GroupLag};

/// Samples kept per group (one a second: the last five minutes).
pub const HISTORY: usize = 300;

/// Rates are the trend of the samples of the last this long (commits come in batches, so a
/// single pair of samples would swing between "stalled" and "racing").
pub const RATE_WINDOW: Duration = Duration::from_secs(20);

/// What the collector publishes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LagSnapshot {
    pub groups: Vec<GroupLag>,
    pub broker: Option<BrokerHealth>,
    pub error: Option<String>,
    /// "embedded" or "kafka host:port".
    pub bus: String,
}

/// Where a lag is heading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trend {
    /// Fewer than two samples a second or more apart.
    Unknown,
    Growing,
    Draining,
    /// Moved by less than one message over the samples.
    Steady,
}

/// When a lag reaches zero at the current drain rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Eta {
    Unknown,
    CaughtUp,
    In(Duration),
    /// Not draining.
    Never,
}

/// Net messages per second by which a lag shrinks (negative: it grows): minus the
/// least-squares slope of `(seconds, lag)` samples. `None` with fewer than two samples or
/// when they span less than a second.
pub fn drain_rate(samples: &[(f64, i64)]) -> Option<f64> {
    let (first, last) = (samples.first()?, samples.last()?);
    if samples.len() < 2 || last.0 - first.0 < 1.0 {
        return None;
    }
    let n = samples.len() as f64;
    let mean_t = samples.iter().map(|s| s.0).sum::<f64>() / n;
    let mean_l = samples.iter().map(|s| s.1 as f64).sum::<f64>() / n;
    let (mut cov, mut var) = (0.0, 0.0);
    for (t, l) in samples {
        cov += (t - mean_t) * (*l as f64 - mean_l);
        var += (t - mean_t) * (t - mean_t);
    }
    (var > 0.0).then(|| -cov / var)
}

/// The trend of a drain `rate` seen over `span` seconds: steady when it moved the lag by
/// less than one message over the span.
pub fn trend(rate: Option<f64>, span: f64) -> Trend {
    match rate {
        None => Trend::Unknown,
        Some(r) if (r * span).abs() < 1.0 => Trend::Steady,
        Some(r) if r > 0.0 => Trend::Draining,
        Some(_) => Trend::Growing,
    }
}

/// Time to zero lag at a drain `rate` (messages/s).
pub fn eta(lag: i64, rate: Option<f64>, trend: Trend) -> Eta {
    if lag <= 0 {
        return Eta::CaughtUp;
    }
    match (rate, trend) {
        (None, _) | (_, Trend::Unknown) => Eta::Unknown,
        (Some(r), Trend::Draining) => Eta::In(Duration::from_secs_f64(
            (lag as f64 / r).min(100.0 * 86_400.0),
        )),
        _ => Eta::Never,
    }
}

/// Lag samples of one group or partition over the last [`RATE_WINDOW`].
#[derive(Debug, Clone, Default)]
pub struct LagRate {
    samples: VecDeque<(Instant, i64)>,
}

impl LagRate {
    pub fn push(&mut self, at: Instant, lag: i64) {
        if self.samples.back().is_some_and(|(t, _)| *t > at) {
            return; // out of order
        }
        self.samples.push_back((at, lag));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| at.duration_since(*t) > RATE_WINDOW)
        {
            self.samples.pop_front();
        }
    }

    pub fn lag(&self) -> Option<i64> {
        self.samples.back().map(|s| s.1)
    }

    fn points(&self) -> Vec<(f64, i64)> {
        let Some((t0, _)) = self.samples.front() else {
            return Vec::new();
        };
        self.samples
            .iter()
            .map(|(t, l)| (t.duration_since(*t0).as_secs_f64(), *l))
            .collect()
    }

    /// See [`drain_rate`].
    pub fn drain_rate(&self) -> Option<f64> {
        drain_rate(&self.points())
    }

    pub fn trend(&self) -> Trend {
        let points = self.points();
        let span = points.last().map_or(0.0, |p| p.0);
        trend(drain_rate(&points), span)
    }

    pub fn eta(&self) -> Eta {
        eta(self.lag().unwrap_or(0), self.drain_rate(), self.trend())
    }
}

/// A rate as the pane shows it: `1.2k`, `-340`, `0.5` (messages/s).
pub fn format_rate(rate: Option<f64>) -> String {
    let Some(r) = rate else {
        return "…".into();
    };
    let a = r.abs();
    let sign = if r < 0.0 && a >= 0.05 { "-" } else { "" };
    match a {
        a if a >= 1e9 => format!("{sign}{:.0}G", a / 1e9),
        a if a >= 1e6 => format!("{sign}{:.1}M", a / 1e6),
        a if a >= 1e4 => format!("{sign}{:.0}k", a / 1e3),
        a if a >= 1e3 => format!("{sign}{:.1}k", a / 1e3),
        a if a >= 10.0 => format!("{sign}{a:.0}"),
        a if a >= 0.05 => format!("{sign}{a:.1}"),
        _ => "0".into(),
    }
}

/// An ETA as the pane shows it: `0s`, `45s`, `12m30s`, `3h05m`, `2d04h`, `never`, `…`.
pub fn format_eta(eta: Eta) -> String {
    match eta {
        Eta::Unknown => "…".into(),
        Eta::CaughtUp => "0s".into(),
        Eta::Never => "never".into(),
        Eta::In(d) => {
            let s = d.as_secs_f64().ceil() as u64;
            match s {
                0..60 => format!("{s}s"),
                60..3600 => format!("{}m{:02}s", s / 60, s % 60),
                3600..86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
                _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
            }
        }
    }
}

#[derive(Default)]
pub struct LagView {
    pub snapshot: LagSnapshot,
    pub history: BTreeMap<String, VecDeque<u64>>,
    /// Total lag samples per group.
    pub rates: BTreeMap<String, LagRate>,
    /// Lag samples per (group, partition).
    pub partition_rates: BTreeMap<(String, i32), LagRate>,
    /// When the current broker outage was first seen.
    pub down_since: Option<Instant>,
    pub selected: usize,
    /// Per-partition detail of the selected group.
    pub detail: bool,
}

impl LagView {
    pub fn update(&mut self, snapshot: LagSnapshot) {
        self.update_at(snapshot, Instant::now());
    }

    /// As [`update`](Self::update), with the time the snapshot was taken.
    pub fn update_at(&mut self, snapshot: LagSnapshot, now: Instant) {
        for g in &snapshot.groups {
            let h = self.history.entry(g.group.clone()).or_default();
            if h.len() == HISTORY {
                h.pop_front();
            }
            h.push_back(g.total() as u64);
        }
        if snapshot.error.is_none() {
            // Groups and partitions no longer listed are forgotten; a failed refresh (no
            // groups) keeps the samples, and rates resume when the broker answers again.
            self.rates
                .retain(|g, _| snapshot.groups.iter().any(|s| &s.group == g));
            self.partition_rates.retain(|(g, p), _| {
                snapshot
                    .groups
                    .iter()
                    .any(|s| &s.group == g && s.partitions.iter().any(|x| x.partition == *p))
            });
            for g in &snapshot.groups {
                self.rates
                    .entry(g.group.clone())
                    .or_default()
                    .push(now, g.total());
                for p in &g.partitions {
                    self.partition_rates
                        .entry((g.group.clone(), p.partition))
                        .or_default()
                        .push(now, p.lag());
                }
            }
        }
        let down = snapshot.broker.as_ref().is_some_and(|b| !b.up);
        self.down_since = match (down, self.down_since) {
            (true, Some(t)) => Some(t),
            (true, None) => Some(now),
            (false, _) => None,
        };
        self.selected = self.selected.min(snapshot.groups.len().saturating_sub(1));
        self.snapshot = snapshot;
    }

    pub fn selected_group(&self) -> Option<&GroupLag> {
        self.snapshot.groups.get(self.selected)
    }

    pub fn move_selection(&mut self, delta: isize) {
        let max = self.snapshot.groups.len().saturating_sub(1) as isize;
        self.selected = (self.selected as isize + delta).clamp(0, max) as usize;
    }

    /// The cluster cannot be reached: the last error seen (the bus's, else the refresh's).
    pub fn broker_down(&self) -> Option<String> {
        let b = self.snapshot.broker.as_ref().filter(|b| !b.up)?;
        Some(
            b.last_error
                .clone()
                .or_else(|| self.snapshot.error.clone())
                .unwrap_or_else(|| "unreachable".into()),
        )
    }

    pub fn group_rate(&self, group: &str) -> Option<&LagRate> {
        self.rates.get(group)
    }

    pub fn partition_rate(&self, group: &str, partition: i32) -> Option<&LagRate> {
        self.partition_rates.get(&(group.to_string(), partition))
    }
}

#[cfg(test)]
mod tests;
