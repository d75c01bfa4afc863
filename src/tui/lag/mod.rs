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
mod tests {
    use super::*;
    use crate::bus::PartitionLag;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn drain_rate_is_the_slope_of_the_samples() {
        assert_eq!(drain_rate(&[]), None);
        assert_eq!(drain_rate(&[(0.0, 100)]), None);
        assert_eq!(drain_rate(&[(0.0, 100), (0.5, 50)]), None, "under a second");
        // 100 -> 0 over 4 s: draining at 25/s.
        let r = drain_rate(&[(0.0, 100), (1.0, 75), (2.0, 50), (3.0, 25), (4.0, 0)]).unwrap();
        assert!((r - 25.0).abs() < 1e-9, "{r}");
        // Growing by 10/s.
        let r = drain_rate(&[(0.0, 0), (1.0, 10), (2.0, 20)]).unwrap();
        assert!((r + 10.0).abs() < 1e-9, "{r}");
        // Batched commits (a saw tooth) still give the average rate: +30/s produced, a
        // commit of 90 every 2 s consumed: net 15/s draining.
        let saw = [(0.0, 300), (1.0, 330), (2.0, 270), (3.0, 300), (4.0, 240)];
        let r = drain_rate(&saw).unwrap();
        assert!((r - 15.0).abs() < 1e-9, "{r}");
        // Uneven sample times.
        let r = drain_rate(&[(0.0, 1000), (0.9, 910), (3.1, 690)]).unwrap();
        assert!((r - 100.0).abs() < 1e-6, "{r}");
    }

    #[test]
    fn trend_and_eta() {
        assert_eq!(trend(None, 5.0), Trend::Unknown);
        assert_eq!(trend(Some(3.0), 5.0), Trend::Draining);
        assert_eq!(trend(Some(-3.0), 5.0), Trend::Growing);
        assert_eq!(
            trend(Some(0.1), 5.0),
            Trend::Steady,
            "half a message in 5 s"
        );
        assert_eq!(
            trend(Some(-0.3), 5.0),
            Trend::Growing,
            "1.5 messages in 5 s"
        );

        assert_eq!(eta(0, None, Trend::Unknown), Eta::CaughtUp);
        assert_eq!(eta(0, Some(-5.0), Trend::Growing), Eta::CaughtUp);
        assert_eq!(eta(100, None, Trend::Unknown), Eta::Unknown);
        assert_eq!(eta(100, Some(25.0), Trend::Draining), Eta::In(secs(4.0)));
        assert_eq!(eta(100, Some(-1.0), Trend::Growing), Eta::Never);
        assert_eq!(eta(100, Some(0.01), Trend::Steady), Eta::Never);
        // Capped at 100 days.
        assert_eq!(
            eta(i64::MAX, Some(1.0), Trend::Draining),
            Eta::In(secs(100.0 * 86_400.0))
        );
    }

    #[test]
    fn formats_fit_their_columns() {
        assert_eq!(format_rate(None), "…");
        assert_eq!(format_rate(Some(0.0)), "0");
        assert_eq!(format_rate(Some(-0.01)), "0");
        assert_eq!(format_rate(Some(0.5)), "0.5");
        assert_eq!(format_rate(Some(-340.4)), "-340");
        assert_eq!(format_rate(Some(1234.0)), "1.2k");
        assert_eq!(format_rate(Some(-56_789.0)), "-57k");
        assert_eq!(format_rate(Some(2.5e6)), "2.5M");
        assert_eq!(format_eta(Eta::CaughtUp), "0s");
        assert_eq!(format_eta(Eta::Never), "never");
        assert_eq!(format_eta(Eta::Unknown), "…");
        assert_eq!(format_eta(Eta::In(secs(44.2))), "45s");
        assert_eq!(format_eta(Eta::In(secs(750.0))), "12m30s");
        assert_eq!(format_eta(Eta::In(secs(11_100.0))), "3h05m");
        assert_eq!(format_eta(Eta::In(secs(100.0 * 86_400.0))), "100d00h");
        for r in [0.0, 0.07, -9.99, 99_999.0, -999_999.0, 1e12, -1e12] {
            assert!(format_rate(Some(r)).chars().count() <= 7, "{r}");
        }
    }

    fn group(name: &str, lags: &[(i64, i64)]) -> GroupLag {
        GroupLag {
            group: name.into(),
            topic: "t".into(),
            partitions: lags
                .iter()
                .enumerate()
                .map(|(p, (hw, c))| PartitionLag {
                    partition: p as i32,
                    high_watermark: *hw,
                    committed: Some(*c),
                    member: None,
                })
                .collect(),
        }
    }

    fn snapshot(groups: Vec<GroupLag>) -> LagSnapshot {
        LagSnapshot {
            groups,
            broker: Some(BrokerHealth {
                up: true,
                brokers: vec!["b:9092".into()],
                last_error: None,
            }),
            error: None,
            bus: "kafka b:9092".into(),
        }
    }

    #[test]
    fn view_tracks_rates_per_group_and_partition_from_consecutive_snapshots() {
        let t0 = Instant::now();
        let mut v = LagView::default();
        // Partition 0 drains by 10/s, partition 1 grows by 2/s; the group drains by 8/s.
        for i in 0..5i64 {
            let g = group("g", &[(1000, 500 + 10 * i), (100 + 2 * i, 100)]);
            v.update_at(snapshot(vec![g]), t0 + secs(i as f64));
        }
        let r = v.group_rate("g").unwrap();
        assert!((r.drain_rate().unwrap() - 8.0).abs() < 1e-9);
        assert_eq!(r.lag(), Some(468));
        assert_eq!(r.trend(), Trend::Draining);
        assert_eq!(r.eta(), Eta::In(secs(468.0 / 8.0)));
        assert_eq!(v.partition_rate("g", 0).unwrap().trend(), Trend::Draining);
        assert_eq!(v.partition_rate("g", 1).unwrap().trend(), Trend::Growing);
        assert_eq!(v.partition_rate("g", 1).unwrap().eta(), Eta::Never);

        // Samples older than the window drop out: a group now steady reads as steady.
        let lag_now = group("g", &[(1000, 1000), (108, 108)]);
        for i in 0..25 {
            v.update_at(snapshot(vec![lag_now.clone()]), t0 + secs(10.0 + i as f64));
        }
        assert_eq!(v.group_rate("g").unwrap().trend(), Trend::Steady);
        assert_eq!(v.group_rate("g").unwrap().eta(), Eta::CaughtUp);

        // A broker outage keeps the samples and is reported with its error; a vanished group
        // is forgotten on the next good snapshot.
        let mut down = snapshot(Vec::new());
        down.error = Some("broker: Local: Timed out".into());
        down.broker = Some(BrokerHealth {
            up: false,
            brokers: Vec::new(),
            last_error: Some("Connect to ipv4#127.0.0.1:9 failed: Connection refused".into()),
        });
        v.update_at(down.clone(), t0 + secs(40.0));
        v.update_at(down, t0 + secs(41.0));
        assert!(v.rates.contains_key("g"));
        assert_eq!(v.down_since, Some(t0 + secs(40.0)));
        assert!(v.broker_down().unwrap().contains("Connection refused"));
        v.update_at(snapshot(vec![group("h", &[(5, 0)])]), t0 + secs(42.0));
        assert_eq!(v.broker_down(), None);
        assert_eq!(v.down_since, None);
        assert!(!v.rates.contains_key("g") && v.rates.contains_key("h"));
        assert_eq!(v.group_rate("h").unwrap().eta(), Eta::Unknown, "one sample");
    }
}
