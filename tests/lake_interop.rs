//! Other Delta readers see the bronze table as written: after a replay into a local lake, the
//! Python `deltalake` package (interpreter from `SSP_TEST_PYDELTA_PYTHON`) reads it, and each
//! row is compared with the generated tweets. Skipped loudly without the interpreter unless
//! `SSP_REQUIRE_SERVICES=1` (or CI), where it is a failure.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::*;
use serde_json::Value;

const BASE: u64 = 1_300_000_000_000_000_000;

/// Reads the table at argv[1] with delta-rs' Python binding; one JSON line per row.
const SCRIPT: &str = r#"
import json, sys
from deltalake import DeltaTable
t = DeltaTable(sys.argv[1])
print(json.dumps({"version": t.version()}))
for r in t.to_pyarrow_table().to_pylist():
    print(json.dumps({
        "id_str": r["id_str"], "text": r["text"], "hashtags": r["hashtags"],
        "partition": r["partition"], "offset": r["offset"], "date": str(r["date"]),
        "ingest_ms": int(r["ingest_time"].timestamp() * 1000),
        "created_ms": None if r["created_at"] is None else int(r["created_at"].timestamp() * 1000),
    }, ensure_ascii=False))
"#;

fn python() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match var("SSP_TEST_PYDELTA_PYTHON") {
        Some(p) => Some(p),
        None if var("SSP_REQUIRE_SERVICES").as_deref() == Some("1")
            || var("CI").as_deref() == Some("true") =>
        {
            panic!("SSP_TEST_PYDELTA_PYTHON is not set: scripts/test.sh installs Python deltalake")
        }
        None => {
            eprintln!("SKIPPED: set SSP_TEST_PYDELTA_PYTHON to a Python with `deltalake` (scripts/test.sh does)");
            None
        }
    }
}

#[test]
fn python_deltalake_reads_bronze_row_for_row() {
    let Some(python) = python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let samples = mixed_tweets(BASE, 3000);
    let jsonl = dir.path().join("tweets.jsonl");
    write_jsonl(&jsonl, samples.iter().map(|s| s.json.clone()));
    let lake = dir.path().join("lake");
    let cwd = dir.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let env = [
        ("SSP__SOURCE__KIND", "replay".to_string()),
        ("SSP__SOURCE__PATH", jsonl.display().to_string()),
        ("SSP__SOURCE__RATE", "0".to_string()),
        ("SSP__LAKE__ROOT", lake.display().to_string()),
        ("SSP__LAKE__ROLL_ROWS", "700".to_string()),
        (
            "SSP__LOG__DIR",
            dir.path().join("logs").display().to_string(),
        ),
    ];
    let start = Utc::now().timestamp_millis();
    let run = run_bin(
        &cwd,
        &env,
        &["run", "source", "bronze", "--every", "1"],
        Duration::from_secs(60),
    );
    let end = Utc::now().timestamp_millis();
    assert_eq!(run.code(), Some(0), "{run}");
    let log = delta_log(&lake.join("bronze"));
    assert!(
        log.iter().filter(|c| c.rows() > 0).count() >= 5,
        "several commits"
    );

    let out = Command::new(&python)
        .args(["-c", SCRIPT])
        .arg(lake.join("bronze"))
        .output()
        .unwrap_or_else(|e| panic!("running {python}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python deltalake failed: {stderr}");
    let mut lines = std::str::from_utf8(&out.stdout).unwrap().lines();
    let head: Value = serde_json::from_str(lines.next().expect("a version line")).unwrap();
    assert_eq!(
        head["version"],
        log.len() as u64 - 1,
        "the latest version is read"
    );
    let rows: Vec<Value> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();

    // Row for row against the generated tweets (the independent rules of tests/common).
    let by_id: HashMap<&str, &Value> = rows
        .iter()
        .map(|r| (r["id_str"].as_str().unwrap(), r))
        .collect();
    assert_eq!(rows.len(), samples.len(), "rows Python sees");
    assert_eq!(by_id.len(), samples.len(), "distinct ids Python sees");
    let mut offsets: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for s in &samples {
        let id = s.expect.id.as_str();
        let r = by_id
            .get(id)
            .unwrap_or_else(|| panic!("{id} missing in Python's read"));
        assert_eq!(r["text"], pick_text(&s.json), "text of {id}");
        let tags: Vec<&str> = r["hashtags"]
            .as_array()
            .unwrap_or_else(|| panic!("hashtags of {id}: {}", r["hashtags"]))
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(tags, s.expect.hashtags, "hashtags of {id}");
        assert_eq!(
            r["created_ms"], s.expect.created_at_ms,
            "created_at of {id}"
        );
        // The partition column is the UTC day of ingestion, within this run.
        let ingest = r["ingest_ms"].as_i64().unwrap();
        assert!(
            (start - 1000..=end + 1000).contains(&ingest),
            "ingest_time of {id}"
        );
        let day = Utc
            .timestamp_millis_opt(ingest)
            .unwrap()
            .date_naive()
            .to_string();
        assert_eq!(r["date"], day, "date of {id}");
        let part = r["partition"].as_i64().unwrap();
        offsets
            .entry(part)
            .or_default()
            .push(r["offset"].as_i64().unwrap());
    }
    // One run over a fresh bus: each partition's offsets are exactly 0..count.
    for (p, offs) in &mut offsets {
        offs.sort_unstable();
        assert!(
            offs.iter().enumerate().all(|(i, o)| *o == i as i64),
            "partition {p}: offsets are not 0..{}",
            offs.len()
        );
    }
    // And the same (partition, offset) per id as the crate's own reader.
    for r in bronze_rows(&lake) {
        let py = by_id[r.id_str.as_str()];
        assert_eq!(
            (py["partition"].as_i64(), py["offset"].as_i64()),
            (Some(r.partition as i64), Some(r.offset)),
            "position of {}",
            r.id_str
        );
    }
}
