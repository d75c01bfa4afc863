//! Rendering tests of the Lag pane: groups, partitions, broker down, tiny panes.

use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::*;
use crate::bus::{BrokerHealth, GroupLag, PartitionLag};
use crate::tui::lag::LagSnapshot;

fn group(name: &str, lags: &[(i64, i64)]) -> GroupLag {
    GroupLag {
        group: name.into(),
        topic: "twitter_data".into(),
        partitions: lags
            .iter()
            .enumerate()
            .map(|(p, (hw, c))| PartitionLag {
                partition: p as i32,
                high_watermark: *hw,
                committed: Some(*c),
                member: Some(format!("ssp-tui@/10.0.0.{p}")),
            })
            .collect(),
    }
}

fn up() -> Option<BrokerHealth> {
    Some(BrokerHealth {
        up: true,
        brokers: vec!["localhost:9092".into()],
        last_error: None,
    })
}

/// A view after five snapshots a second apart: ssp-bronze drains (partition 0 by 100/s,
/// partition 1 grows by 10/s), ssp-trending is caught up.
fn view() -> LagView {
    let t0 = Instant::now();
    let mut v = LagView::default();
    for i in 0..5 {
        v.update_at(
            LagSnapshot {
                groups: vec![
                    group(
                        "ssp-bronze",
                        &[(50_000, 20_000 + 100 * i), (9_000 + 10 * i, 9_000)],
                    ),
                    group("ssp-trending", &[(50_000, 50_000), (9_000, 9_000)]),
                ],
                broker: up(),
                error: None,
                bus: "kafka localhost:9092".into(),
            },
            t0 + Duration::from_secs(i as u64),
        );
    }
    v
}

/// The pane drawn zoomed on a `w`x`h` terminal (below the header, above the footer).
fn render(v: &LagView, w: u16, h: u16) -> Vec<String> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw_view(f, Rect::new(0, 1, w, h - 2), v, true))
        .unwrap();
    let buf = t.backend().buffer().clone();
    (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect())
        .collect()
}

fn has(lines: &[String], s: &str) -> bool {
    lines.iter().any(|l| l.contains(s))
}

#[test]
fn groups_with_drain_rate_and_eta_fit_80_and_60_columns() {
    let v = view();
    for (w, h) in [(80, 24), (60, 15)] {
        let lines = render(&v, w, h);
        let all = lines.join("\n");
        for want in [
            "group",
            "drain/s",
            "eta",
            "ssp-bronze",
            "ssp-trending",
            "broker up",
        ] {
            assert!(has(&lines, want), "{want} at {w}x{h}:\n{all}");
        }
        // ssp-bronze: lag 29,600 + 40, draining by 90/s: 329 s.
        let row = lines.iter().find(|l| l.contains("ssp-bronze")).unwrap();
        assert!(row.contains("29640"), "{row}");
        assert!(row.contains(" 90 "), "{row}");
        assert!(row.contains("5m30s"), "{row}");
        let row = lines.iter().find(|l| l.contains("ssp-trending")).unwrap();
        assert!(row.contains(" 0s"), "{row}");
    }
}

#[test]
fn partitions_show_growing_and_draining() {
    let mut v = view();
    v.detail = true;
    for (w, h) in [(80, 24), (60, 15)] {
        let lines = render(&v, w, h);
        let all = lines.join("\n");
        let p0 = lines.iter().find(|l| l.contains("29600")).expect(&all);
        assert!(p0.contains("draining") && p0.contains("20400"), "{all}");
        let p1 = lines.iter().find(|l| l.contains("  40 ")).expect(&all);
        assert!(p1.contains("growing"), "{all}");
        // The member gets what is left: all of it on 80 columns.
        let member = if w >= 80 {
            "ssp-tui@/10.0.0.1"
        } else {
            "ssp-tui@"
        };
        assert!(has(&lines, member), "{all}");
    }
    // Narrow: offsets drop out, lag and trend stay.
    let lines = render(&v, 40, 12);
    let all = lines.join("\n");
    assert!(has(&lines, "draining") && has(&lines, "growing"), "{all}");
    assert!(!has(&lines, "committed"), "{all}");
}

#[test]
fn unreachable_cluster_says_broker_down_with_the_last_error() {
    let mut v = view();
    v.update(LagSnapshot {
        groups: Vec::new(),
        broker: Some(BrokerHealth {
            up: false,
            brokers: Vec::new(),
            last_error: Some(
                "localhost:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed: \
                 Connection refused"
                    .into(),
            ),
        }),
        error: Some("broker: Meta data fetch error: OperationTimedOut".into()),
        bus: "kafka localhost:9092".into(),
    });
    for (w, h) in [(80, 24), (60, 15)] {
        let lines = render(&v, w, h);
        let all = lines.join("\n");
        assert!(has(&lines, "broker DOWN"), "{all}");
        assert!(all.contains("Connection"), "{all}");
        assert!(!all.contains("no consumer group"), "{all}");
    }
}

#[test]
fn no_group_yet_and_tiny_panes_do_not_panic() {
    let mut v = LagView::default();
    v.update(LagSnapshot {
        broker: up(),
        bus: "kafka localhost:9092".into(),
        ..Default::default()
    });
    assert!(has(
        &render(&v, 60, 15),
        "no consumer group on the topic yet"
    ));
    let v = view();
    for (w, h) in [(20, 5), (30, 6), (40, 10), (200, 60)] {
        render(&v, w, h);
    }
}
