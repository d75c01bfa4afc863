//! Benchmarks of the labelling loop (figures printed; run in release for real numbers):
//!
//! * key press -> next tweet shown: `App::handle_key('1')`, the worker commits to the store,
//!   the reply moves the pane on, the screen is drawn (TestBackend): target < 20 ms with the
//!   embedded store;
//! * re-ranking a 10k-text queue after a model update (online SGD step, re-score every text,
//!   rank the pool): target < 50 ms.
//!
//! `cargo test --release --test learn_bench -- --nocapture`. In release builds the targets are
//! asserted; debug builds only print.

use crate::learn_common;

use std::time::{Duration, Instant};

use learn_common::*;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use ssp_tui::learn::labels::{self, EventKind, LabelEvent, NewEvent};
use ssp_tui::learn::session::Session;
use ssp_tui::learn::worker::{self, LabelReply};
use ssp_tui::learn::{Keywords, LabelingFunctions};
use ssp_tui::tui::action::PaneId;
use ssp_tui::tui::app::App;

fn stats(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (
        ms(v[v.len() / 2]),
        ms(v[v.len() * 95 / 100]),
        ms(*v.last().unwrap()),
    )
}

async fn key_to_next(extra: Vec<(String, String)>, what: &str) -> (f64, f64, f64) {
    let tmp = tempfile::tempdir().unwrap();
    let mut env = pairs(&[
        ("SSP__LEARN__TEST_SIZE", "1000"),
        ("SSP__LEARN__DEV_SIZE", "500"),
        ("SSP__LEARN__WEAK_TRAIN_SIZE", "10000"),
        ("SSP__LEARN__COLLECT_SIZE", "20000"),
        ("SSP__LEARN__HASH_BITS", "18"),
    ]);
    env.extend(extra);
    let s = settings(tmp.path(), &env);
    let store = labels::open(&s).unwrap();
    create_dataset(&s, &store, 0, 20_000).await;
    let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
    let mut app = App::new(sup);
    let mut link = worker::spawn_for(&s);
    app.label.connect(link.commands.clone());
    app.focus = PaneId::Label;
    wait_ready(&mut app, &mut link, Duration::from_secs(120)).await;
    let mut term = Terminal::new(TestBackend::new(160, 48)).unwrap();
    let mut times = Vec::new();
    let mut commits = Vec::new();
    for i in 0..120 {
        apply_snapshot(&mut app, &mut link);
        let before = app.label.current.as_ref().unwrap().text_id;
        let t0 = Instant::now();
        app.handle_key(key(if i % 2 == 0 { '1' } else { '0' }));
        let reply = link.replies.recv().await.unwrap();
        if let LabelReply::Committed { commit, .. } = &reply {
            commits.push(*commit);
        }
        app.label_reply(reply);
        term.draw(|f| ssp_tui::tui::ui::draw(f, &mut app)).unwrap();
        let dt = t0.elapsed();
        assert_ne!(
            app.label.current.as_ref().unwrap().text_id,
            before,
            "moved on"
        );
        if i >= 20 {
            times.push(dt);
        }
        // A person needs far longer than this between two keys; the worker re-ranks meanwhile.
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let (p50, p95, max) = stats(times);
    let (c50, c95, _) = stats(commits);
    eprintln!(
        "BENCH key -> next tweet shown ({what}, 20k-text dataset, 100 labels): p50 {p50:.2} ms, p95 {p95:.2} ms, max {max:.2} ms (of which store commit p50 {c50:.2} ms, p95 {c95:.2} ms)"
    );
    (p50, p95, max)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_key_to_next_tweet_embedded() {
    let (p50, p95, _) = key_to_next(Vec::new(), "embedded store, fsync per label").await;
    if !cfg!(debug_assertions) {
        assert!(
            p50 < 20.0 && p95 < 20.0,
            "key -> next p50 {p50:.2} ms p95 {p95:.2} ms"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_key_to_next_tweet_postgres() {
    let Some(extra) = pg_extra("bench_key_to_next_tweet_postgres") else {
        return;
    };
    key_to_next(extra, "PostgreSQL, one transaction per label").await;
}

#[test]
fn bench_rerank_10k_queue() {
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(
        tmp.path(),
        &pairs(&[
            ("SSP__LEARN__TEST_SIZE", "100"),
            ("SSP__LEARN__DEV_SIZE", "100"),
            ("SSP__LEARN__WEAK_TRAIN_SIZE", "0"),
            ("SSP__LEARN__COLLECT_SIZE", "10200"),
            ("SSP__LEARN__HASH_BITS", "18"),
        ]),
    );
    let ds = synthetic_dataset(&s, 0, 10_200);
    let t0 = Instant::now();
    let mut session = Session::new(
        ds,
        Vec::new(),
        &s.learn,
        &LabelingFunctions::new(&Keywords::builtin()),
    );
    let build = t0.elapsed();
    assert_eq!(session.rank_all().len(), 10_000, "a 10k pool");
    let mut update = Vec::new();
    let mut rerank = Vec::new();
    let mut head = Vec::new();
    for k in 0..40u64 {
        let idx = session.head(1)[0];
        let label = if oracle(&session.items[idx].row.text) {
            1
        } else {
            0
        };
        let ev = LabelEvent {
            seq: k + 1,
            event: NewEvent {
                version: 0,
                text_id: session.items[idx].row.text_id,
                split: session.items[idx].row.split,
                kind: EventKind::Label,
                label,
                prev_label: -1,
                undoes: None,
                who: "bench".into(),
                at_ms: 0,
                note: None,
                provenance: Default::default(),
            },
        };
        // What the worker does after a commit: apply = online SGD + re-score all + metrics.
        let t = Instant::now();
        session.apply(&ev);
        update.push(t.elapsed());
        // Then rank: the whole 10k pool, and the head the pane gets.
        let t = Instant::now();
        let ranked = session.rank_all();
        rerank.push(t.elapsed());
        assert_eq!(
            ranked.len(),
            10_000 - (k as usize + 1) + session.progress().per_split[1]
        );
        let t = Instant::now();
        let _ = session.head(worker::HEAD);
        head.push(t.elapsed());
    }
    let (u50, u95, _) = stats(update.clone());
    let (r50, r95, _) = stats(rerank.clone());
    let (h50, h95, _) = stats(head.clone());
    let total: Vec<Duration> = update.iter().zip(&rerank).map(|(a, b)| *a + *b).collect();
    let (t50, t95, tmax) = stats(total);
    eprintln!(
        "BENCH re-rank a 10k queue after a model update: online update + re-score 10.2k p50 {u50:.2} ms (p95 {u95:.2}); full rank of 10k p50 {r50:.2} ms (p95 {r95:.2}); together p50 {t50:.2} ms, p95 {t95:.2} ms, max {tmax:.2} ms; queue head (top {}) p50 {h50:.2} ms (p95 {h95:.2}); session build + first training {:.0} ms",
        worker::HEAD,
        build.as_secs_f64() * 1000.0
    );
    if !cfg!(debug_assertions) {
        assert!(t95 < 50.0, "re-rank p95 {t95:.2} ms");
    }
}
