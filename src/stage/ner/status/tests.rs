//! Tests of the entity window and the status tracker.

use super::*;
use crate::nlp::ner_client::ClientObserver;

#[test]
fn window_keeps_the_last_minutes_and_ranks() {
    let mut w = EntityWindow::new(Duration::from_secs(120));
    let t0 = 1_000_000 * 60;
    w.add(t0, "ORG", "Google");
    w.add(t0, "ORG", "Google");
    w.add(t0 + 30, "ORG", "IBM");
    w.add(t0 + 61, "DATE", "Friday");
    let top = w.top(t0 + 61, 5);
    assert_eq!(top[0].label, "ORG");
    assert_eq!(top[0].total, 3);
    assert_eq!(top[0].entities[0], ("Google".to_string(), 2));
    assert_eq!(top[1].label, "DATE");
    // Two minutes later the first minute has left the window.
    let top = w.top(t0 + 120, 5);
    assert_eq!(top.len(), 1);
    assert_eq!(top[0].label, "DATE");
    assert!(w.top(t0 + 240, 5).is_empty());
}

#[test]
fn tracker_snapshot_and_file_round_trip() {
    let t = StatusTracker::new("rules".into(), false, Duration::from_secs(600));
    let ok: Result<Vec<Entity>, String> = Ok(vec![Entity::new("Friday", "DATE", 19, 25)]);
    let bad: Result<Vec<Entity>, String> = Err("timeout".into());
    t.record([("1", "Ram read a book on Friday", &ok), ("2", "x", &bad)]);
    t.request(Duration::from_millis(10), 1, Ok(()));
    t.request(Duration::from_millis(30), 1, Ok(()));
    let s = t.snapshot();
    assert_eq!((s.tweets, s.tweet_errors, s.requests), (2, 1, 2));
    assert_eq!(s.label_counts, vec![("DATE".to_string(), 1)]);
    assert_eq!(s.latest[0].id_str, "2");
    assert_eq!(s.latest[1].entities.len(), 1);
    assert!(s.p50_ms.is_some());
    let dir = tempfile::tempdir().unwrap();
    let path = status_path(&LakeLayout::new(dir.path()));
    s.save(&path).unwrap();
    assert_eq!(NerStatus::load(&path), Some(s));
}
