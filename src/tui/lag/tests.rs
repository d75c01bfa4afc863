//! Tests of the Lag pane's state: drain rates, trends, ETAs, their formats, per-group and
//! per-partition rates across snapshots.

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
