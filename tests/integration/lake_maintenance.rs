//! Lake stats from the Delta log, `lake optimize` / `lake vacuum` / `lake convert`, the
//! old-layout check, and checkpoints, on real Delta tables in a temp folder. Tables are also
//! read back by the Python `deltalake` package when `SSP_TEST_PYDELTA_PYTHON` names a python
//! that has it (scripts/test.sh sets it); skipped loudly otherwise, unless
//! `SSP_REQUIRE_SERVICES=1`.

use crate::lake_support;

use std::collections::BTreeSet;
use std::path::Path;

use lake_support::*;
use ssp_tui::lake::convert::{self, LayoutError, Outcome};
use ssp_tui::lake::maintenance::{self, VacuumOptions};
use ssp_tui::lake::table::{self, CHECKPOINT_INTERVAL};
use ssp_tui::lake::{read_bronze_rows, LakeLayout, LakeLocation, Layer, StatsScanner};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_equal_what_was_written_and_follow_new_commits() {
    let dir = tempfile::tempdir().unwrap();
    let loc = LakeLocation::local(dir.path());
    let mut scanner = StatsScanner::new(loc.clone(), LakeLayout::new(dir.path()));
    let empty = scanner.scan().await.unwrap();
    assert_eq!(empty.bronze.version, None);
    assert_eq!(
        (empty.bronze.files, empty.gold.files, empty.dead_letter),
        (0, 0, 0)
    );

    let mut bronze = create(&loc, "bronze").await;
    for (i, n) in [10, 32, 5].into_iter().enumerate() {
        commit_ids(&mut bronze, 1000 * i as i64, n, i as i32).await;
    }
    let mut ai = create(&loc, "gold/ai_tweets").await;
    commit_ids(&mut ai, 0, 7, 0).await;
    dead_letters(dir.path(), 2);

    let s = scanner.scan().await.unwrap();
    let on_disk = data_files(&dir.path().join("bronze"));
    assert_eq!(s.bronze.version, Some(3), "create + 3 commits");
    assert_eq!(s.bronze.files, 3);
    assert_eq!(s.bronze.rows, 47);
    assert_eq!(
        s.bronze.bytes,
        on_disk.iter().map(|(_, len)| len).sum::<u64>()
    );
    assert_eq!(s.bronze.files_last_minute, 3);
    assert_eq!((s.silver.version, s.silver.files), (None, 0));
    assert_eq!((s.gold.files, s.gold.rows), (1, 7), "gold sums its tables");
    assert_eq!(
        s.gold.version, None,
        "gold's version is gold/trending_hashtags'"
    );
    assert_eq!(s.dead_letter, 2);

    // New commits (by another handle, as another process would) show on the next scan.
    commit_ids(&mut bronze, 9000, 3, 1).await;
    dead_letters(dir.path(), 1);
    let s = scanner.scan().await.unwrap();
    assert_eq!(
        (s.bronze.version, s.bronze.files, s.bronze.rows),
        (Some(4), 4, 50)
    );
    assert_eq!(s.dead_letter, 3);

    // The CLI prints the same numbers.
    let out = cli(dir.path(), &["lake", "stats", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["bronze"]["version"], 4);
    assert_eq!(json["bronze"]["rows"], 50);
    assert_eq!(json["bronze"]["files"], 4);
    assert_eq!(json["bronze"]["bytes"], s.bronze.bytes);
    assert_eq!(json["gold"]["rows"], 7);
    assert_eq!(json["tables"]["gold/ai_tweets"]["version"], 1);
    assert_eq!(json["dead_letter"], 3);
    let text = cli(dir.path(), &["lake", "stats"]);
    let text = String::from_utf8_lossy(&text.stdout);
    let row: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("bronze "))
        .unwrap_or_else(|| panic!("no bronze row:\n{text}"))
        .split_whitespace()
        .collect();
    assert_eq!(row, ["bronze", "4", "4", "50", &s.bronze.bytes.to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optimize_compacts_keeps_every_row_and_vacuum_deletes_the_replaced_files() {
    let dir = tempfile::tempdir().unwrap();
    let loc = LakeLocation::local(dir.path());
    let mut t = create(&loc, "bronze").await;
    for i in 0..30 {
        commit_ids(&mut t, i * 100, 20, (i % 2) as i32).await;
    }
    let before = snapshot_ids(&loc, "bronze").await;
    assert_eq!(before.len(), 600);
    let small_files = data_files(&dir.path().join("bronze"));
    assert_eq!(small_files.len(), 30);

    let out = cli(dir.path(), &["lake", "optimize", "--table", "bronze"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("bronze: 30 -> 2 files"), "{text}");
    assert!(text.contains("600 -> 600 rows"), "{text}");
    let o = maintenance::optimize(&loc, "bronze")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (o.before.files, o.after.files),
        (2, 2),
        "nothing left to compact"
    );
    assert_eq!(
        snapshot_ids(&loc, "bronze").await,
        before,
        "same rows after optimize"
    );
    // The old files are still there (earlier versions refer to them) ...
    assert_eq!(data_files(&dir.path().join("bronze")).len(), 32);
    pydelta_check(&loc, "bronze", 600).await;

    // ... until a vacuum whose retention has passed: the default (168 h) keeps them, a
    // shorter one needs the explicit flag.
    let v = maintenance::vacuum(&loc, "bronze", &VacuumOptions::default())
        .await
        .unwrap();
    assert_eq!(v.unwrap().files, Vec::<String>::new());
    let short = VacuumOptions {
        retention_hours: Some(0),
        ..Default::default()
    };
    let err = maintenance::vacuum(&loc, "bronze", &short)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("--allow-short-retention"), "{err}");
    let dry = VacuumOptions {
        retention_hours: Some(0),
        allow_short_retention: true,
        dry_run: true,
        ..Default::default()
    };
    let v = maintenance::vacuum(&loc, "bronze", &dry)
        .await
        .unwrap()
        .unwrap();
    assert!(v.dry_run);
    assert_eq!(v.files.len(), 30);
    assert_eq!(
        data_files(&dir.path().join("bronze")).len(),
        32,
        "dry run deletes nothing"
    );

    let out = cli(
        dir.path(),
        &[
            "lake",
            "vacuum",
            "--table",
            "bronze",
            "--retention-hours",
            "0",
            "--allow-short-retention",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("bronze: deleted 30 files"), "{text}");
    let left: BTreeSet<_> = data_files(&dir.path().join("bronze"))
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(left.len(), 2);
    for (small, _) in &small_files {
        assert!(!left.contains(small), "{small} survived the vacuum");
    }
    assert_eq!(
        snapshot_ids(&loc, "bronze").await,
        before,
        "same rows after vacuum"
    );
    pydelta_check(&loc, "bronze", 600).await;
    // A reader starting from the beginning (a new trending or ner) walks the log without
    // asking for the deleted files: every row once, the compacted ones included.
    commit_ids(&mut t, 10_000, 7, 0).await;
    let mut all = before.clone();
    all.extend(10_000..10_007);
    assert_eq!(consumer_ids(&loc, "bronze").await, all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn convert_turns_the_old_layout_into_tables_with_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let loc = LakeLocation::local(&lake);
    let expected = write_old_bronze(
        &lake,
        &[
            ("2024-01-01", 0..40),
            ("2024-01-01", 40..45),
            ("2024-01-02", 45..100),
        ],
    );
    write_old_file(
        &lake.join("silver/ner/date=2024-01-02/part-1.parquet"),
        0..12,
    );
    // A temp file of the old writer is not data.
    std::fs::write(
        lake.join("bronze/date=2024-01-01/.part-9.parquet.tmp"),
        b"half",
    )
    .unwrap();

    // Refused at start, with the command to run.
    let err = convert::check_layout(&loc).await.unwrap_err();
    let bronze_dir = lake.join("bronze").display().to_string();
    assert!(
        matches!(err, LayoutError::OldLayout { ref dir } if *dir == bronze_dir),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("{bronze_dir} holds plain Parquet files from an earlier ssp-tui: run `ssp-tui lake convert` to turn it into a Delta table")
    );
    let env = [("SSP__LAKE__ROOT", lake.display().to_string())];
    let run = cli_env(dir.path(), &env, &["run", "bronze"]);
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("run `ssp-tui lake convert`"),
        "{run:?}"
    );

    // Bronze only: silver is still the old layout.
    let done = convert::convert(&loc, &[Layer::Bronze]).await.unwrap();
    let Outcome::Converted(s) = &done[0].1 else {
        panic!("{done:?}")
    };
    assert_eq!(
        (done[0].0, s.files, s.rows, s.version),
        ("bronze", 3, 100, Some(0))
    );
    let err = convert::check_layout(&loc).await.unwrap_err().to_string();
    assert!(err.contains("silver/ner holds plain Parquet"), "{err}");

    let mut rows = read_bronze_rows(&loc).await.unwrap();
    rows.sort_by_key(|r| r.offset);
    assert_eq!(
        rows, expected,
        "the converted table reads back as the old files"
    );

    let out = cli_env(dir.path(), &env, &["lake", "convert"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("bronze: already a Delta table"), "{text}");
    assert!(
        text.contains("silver/ner: converted 1 files, 12 rows"),
        "{text}"
    );
    assert!(text.contains("gold/ai_tweets: no Parquet files"), "{text}");
    convert::check_layout(&loc).await.unwrap();

    let stats = StatsScanner::new(loc.clone(), LakeLayout::new(&lake))
        .scan()
        .await
        .unwrap();
    assert_eq!((stats.bronze.rows, stats.silver.rows), (100, 12));
    // Compaction of a converted table keeps its rows (old millisecond files rewritten).
    let o = maintenance::optimize(&loc, "bronze")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((o.before.files, o.after.files, o.after.rows), (3, 2, 100));
    let table = table::open(&loc, "bronze").await.unwrap().unwrap();
    let mut after = Vec::new();
    for f in table.snapshot().unwrap().log_data().iter() {
        let bytes = table::read_file(&table, &f.path()).await.unwrap();
        for b in ssp_tui::lake::read_batches(bytes, &f.path()).unwrap() {
            after.extend(bronze_projection(&b));
        }
    }
    after.sort();
    let want: Vec<_> = expected
        .iter()
        .map(|r| (r.offset, r.created_at, r.ingest_time, r.hashtags.clone()))
        .collect();
    assert_eq!(after, want, "the compacted files hold the same rows");
    if let Some(py) = pydelta(&loc, "bronze", &["created_at", "offset", "date"]).await {
        assert_eq!(py["rows"], 100);
        let created: Vec<i64> = serde_json::from_value(py["created_at"].clone()).unwrap();
        let mut want: Vec<i64> = expected.iter().filter_map(|r| r.created_at).collect();
        want.sort();
        assert_eq!(
            created, want,
            "timestamps as the Python reader sees them (ms)"
        );
        let dates: BTreeSet<String> = serde_json::from_value::<Vec<String>>(py["date"].clone())
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(
            dates,
            BTreeSet::from(["2024-01-01".to_string(), "2024-01-02".to_string()])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_every_100_commits_and_a_fresh_open_reads_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let loc = LakeLocation::local(dir.path());
    let mut t = create(&loc, "silver/ner").await;
    for i in 0..250 {
        commit_ids(&mut t, i * 10, 2, 0).await;
    }
    // delta-rs checkpoints after every `interval` commits counting version 0: at interval - 1,
    // 2 * interval - 1, … up to the newest version (250).
    let log = dir.path().join("silver/ner/_delta_log");
    let mut checkpoints: Vec<String> = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".checkpoint.parquet"))
        .collect();
    checkpoints.sort();
    let at = |v: u64| format!("{v:020}.checkpoint.parquet");
    let interval = CHECKPOINT_INTERVAL;
    let expected: Vec<String> = (1..)
        .map(|k| k * interval - 1)
        .take_while(|v| *v <= 250)
        .map(at)
        .collect();
    assert!(expected.len() >= 2, "interval {interval}");
    assert_eq!(checkpoints, expected);
    let newest = (250 / interval) * interval - 1;
    let last = std::fs::read_to_string(log.join("_last_checkpoint")).unwrap();
    assert!(last.contains(&format!("\"version\":{newest}")), "{last}");
    // A fresh open starts from the checkpoint: without the commits it covers, it still reads.
    for v in 0..=newest {
        std::fs::remove_file(log.join(format!("{v:020}.json"))).unwrap();
    }

    let fresh = table::open(&loc, "silver/ner").await.unwrap().unwrap();
    assert_eq!(fresh.version(), Some(250));
    let app = fresh
        .snapshot()
        .unwrap()
        .transaction_version(fresh.log_store().as_ref(), APP)
        .await
        .unwrap();
    assert_eq!(app, Some(249), "txn versions survive the checkpoint");
    let ids = snapshot_ids(&loc, "silver/ner").await;
    assert_eq!(
        ids,
        (0..250)
            .flat_map(|i| [i * 10, i * 10 + 1])
            .collect::<BTreeSet<_>>()
    );
    let stats = StatsScanner::new(loc.clone(), LakeLayout::new(dir.path()))
        .scan()
        .await
        .unwrap();
    assert_eq!(
        (stats.silver.version, stats.silver.files, stats.silver.rows),
        (Some(250), 250, 500)
    );
    pydelta_check(&loc, "silver/ner", 500).await;
}

/// Runs `ssp-tui` in `cwd` on the lake at `<cwd>` (built-in defaults otherwise).
fn cli(cwd: &Path, args: &[&str]) -> std::process::Output {
    cli_env(cwd, &[("SSP__LAKE__ROOT", cwd.display().to_string())], args)
}

fn cli_env(cwd: &Path, env: &[(&str, String)], args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ssp-tui"));
    cmd.current_dir(cwd)
        .args(args)
        .env("SSP__LOG__DIR", cwd.join("logs"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}
