//! The bronze table on object storage: a replay into `s3://$SSP_TEST_S3_BUCKET/<prefix>` (an
//! S3-compatible test server at `SSP_TEST_S3_ENDPOINT`, started by scripts/test.sh), SIGKILLed
//! mid-stream and run again, holds every tweet exactly once. Skipped loudly without a server
//! unless `SSP_REQUIRE_SERVICES=1` (or CI), where a missing server is a failure.

use crate::common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use rand::{Rng, SeedableRng};
use ssp_tui::lake::LakeLocation;

const BASE: u64 = 1_290_000_000_000_000_000;
const RUN: &[&str] = &["run", "source", "bronze", "--every", "1"];

/// (endpoint, bucket) of the test server, or `None` (skip) when not configured.
fn server() -> Option<(String, String)> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (var("SSP_TEST_S3_ENDPOINT"), var("SSP_TEST_S3_BUCKET")) {
        (Some(e), Some(b)) => Some((e, b)),
        _ => {
            crate::common::services::missing(
                "the S3 server (SSP_TEST_S3_ENDPOINT / SSP_TEST_S3_BUCKET)",
                "scripts/test.sh starts one (scripts/start-s3.sh)",
            );
            None
        }
    }
}

/// The version of the bronze table at `location` (`None`: no table yet).
fn table_version(rt: &tokio::runtime::Runtime, location: &LakeLocation) -> Option<u64> {
    rt.block_on(ssp_tui::lake::table::open(location, "bronze"))
        .unwrap_or_else(|e| panic!("opening bronze on {}: {e}", location.display()))
        .and_then(|t| t.version())
}

#[test]
fn replay_into_an_s3_lake_killed_and_rerun_holds_each_tweet_once() {
    let Some((endpoint, bucket)) = server() else {
        return;
    };
    // This test binary has this one test: the reader in this process uses the same settings.
    let aws = [
        ("AWS_ENDPOINT_URL", endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
    ];
    for (k, v) in &aws {
        std::env::set_var(k, v);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let root = format!("s3://{bucket}/ssp-test-{}-{nanos}", std::process::id());
    let location = LakeLocation::parse(&root).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let n = 8000u64;
    let jsonl = dir.path().join("tweets.jsonl");
    write_jsonl(&jsonl, (0..n).map(|i| small_tweet(BASE + i)));
    let all: BTreeSet<String> = (0..n).map(|i| (BASE + i).to_string()).collect();
    let local = dir.path().join("local");
    let cwd = dir.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let mut env: Vec<(&str, String)> = vec![
        ("SSP__SOURCE__KIND", "replay".to_string()),
        ("SSP__SOURCE__PATH", jsonl.display().to_string()),
        ("SSP__SOURCE__RATE", "2000".to_string()),
        ("SSP__LAKE__ROOT", root.clone()),
        ("SSP__LAKE__LOCAL_DIR", local.display().to_string()),
        ("SSP__LAKE__ROLL_SECONDS", "0.5".to_string()),
        (
            "SSP__LOG__DIR",
            dir.path().join("logs").display().to_string(),
        ),
    ];
    env.extend(aws.iter().cloned());
    eprintln!("lake at {root} (endpoint {endpoint})");

    // Run 1: killed a random moment after its first commit with rows.
    let seed = std::env::var("SSP_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(nanos as u64);
    eprintln!("seed {seed} (repeat with SSP_TEST_SEED={seed})");
    let extra = Duration::from_millis(rand::rngs::StdRng::seed_from_u64(seed).gen_range(0..1500));
    let mut child = common::spawn(&cwd, &env, RUN);
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let run = finish(child, Duration::from_secs(5));
            panic!("run 1 ended by itself ({status:?}) before its kill:\n{run}");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no bronze commit on {root} after 60 s"
        );
        if table_version(&rt, &location).is_some_and(|v| v >= 1) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(extra);
    child.kill().unwrap(); // SIGKILL
    assert_eq!(child.wait().unwrap().code(), None, "killed by a signal");
    let run1 = finish(child, Duration::from_secs(5));
    let rows = bronze_rows_at(&location);
    let counts = id_counts(rows.iter().map(|r| r.id_str.as_str()));
    eprintln!(
        "killed {extra:?} after the first commit: {} rows at version {:?}",
        rows.len(),
        table_version(&rt, &location)
    );
    assert!(!rows.is_empty(), "{run1}");
    assert_eq!(
        counts.len(),
        rows.len(),
        "a tweet written twice before the kill"
    );
    assert!(counts.keys().all(|id| all.contains(id)));
    assert!(rows.len() < n as usize, "the kill came too late");

    // Run 2: resumes from the table on S3 and completes.
    env.retain(|(k, _)| *k != "SSP__SOURCE__RATE");
    env.push(("SSP__SOURCE__RATE", "0".to_string()));
    let run2 = run_bin(&cwd, &env, RUN, Duration::from_secs(120));
    assert_eq!(run2.code(), Some(0), "{run2}");
    let rows = bronze_rows_at(&location);
    let counts = id_counts(rows.iter().map(|r| r.id_str.as_str()));
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).take(5).collect();
    assert!(twice.is_empty(), "written twice, e.g. {twice:?}");
    let got: BTreeSet<String> = counts.keys().cloned().collect();
    let lost: Vec<_> = all.difference(&got).take(5).collect();
    assert!(lost.is_empty(), "lost, e.g. {lost:?}");
    assert_eq!(rows.len(), n as usize);

    // The tables live on S3 only: nothing of them in the local folder or the working one.
    let local_tables: Vec<_> = walk(&local)
        .into_iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e == "parquet")
                || p.components().any(|c| c.as_os_str() == "_delta_log")
        })
        .collect();
    assert!(
        local_tables.is_empty(),
        "table files on local disk: {local_tables:?}"
    );
    assert!(walk(&cwd).is_empty(), "{:?}", walk(&cwd));
}
