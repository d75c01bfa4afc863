//! Helpers shared by the `learn_*` tests: settings on a private temporary lake, a fresh
//! PostgreSQL schema per test (from `SSP_TEST_PG_URL`), synthetic datasets with a known
//! separating signal, and driving the Label pane's worker like the event loop does.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ssp_tui::config::Settings;
use ssp_tui::learn::dataset::{self, Dataset, RawTweet, SplitSpec};
use ssp_tui::learn::labels::LabelStore;
use ssp_tui::learn::worker::{LabelLink, WorkerState};
use ssp_tui::tui::app::App;

pub fn repo_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config.ini")
}

/// Settings from the repository config with the lake and logs under `tmp`, small splits
/// (test 40, dev 60, weak-train 100, collect 400) and `extra` overrides.
pub fn settings(tmp: &Path, extra: &[(String, String)]) -> Settings {
    let mut env: Vec<(String, String)> = vec![
        (
            "SSP__LAKE__ROOT".into(),
            tmp.join("lake").display().to_string(),
        ),
        (
            "SSP__LOG__DIR".into(),
            tmp.join("logs").display().to_string(),
        ),
        ("SSP__PIPELINE__BUS".into(), "embedded".into()),
        ("SSP__PIPELINE__STORE".into(), "embedded".into()),
        ("SSP__SOURCE__KIND".into(), "synthetic".into()),
        ("SSP__LEARN__TEST_SIZE".into(), "40".into()),
        ("SSP__LEARN__DEV_SIZE".into(), "60".into()),
        ("SSP__LEARN__WEAK_TRAIN_SIZE".into(), "100".into()),
        ("SSP__LEARN__COLLECT_SIZE".into(), "400".into()),
        ("SSP__LEARN__HASH_BITS".into(), "16".into()),
        ("SSP__LEARN__LABELLER".into(), "tester".into()),
    ];
    for (k, v) in extra {
        env.retain(|(key, _)| key != k);
        env.push((k.clone(), v.clone()));
    }
    Settings::load_with_env(Some(&repo_config()), &env).expect("test settings load")
}

pub fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Overrides pointing the store at the test PostgreSQL server with a fresh schema, or `None`
/// (skipped loudly) when `SSP_TEST_PG_URL` is unset; under CI (`CI=true`) that is a failure.
pub fn pg_extra(test: &str) -> Option<Vec<(String, String)>> {
    let url = crate::common::services::var_or_skip(
        "SSP_TEST_PG_URL",
        &format!(
            "{test}: scripts/test.sh starts PostgreSQL (scripts/start-postgres.sh prints one)"
        ),
    )?;
    let schema = format!(
        "learn_{}_{}_{:06x}",
        test.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(20)
            .collect::<String>()
            .to_lowercase(),
        std::process::id(),
        rand::random::<u32>() & 0xff_ffff
    );
    Some(vec![
        ("SSP__PIPELINE__STORE".into(), "postgres".into()),
        ("SSP__POSTGRESQL__URL".into(), url),
        ("SSP__POSTGRESQL__SCHEMA".into(), schema),
    ])
}

/// Words that carry no class signal.
pub const FILLER: &[&str] = &[
    "today", "really", "think", "about", "this", "week", "people", "great", "time", "new", "love",
    "just", "some", "more", "world", "good", "work", "life", "going", "best",
];
/// Signal words of the positive class (no LF keyword among them).
pub const POSITIVE: &[&str] = &["quasar", "zephyr", "lumen", "vortex", "tachyon"];
/// Signal words of the negative class.
pub const NEGATIVE: &[&str] = &["pizza", "football", "guitar", "garden", "pasta"];

/// Ground truth of a synthetic text: does it carry a positive signal word?
pub fn oracle(text: &str) -> bool {
    text.split_whitespace().any(|w| POSITIVE.contains(&w))
}

/// `n` synthetic tweets, about half positive, each text unique.
pub fn synthetic_raw(n: usize, seed: u64) -> Vec<RawTweet> {
    let mut rng = dataset::SplitMix64::new(seed);
    (0..n)
        .map(|i| {
            let pos = rng.below(2) == 0;
            let mut words: Vec<String> = (0..6)
                .map(|_| FILLER[rng.below(FILLER.len())].to_string())
                .collect();
            let signal = if pos { POSITIVE } else { NEGATIVE };
            words.insert(
                rng.below(words.len() + 1),
                signal[rng.below(signal.len())].to_string(),
            );
            words.push(format!("n{i}"));
            RawTweet {
                tweet_id: format!("{}", 1_000_000 + i),
                created_at: Some(1_700_000_000_000 + i as i64 * 1000),
                author: Some(format!("user{}", i % 17)),
                text: words.join(" "),
            }
        })
        .collect()
}

/// A dataset version built from [`synthetic_raw`] with the settings' split sizes.
pub fn synthetic_dataset(settings: &Settings, version: u32, n: usize) -> Dataset {
    dataset::build(
        version,
        synthetic_raw(n, 7 + version as u64),
        SplitSpec::from_settings(&settings.learn),
    )
    .expect("synthetic dataset builds")
}

/// Creates version `version` in the configured store.
pub async fn create_dataset(
    settings: &Settings,
    store: &Arc<dyn LabelStore>,
    version: u32,
    n: usize,
) -> Dataset {
    let ds = synthetic_dataset(settings, version, n);
    let lfs = ssp_tui::learn::LabelingFunctions::new(&ssp_tui::learn::Keywords::builtin());
    let slabels = ssp_tui::learn::initial_slabels(&ds, &settings.learn, &lfs);
    store
        .create_version(&ds, &slabels)
        .await
        .expect("create dataset version");
    ds
}

pub fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

pub fn code(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

/// Applies the latest snapshot to the app, if it changed.
pub fn apply_snapshot(app: &mut App, link: &mut LabelLink) -> bool {
    if link.snapshot.has_changed().unwrap_or(false) {
        let s = link.snapshot.borrow_and_update().clone();
        app.label_snapshot(s);
        return true;
    }
    false
}

/// Waits until the worker is ready with a tweet on screen.
pub async fn wait_ready(app: &mut App, link: &mut LabelLink, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        apply_snapshot(app, link);
        if app.label.snapshot.state == WorkerState::Ready && app.label.current.is_some() {
            return;
        }
        if let WorkerState::Failed(e) = &app.label.snapshot.state {
            panic!("labelling worker failed: {e}");
        }
        assert!(
            Instant::now() < deadline,
            "worker not ready: {:?}",
            app.label.snapshot.state
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits for the worker's next reply and hands it to the app (as the event loop does).
pub async fn pump_reply(
    app: &mut App,
    link: &mut LabelLink,
    timeout: Duration,
) -> ssp_tui::learn::worker::LabelReply {
    let r = tokio::time::timeout(timeout, link.replies.recv())
        .await
        .expect("a reply from the labelling worker in time")
        .expect("worker alive");
    app.label_reply(r.clone());
    r
}

/// Waits until the worker published a snapshot newer than the app's, applies it.
pub async fn pump_snapshot(app: &mut App, link: &mut LabelLink, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    // Newer than what the app shows (the worker may have published already).
    let before = app.label.snapshot.generation;
    loop {
        if link.snapshot.borrow().generation != before {
            apply_snapshot(app, link);
            return;
        }
        if Instant::now() >= deadline {
            apply_snapshot(app, link);
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Lets the worker finish what it is doing and applies its last snapshot.
pub async fn settle(app: &mut App, link: &mut LabelLink) {
    tokio::time::sleep(Duration::from_millis(50)).await;
    apply_snapshot(app, link);
}
