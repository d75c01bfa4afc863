//! Helpers for the tests against a real Kafka-protocol broker. The broker's address comes
//! from `SSP_TEST_KAFKA_BOOTSTRAP` (scripts/test.sh starts one); under CI a missing broker is
//! a failure, locally the test is skipped loudly.
#![allow(dead_code)]

pub mod broker;
// The top-level test binaries include this module without the others: each carries its own
// copy of the one rule.
#[allow(clippy::duplicate_mod)]
#[path = "../services.rs"]
pub mod services;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ssp_tui::tweet::SyntheticTweets;

pub const BIN: &str = env!("CARGO_BIN_EXE_ssp-tui");

pub fn bootstrap() -> Option<String> {
    services::var_or_skip(
        "SSP_TEST_KAFKA_BOOTSTRAP",
        "scripts/test.sh starts the broker (scripts/start-kafka.sh prints one)",
    )
}

/// A topic / group name unique to this test run.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

/// Writes `n` synthetic tweets (seeded) as JSONL; returns their ids in order.
pub fn write_tweets(path: &Path, n: usize, seed: u64) -> Vec<String> {
    let mut gen = SyntheticTweets::new(seed);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut ids = Vec::new();
    let t0 = chrono::Utc::now();
    for _ in 0..n {
        let json = gen.next_json(t0);
        let t = ssp_tui::tweet::Tweet::parse(&json).unwrap();
        ids.push(t.id);
        f.write_all(&json).unwrap();
        f.write_all(b"\n").unwrap();
    }
    ids
}

/// Environment for a process (or `Settings`) of a Kafka pipeline on `topic`.
pub fn kafka_env(bootstrap: &str, topic: &str, dir: &Path) -> Vec<(String, String)> {
    [
        ("SSP__PIPELINE__BUS", "kafka".to_string()),
        ("SSP__PIPELINE__PARTITIONS", "3".to_string()),
        ("SSP__KAFKA__BOOTSTRAP_SERVERS", bootstrap.to_string()),
        ("SSP__KAFKA__TOPIC", topic.to_string()),
        // A group of its own: a broker may keep members of killed processes for a while.
        ("SSP__KAFKA__GROUP_PREFIX", topic.to_string()),
        ("SSP__LAKE__ROOT", dir.join("lake").display().to_string()),
        ("SSP__LOG__DIR", dir.join("logs").display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

pub fn spawn(args: &[&str], env: &[(String, String)], dir: &Path, log: &str) -> Child {
    let out = std::fs::File::create(dir.join(log)).unwrap();
    Command::new(BIN)
        .args(args)
        .envs(env.iter().cloned())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap()
}

/// Waits for a child, killing it (and failing) after `limit`.
pub fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            panic!("process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the headless run logging to `dir/log` has printed its first status line: it
/// then handles SIGTERM (a signal before that ends it at once, with no clean exit).
pub fn wait_started(dir: &Path, log: &str, limit: Duration) {
    let t0 = Instant::now();
    while !std::fs::read_to_string(dir.join(log))
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("bronze "))
    {
        assert!(
            t0.elapsed() < limit,
            "{log}: no status line within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn sigterm(child: &Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
}

/// Ids of the bronze table's rows (what readers see: committed rows only), read on a thread
/// with a runtime of its own (callable from sync and async tests).
pub fn bronze_ids(dir: &Path) -> Vec<String> {
    let location = ssp_tui::lake::LakeLocation::local(&dir.join("lake"));
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(ssp_tui::lake::read_bronze_rows(&location))
    })
    .join()
    .expect("reader thread")
    .unwrap_or_else(|e| panic!("reading bronze: {e}"))
    .into_iter()
    .map(|r| r.id_str)
    .collect()
}

/// Per commit of the bronze table: (rows it adds, the writer's query id), parsed from the
/// `_delta_log` JSON by hand.
pub fn bronze_commits(dir: &Path) -> Vec<(u64, Option<String>)> {
    let log = dir.join("lake/bronze/_delta_log");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&log)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    files
        .iter()
        .map(|p| {
            let mut rows = 0;
            let mut query = None;
            for line in std::fs::read_to_string(p).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                if let Some(stats) = v.pointer("/add/stats").and_then(|s| s.as_str()) {
                    let stats: serde_json::Value = serde_json::from_str(stats).unwrap();
                    rows += stats["numRecords"].as_u64().expect("numRecords");
                }
                if let Some(q) = v.pointer("/commitInfo/operationParameters/queryId") {
                    query = Some(q.as_str().map_or_else(|| q.to_string(), str::to_string));
                }
            }
            (rows, query)
        })
        .collect()
}

/// Polls until bronze holds at least `n` rows or `limit` passes; returns the last count.
pub fn wait_rows(dir: &Path, n: usize, limit: Duration) -> usize {
    let t0 = Instant::now();
    loop {
        let rows = bronze_ids(dir).len();
        if rows >= n || t0.elapsed() > limit {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

pub fn assert_exactly_once(dir: &Path, ids: &[String]) {
    let mut got = bronze_ids(dir);
    let total = got.len();
    got.sort();
    got.dedup();
    let mut want = ids.to_vec();
    want.sort();
    assert_eq!(got.len(), want.len(), "distinct tweets in bronze");
    assert_eq!(got, want, "bronze holds exactly the produced tweets");
    assert_eq!(total, ids.len(), "no tweet written twice");
}

pub fn repo_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config.ini")
}
