//! SQL over the lake: known answers from `ssp-tui sql` over a lake the pipeline made from
//! generated tweets (counts, group-bys, the shipped examples, joins of bronze with silver_ner
//! and hand labels), errors with positions, export round trips read back by pyarrow, and the
//! SQL worker the pane uses (cancel, live view after a new commit).

use crate::common;
use crate::ner_common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use ssp_tui::learn::dataset::{self, Dataset, RawTweet, SplitSpec};
use ssp_tui::learn::labels::{EmbeddedLabelStore, EventKind, LabelStore, NewEvent};
use ssp_tui::nlp::RuleTagger;
use ssp_tui::sql::worker::{self, SqlReply, SqlRequest};

const BASE: u64 = 1_400_000_000_000_000_000;

/// A lake made by the pipeline (replay -> bronze -> ner with the rules backend), a dataset
/// version built from the same tweets, and hand labels on it.
struct Lake {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    lake: PathBuf,
    replay: PathBuf,
    ids: Vec<String>,
    texts: Vec<String>,
    dataset: Dataset,
    /// text_id -> current hand label (after an undo).
    labels: BTreeMap<i64, i32>,
}

impl Lake {
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SSP__LAKE__ROOT", self.lake.display().to_string()),
            ("SSP__LOG__DIR", self.dir.join("logs").display().to_string()),
        ]
    }

    fn settings(&self) -> ssp_tui::config::Settings {
        ner_common::settings(&self.lake, &self.replay, &[])
    }

    /// `ssp-tui sql QUERY --format json`: (exit code, rows, stderr).
    fn sql(&self, query: &str) -> (Option<i32>, Vec<Value>, String) {
        let (code, out, err) = ner_common::run_bin(
            &self.dir,
            &["sql", query, "--format", "json"],
            &self.env(),
            Duration::from_secs(60),
        );
        let rows = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        (code, rows, err)
    }

    fn rows(&self, query: &str) -> Vec<Value> {
        let (code, rows, err) = self.sql(query);
        assert_eq!(code, Some(0), "{query}\n{err}");
        rows
    }
}

async fn make_lake(n: usize) -> Lake {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let lake = dir.join("lake");
    let replay = dir.join("tweets.jsonl");
    let texts = ner_common::generated_texts(21, n);
    let ids = ner_common::write_replay(&replay, BASE, &texts);
    let s = ner_common::settings(&lake, &replay, &[("SSP__LAKE__ROLL_ROWS", "50".into())]);
    let sup = ner_common::run_to_completion(&s, Duration::from_secs(90)).await;
    sup.shutdown(Duration::from_secs(10)).await;

    // A dataset version from the same tweets, and hand labels with one undo.
    let raw: Vec<RawTweet> = ids
        .iter()
        .zip(&texts)
        .map(|(id, text)| RawTweet {
            tweet_id: id.clone(),
            created_at: None,
            author: None,
            text: text.clone(),
        })
        .collect();
    let spec = SplitSpec {
        test: n / 10,
        dev: n / 10,
        weak_train: n / 5,
        seed: 3,
    };
    let ds = dataset::build(0, raw, spec).expect("dataset");
    let store = EmbeddedLabelStore::new(&lake, &lake.join("store"));
    store
        .create_version(&ds, &vec![-1; ds.rows.len()])
        .await
        .unwrap();
    let mut labels = BTreeMap::new();
    let mut undo_seq = None;
    for (i, row) in ds.rows.iter().take(9).enumerate() {
        let label = i32::from(i % 3 == 0);
        let e = store
            .append(event(
                row.text_id,
                row.split,
                EventKind::Label,
                label,
                -1,
                None,
            ))
            .await
            .unwrap();
        labels.insert(row.text_id, label);
        if i == 4 {
            undo_seq = Some((e.seq, row.text_id, row.split, label));
        }
    }
    let (seq, text_id, split, label) = undo_seq.unwrap();
    store
        .append(event(text_id, split, EventKind::Undo, -1, label, Some(seq)))
        .await
        .unwrap();
    labels.remove(&text_id);
    Lake {
        _tmp: tmp,
        dir,
        lake,
        replay,
        ids,
        texts,
        dataset: ds,
        labels,
    }
}

fn event(
    text_id: i64,
    split: dataset::Split,
    kind: EventKind,
    label: i32,
    prev_label: i32,
    undoes: Option<u64>,
) -> NewEvent {
    NewEvent {
        version: 0,
        text_id,
        split,
        kind,
        label,
        prev_label,
        undoes,
        who: "test".into(),
        at_ms: 1_700_000_000_000,
        note: None,
        provenance: Default::default(),
    }
}

fn int(v: &Value) -> i64 {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not an integer: {v}"))
}

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_queries_give_the_known_answers() {
    let lake = make_lake(300).await;
    let n = lake.ids.len() as i64;

    // Counts.
    let rows = lake.rows("select count(*) as n, count(distinct id_str) as ids from bronze");
    assert_eq!((int(&rows[0]["n"]), int(&rows[0]["ids"])), (n, n));

    // Timing runs (the benchmark's, in one engine or, with --fresh, a new one per run): the
    // same answer, and one timing line per run.
    for fresh in [true, false] {
        let mut args = vec!["sql", "select count(*) as n from bronze", "--format", "csv"];
        args.extend(["--timing", "--repeat", "3"]);
        if fresh {
            args.push("--fresh");
        }
        let (code, out, err) =
            ner_common::run_bin(&lake.dir, &args, &lake.env(), Duration::from_secs(60));
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(out, format!("n\n{n}\n"));
        let timings = err
            .lines()
            .filter(|l| l.contains("(opening tables "))
            .count();
        assert_eq!(timings, 3, "fresh={fresh}: {err}");
    }

    // Group-by: authors are user{i % 7}.
    let rows =
        lake.rows("select author, count(*) as n from bronze group by author order by author");
    let mut want: BTreeMap<String, i64> = BTreeMap::new();
    for i in 0..lake.ids.len() {
        *want.entry(format!("user{}", i % 7)).or_default() += 1;
    }
    let got: BTreeMap<String, i64> = rows
        .iter()
        .map(|r| (text(&r["author"]), int(&r["n"])))
        .collect();
    assert_eq!(got, want);

    // The seed's trending query, as shipped: words containing '#', top 20.
    let rows = lake.rows(ssp_tui::sql::EXAMPLES[0].1);
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for t in &lake.texts {
        for w in t.split_whitespace().filter(|w| w.contains('#')) {
            *counts.entry(w.to_string()).or_default() += 1;
        }
    }
    let mut want: Vec<(String, i64)> = counts.into_iter().collect();
    want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    want.truncate(20);
    assert!(!want.is_empty(), "generated tweets carry hashtags");
    let got: Vec<(String, i64)> = rows
        .iter()
        .map(|r| (text(&r["hashtag"]), int(&r["count"])))
        .collect();
    assert_eq!(got, want);

    // NER entities by label (shipped example) against the rules tagger on the same texts.
    let rows = lake.rows(ssp_tui::sql::EXAMPLES[3].1);
    let tagger = RuleTagger::builtin();
    let mut want: BTreeMap<String, (i64, std::collections::BTreeSet<usize>)> = BTreeMap::new();
    for (i, t) in lake.texts.iter().enumerate() {
        for e in tagger.tag(t) {
            let w = want.entry(e.label.clone()).or_default();
            w.0 += 1;
            w.1.insert(i);
        }
    }
    let want: BTreeMap<String, (i64, i64)> = want
        .into_iter()
        .map(|(k, (n, ids))| (k, (n, ids.len() as i64)))
        .collect();
    let got: BTreeMap<String, (i64, i64)> = rows
        .iter()
        .map(|r| (text(&r["label"]), (int(&r["entities"]), int(&r["tweets"]))))
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);

    // Bronze joined with silver: every tweet once, with its own text.
    let rows = lake.rows(
        "select count(*) as n, sum(case when b.text = s.text then 1 else 0 end) as same \
         from bronze b join silver_ner s on b.id_str = s.id_str",
    );
    assert_eq!((int(&rows[0]["n"]), int(&rows[0]["same"])), (n, n));

    // Entity counts per author over the join (the benchmark's shape), against the rules
    // tagger; the list sizes are taken below the join, so the lists never reach it.
    let join = "select b.author, count(*) as tweets, sum(array_length(s.entities)) as entities \
                from bronze b join silver_ner s on b.id_str = s.id_str \
                group by b.author order by b.author";
    let mut want: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (i, t) in lake.texts.iter().enumerate() {
        let w = want.entry(format!("user{}", i % 7)).or_default();
        w.0 += 1;
        w.1 += tagger.tag(t).len() as i64;
    }
    let got: BTreeMap<String, (i64, i64)> = lake
        .rows(join)
        .iter()
        .map(|r| (text(&r["author"]), (int(&r["tweets"]), int(&r["entities"]))))
        .collect();
    assert_eq!(got, want);
    let plan: String = lake
        .rows(&format!("explain {join}"))
        .iter()
        .filter(|r| text(&r["plan_type"]) == "physical_plan")
        .map(|r| text(&r["plan"]))
        .collect();
    let join_at = plan.find("HashJoinExec").expect("a hash join");
    assert!(
        plan[join_at..].contains("array_length(entities"),
        "array_length is computed below the join:\n{plan}"
    );

    // Hand labels joined with the dataset and bronze: current labels (the undone one gone).
    let rows = lake.rows(
        "select l.label, count(*) as n, count(b.id_str) as in_bronze \
         from labels l join dataset_deduplicated_raw_tweet d on d.text_id = l.text_id \
         left join bronze b on b.id_str = d.tweet_id group by l.label order by l.label",
    );
    let mut want: BTreeMap<i64, i64> = BTreeMap::new();
    for label in lake.labels.values() {
        *want.entry(*label as i64).or_default() += 1;
    }
    let got: BTreeMap<i64, i64> = rows
        .iter()
        .map(|r| (int(&r["label"]), int(&r["n"])))
        .collect();
    assert_eq!(got, want);
    for r in &rows {
        assert_eq!(
            int(&r["in_bronze"]),
            int(&r["n"]),
            "every labelled text is a bronze tweet"
        );
    }
    let rows = lake.rows("select count(*) as n, sum(case when kind = 'undo' then 1 else 0 end) as undos from label_events");
    assert_eq!((int(&rows[0]["n"]), int(&rows[0]["undos"])), (10, 1));
    let rows = lake.rows("select count(*) as n from dataset_deduplicated_raw_tweet");
    assert_eq!(int(&rows[0]["n"]), lake.dataset.rows.len() as i64);

    // Every shipped example runs.
    for (name, sql) in ssp_tui::sql::EXAMPLES {
        let (code, _, err) = lake.sql(sql);
        assert_eq!(code, Some(0), "example {name}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_position_and_exports_round_trip() {
    let lake = make_lake(60).await;
    // A parser error: exit 2, message, line and column, and a caret under it.
    let (code, _, err) = lake.sql("select id_str,\n  count(* from bronze");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("error: "), "{err}");
    assert!(err.contains("line 2, column"), "{err}");
    assert!(err.lines().any(|l| l.trim() == "^"), "a caret line: {err}");
    // A planning error: an unknown table is named.
    let (code, _, err) = lake.sql("select * from nope");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("nope"), "{err}");
    // An unknown column, with its position.
    let (code, _, err) = lake.sql("select id_str, nosuch from bronze");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("nosuch") && err.contains("line 1, column 16"),
        "{err}"
    );

    // Export: CSV and Parquet, read back by Python (csv module, pyarrow).
    let query = "select id_str, author, text from bronze order by id_str";
    let csv = lake.dir.join("out.csv");
    let parquet = lake.dir.join("out.parquet");
    for out in [&csv, &parquet] {
        let (code, _, err) = ner_common::run_bin(
            &lake.dir,
            &["sql", query, "--out", &out.display().to_string()],
            &lake.env(),
            Duration::from_secs(60),
        );
        assert_eq!(code, Some(0), "{err}");
        assert!(err.contains("60 rows written"), "{err}");
    }
    // --repeat runs it again in the same engine: a timing line per run, the result once.
    let (code, out, err) = ner_common::run_bin(
        &lake.dir,
        &[
            "sql",
            "select count(*) as n from bronze",
            "--format",
            "csv",
            "--timing",
            "--repeat",
            "3",
        ],
        &lake.env(),
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(0), "{err}");
    let timings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("opening tables"))
        .collect();
    assert_eq!(timings.len(), 3, "{err}");
    assert!(
        timings.iter().all(|l| l.contains("opening tables")),
        "{err}"
    );
    assert_eq!(out.trim(), "n\n60", "the result once");
    let mut want: Vec<(String, String)> = lake
        .ids
        .iter()
        .cloned()
        .zip(lake.texts.iter().cloned())
        .collect();
    want.sort();
    let Some(python) = common::pydelta_python() else {
        return;
    };
    for (path, reader) in [
        (
            &csv,
            "import csv; rows = list(csv.DictReader(open(p, newline='')))",
        ),
        (
            &parquet,
            "import pyarrow.parquet as pq; rows = pq.read_table(p).to_pylist()",
        ),
    ] {
        let script = format!(
            "import json, sys\np = sys.argv[1]\n{reader}\nprint(json.dumps([[r['id_str'], r['text']] for r in rows]))"
        );
        let out = std::process::Command::new(&python)
            .args(["-c", &script, &path.display().to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Vec<(String, String)> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(got, want, "{}", path.display());
    }
    // A bad extension is refused with the accepted ones named.
    let (code, _, err) = ner_common::run_bin(
        &lake.dir,
        &["sql", query, "--out", "x.xlsx"],
        &lake.env(),
        Duration::from_secs(60),
    );
    assert_ne!(code, Some(0));
    assert!(err.contains(".csv") && err.contains(".parquet"), "{err}");
}

async fn reply(link: &mut worker::SqlLink, timeout: Duration) -> SqlReply {
    loop {
        match tokio::time::timeout(timeout, link.replies.recv()).await {
            Ok(Some(SqlReply::Tables(_))) => continue,
            Ok(Some(r)) => return r,
            Ok(None) => panic!("worker ended"),
            Err(_) => panic!("no reply within {timeout:?}"),
        }
    }
}

fn count_of(r: &SqlReply) -> (bool, i64) {
    match r {
        SqlReply::Done { result, live, .. } => {
            let b = &result.batches[0];
            let a = b
                .column(0)
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .expect("count(*) is Int64");
            (*live, a.value(0))
        }
        other => panic!("expected a result, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_cancels_and_keeps_a_live_view_up_to_date() {
    let lake = make_lake(120).await;
    let s = lake.settings();
    let cancel = tokio_util::sync::CancellationToken::new();
    let mut link = worker::spawn(&s, cancel.clone());

    // A query that would run for hours (120^4 rows) is cancelled at once.
    link.requests
        .send(SqlRequest::Run {
            id: 1,
            sql:
                "select count(*) from bronze a, bronze b, bronze c, bronze d where a.text < b.text"
                    .into(),
        })
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let asked = std::time::Instant::now();
    link.requests.send(SqlRequest::Cancel).unwrap();
    match reply(&mut link, Duration::from_secs(10)).await {
        SqlReply::Cancelled { id: 1 } => {}
        other => panic!("expected the cancel, got {other:?}"),
    }
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(5), "cancel took {took:?}");

    // The worker goes on: a count, then pinned as a live view.
    let sql = "select count(*) from bronze".to_string();
    link.requests
        .send(SqlRequest::Run {
            id: 2,
            sql: sql.clone(),
        })
        .unwrap();
    let first = reply(&mut link, Duration::from_secs(30)).await;
    assert_eq!(count_of(&first), (false, 120));
    link.requests.send(SqlRequest::Watch(Some(sql))).unwrap();

    // New tweets reach bronze in a new commit: the live view re-runs by itself.
    let more = lake.dir.join("more.jsonl");
    let texts = ner_common::generated_texts(99, 30);
    ner_common::write_replay(&more, BASE + 10_000, &texts);
    let s2 = ner_common::settings(&lake.lake, &more, &[]);
    let sup = ssp_tui::pipeline::build_supervisor(&s2).unwrap();
    sup.start("bronze").unwrap();
    ner_common::wait_state(
        &sup,
        "bronze",
        ssp_tui::stage::StageState::Completed,
        Duration::from_secs(60),
    )
    .await;
    sup.shutdown(Duration::from_secs(10)).await;
    // (A commit may land in parts: counts only grow, up to all 150.)
    let mut last = 120;
    while last < 150 {
        let (live, n) = count_of(&reply(&mut link, Duration::from_secs(30)).await);
        assert!(live, "a live view's re-run");
        assert!(n > last && n <= 150, "live count {n} after {last}");
        last = n;
    }
    cancel.cancel();
}

/// The pane in the real binary (tmux): a query, its answer (the same as headless), an error
/// with its position, a cancel, an export, and the history after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pane_in_tmux_runs_cancels_exports_and_remembers() {
    use crate::tui_common::tmux::Tmux;
    let lake = make_lake(60).await;
    let quote = |p: &std::path::Path| format!("'{}'", p.display());
    let shell = format!(
        "cd {dir} && SSP__LAKE__ROOT={lake} SSP__LOG__DIR={logs} {bin} attach; echo exited $? > {exit}",
        dir = quote(&lake.dir),
        lake = quote(&lake.lake),
        logs = quote(&lake.dir.join("logs")),
        bin = ner_common::BIN,
        exit = quote(&lake.dir.join("exit")),
    );
    let has = |needle: &'static str| move |l: &[String]| l.iter().any(|x| x.contains(needle));
    let open = || {
        let t = Tmux::start(&shell, 120, 32);
        t.wait_screen("the control centre", Duration::from_secs(30), has("Stages"));
        t.send("Q");
        t.wait_screen("the SQL pane", Duration::from_secs(10), has("SQL [Q]"));
        t
    };
    let t = open();
    t.send("select count(*) as n from bronze");
    t.keys(&["F5"]);
    t.wait_screen("the answer", Duration::from_secs(30), has("1 row ·"));
    let (_, headless, _) = lake.sql("select count(*) as n from bronze");
    let n = int(&headless[0]["n"]).to_string();
    assert!(
        t.capture()
            .iter()
            .any(|l| l.split(['┃', '│']).any(|cell| cell.trim() == n)),
        "the pane shows {n}:\n{}",
        t.capture().join("\n")
    );
    // Export the shown result.
    let csv = lake.dir.join("pane.csv");
    t.send(&format!(":export {}", csv.display()));
    t.keys(&["Enter"]);
    t.wait_screen("the export", Duration::from_secs(10), has("row written to"));
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), format!("n\n{n}\n"));
    // An error, with its position under the editor.
    t.keys(&["i", "C-a"]);
    t.keys(&["C-k"]);
    t.send("select nosuch from bronze");
    t.keys(&["F5"]);
    t.wait_screen(
        "the error",
        Duration::from_secs(30),
        has("line 1, column 8"),
    );
    // A long query, cancelled with Esc.
    t.keys(&["C-a", "C-k"]);
    t.send("select sum(length(a.text || b.text || c.text || d.text || e.text)) from bronze a, bronze b, bronze c, bronze d, bronze e");
    t.keys(&["F5"]);
    t.wait_screen(
        "the query running",
        Duration::from_secs(10),
        has("Esc cancels"),
    );
    t.keys(&["Escape"]);
    t.wait_screen(
        "the cancel",
        Duration::from_secs(10),
        has("query cancelled"),
    );
    // Leave and quit (a pause after Esc: Esc then q at once reads as Alt-q).
    t.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(500));
    t.send("q");
    let exit = lake.dir.join("exit");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !exit.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        std::fs::read_to_string(&exit).unwrap_or_default().trim(),
        "exited 0"
    );
    drop(t);
    // The history survives: Ctrl-Up brings back the last query.
    let t = open();
    t.keys(&["C-Up"]);
    t.wait_screen(
        "the last query from the history",
        Duration::from_secs(10),
        has("bronze e"),
    );
    t.keys(&["C-Up", "C-Up"]);
    t.wait_screen(
        "the first query from the history",
        Duration::from_secs(10),
        has("select count(*) as n from bronze"),
    );
}
