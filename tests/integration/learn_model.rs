//! The active-learning model on a synthetic task with a known separating signal (one signal
//! word per text decides its class), labelled in the order the queue offers: it must pass
//! 0.9 dev accuracy after a few hundred labels. And the uncertainty order puts the most
//! uncertain text first.

use crate::learn_common;

use learn_common::*;
use ssp_tui::learn::dataset::Split;
use ssp_tui::learn::labels::{EventKind, LabelEvent, NewEvent};
use ssp_tui::learn::session::{Session, Target};
use ssp_tui::learn::{Keywords, LabelingFunctions, QueueOrder};

fn event(s: &Session, seq: u64, idx: usize, label: i32) -> LabelEvent {
    LabelEvent {
        seq,
        event: NewEvent {
            version: s.version,
            text_id: s.items[idx].row.text_id,
            split: s.items[idx].row.split,
            kind: EventKind::Label,
            label,
            prev_label: s.hand[idx],
            undoes: None,
            who: "oracle".into(),
            at_ms: 0,
            note: None,
            provenance: Default::default(),
        },
    }
}

fn session(n: usize, extra: &[(&str, &str)]) -> Session {
    let tmp = tempfile::tempdir().unwrap();
    let settings = settings(tmp.path(), &pairs(extra));
    let ds = synthetic_dataset(&settings, 0, n);
    Session::new(
        ds,
        Vec::new(),
        &settings.learn,
        &LabelingFunctions::new(&Keywords::builtin()),
    )
}

/// Labels `n` texts in queue order with the oracle; returns the session.
fn label_in_queue_order(s: &mut Session, n: usize) {
    for k in 0..n {
        let next = s.head(1);
        let idx = *next.first().expect("queue not empty");
        let label = if oracle(&s.items[idx].row.text) { 1 } else { 0 };
        let ev = event(s, k as u64 + 1, idx, label);
        if s.apply(&ev) && k % 25 == 24 {
            s.retrain();
        }
    }
    s.retrain();
}

#[test]
fn model_passes_90_percent_dev_accuracy_after_a_few_hundred_labels() {
    let mut s = session(
        2000,
        &[
            ("SSP__LEARN__TEST_SIZE", "200"),
            ("SSP__LEARN__DEV_SIZE", "300"),
            ("SSP__LEARN__WEAK_TRAIN_SIZE", "500"),
            ("SSP__LEARN__COLLECT_SIZE", "1000"),
        ],
    );
    assert_eq!(s.dev_scores().0.n, 0, "no dev labels yet");
    // Accuracy over the whole dev split (the oracle knows every label).
    let full_dev = |s: &Session| {
        let dev: Vec<usize> = (0..s.len())
            .filter(|i| s.items[*i].row.split == Split::Dev)
            .collect();
        let right = dev
            .iter()
            .filter(|i| (s.probs[**i] > 0.5) == oracle(&s.items[**i].row.text))
            .count();
        right as f64 / dev.len() as f64
    };
    let before = full_dev(&s);
    label_in_queue_order(&mut s, 300);
    let (model, weak) = s.dev_scores();
    let after = full_dev(&s);
    eprintln!(
        "synthetic task, 300 labels: model dev accuracy {:.3} (F1 {:.3}, n = {}) on the hand-labelled dev texts, {after:.3} on all dev texts (before: {before:.3}); weak labels {:.3}",
        model.accuracy, model.f1, model.n, weak.accuracy
    );
    assert!(
        model.n >= 50,
        "the dev share asked for dev labels: {}",
        model.n
    );
    assert!(model.accuracy > 0.9, "dev accuracy {:.3}", model.accuracy);
    assert!(after > 0.9, "accuracy on all dev texts {after:.3}");
    // Learning from hand labels, not from the LFs: no keyword fires on this task.
    assert!(s.weak.iter().all(|w| !w.voted));
    // The history the sparkline draws grew with the labels.
    assert!(s.history.len() > 100);
}

#[test]
fn uncertainty_order_offers_the_most_uncertain_first() {
    let mut s = session(600, &[]);
    label_in_queue_order(&mut s, 40);
    s.set_target(Target::Only(Split::Train));
    s.set_order(QueueOrder::Uncertainty);
    let head = s.head(10);
    assert_eq!(head.len(), 10);
    let open: Vec<usize> = (0..s.len())
        .filter(|i| s.items[*i].row.split == Split::Train && s.hand[*i] == -1)
        .collect();
    let key = |i: usize| (s.probs[i] - 0.5).abs();
    let best = open.iter().map(|i| key(*i)).fold(f32::INFINITY, f32::min);
    assert_eq!(
        key(head[0]),
        best,
        "the first offered is the most uncertain open text"
    );
    for w in head.windows(2) {
        assert!(key(w[0]) <= key(w[1]), "ordered by uncertainty");
    }
    // Labelled texts are never offered again.
    assert!(head.iter().all(|i| s.hand[*i] == -1));
    // The full re-rank agrees with the head.
    assert_eq!(s.rank_all()[..10], head[..]);

    // Other orders: newest first; random is a fixed permutation; auto mixes in dev.
    s.set_order(QueueOrder::Newest);
    let newest = s.head(5);
    let newest_ts = |i: usize| s.items[i].row.created_at.unwrap();
    assert!(newest
        .windows(2)
        .all(|w| newest_ts(w[0]) >= newest_ts(w[1])));
    s.set_order(QueueOrder::Random);
    assert_eq!(s.head(5), s.head(5));
    s.set_target(Target::Auto);
    s.set_order(QueueOrder::Uncertainty);
    let auto = s.head(20);
    let dev = auto
        .iter()
        .filter(|i| s.items[**i].row.split == Split::Dev)
        .count();
    assert!(
        (3..=6).contains(&dev),
        "about dev_share (0.2) of the queue from dev: {dev}"
    );
}

/// The model is a function of the labels: a session that learned label by label (online
/// steps, each followed by the retrain the worker runs) and a session rebuilt from the same
/// events after a restart give the same probabilities and the same dev figures.
#[test]
fn the_same_labels_give_the_same_model_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let settings = settings(
        tmp.path(),
        &pairs(&[
            ("SSP__LEARN__TEST_SIZE", "100"),
            ("SSP__LEARN__DEV_SIZE", "150"),
            ("SSP__LEARN__WEAK_TRAIN_SIZE", "250"),
            ("SSP__LEARN__COLLECT_SIZE", "500"),
        ]),
    );
    let lfs = LabelingFunctions::new(&Keywords::builtin());
    let ds = synthetic_dataset(&settings, 0, 1000);
    let mut live = Session::new(ds.clone(), Vec::new(), &settings.learn, &lfs);
    for k in 0..60 {
        let idx = live.head(1)[0];
        let label = if oracle(&live.items[idx].row.text) {
            1
        } else {
            0
        };
        let ev = event(&live, k + 1, idx, label);
        if live.apply(&ev) {
            live.retrain();
        }
    }
    let (model, _) = live.dev_scores();
    assert!(model.n > 0, "some dev labels");
    let restarted = Session::new(ds, live.events.clone(), &settings.learn, &lfs);
    assert_eq!(restarted.dev_scores(), live.dev_scores());
    assert_eq!(restarted.probs, live.probs);
    assert_eq!(restarted.head(5), live.head(5), "the same next tweets");
}
