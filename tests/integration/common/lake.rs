//! Looking at a lake from the outside: files on disk, the dead-letter lines, and a Delta
//! table's `_delta_log` parsed by hand (an oracle independent of the crate's own reader).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use ssp_tui::lake::{read_bronze_rows, BronzeRow, LakeLocation};

/// Every file under `dir` (recursive, sorted); a missing dir is empty.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() => out.push(p),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Temporary / hidden files (`.`-prefixed, `.tmp`, or an object store's `name#n` staging
/// file) under `dir`.
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    walk(dir)
        .into_iter()
        .filter(|p| {
            let n = name(p);
            n.starts_with('.') || n.ends_with(".tmp") || n.contains('#')
        })
        .collect()
}

/// Every line of every dead-letter file under `<lake>/dead_letter`, parsed.
pub fn dead_letter_lines(lake: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for p in walk(&lake.join("dead_letter")) {
        if !name(&p).ends_with(".jsonl") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for line in text.lines() {
            out.push(serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("dead-letter line of {} is not JSON: {e}", p.display())
            }));
        }
    }
    out
}

/// How many times each id occurs.
pub fn id_counts<'a>(ids: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for id in ids {
        *m.entry(id.to_string()).or_insert(0) += 1;
    }
    m
}

/// Every bronze row of the table at `location`, read by the crate's reader on a thread of
/// its own (callable from sync tests and from inside a runtime alike).
pub fn bronze_rows_at(location: &LakeLocation) -> Vec<BronzeRow> {
    let location = location.clone();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(read_bronze_rows(&location))
    })
    .join()
    .expect("reader thread")
    .unwrap_or_else(|e| panic!("reading bronze: {e}"))
}

/// [`bronze_rows_at`] a local lake folder.
pub fn bronze_rows(lake: &Path) -> Vec<BronzeRow> {
    bronze_rows_at(&LakeLocation::local(lake))
}

/// One `add` action of a Delta commit.
#[derive(Debug, Clone, PartialEq)]
pub struct LogAdd {
    /// Relative to the table, percent-decoded.
    pub path: String,
    pub size: u64,
    /// `numRecords` of the action's statistics.
    pub rows: Option<u64>,
    pub partition: BTreeMap<String, Option<String>>,
    pub data_change: bool,
}

/// One Delta commit file (`_delta_log/<version>.json`), parsed by hand.
#[derive(Debug, Clone)]
pub struct LogCommit {
    pub version: u64,
    pub adds: Vec<LogAdd>,
    pub removes: Vec<String>,
    /// `txn` actions: (app id, version).
    pub txns: Vec<(String, i64)>,
    pub info: Value,
    /// The file's bytes as they were read.
    pub raw: String,
}

impl LogCommit {
    /// Rows this commit adds (0 without data files).
    pub fn rows(&self) -> u64 {
        self.adds.iter().filter_map(|a| a.rows).sum()
    }

    /// The streaming writer's query id (`commitInfo.operationParameters.queryId`).
    pub fn query_id(&self) -> Option<String> {
        match self.info.pointer("/operationParameters/queryId")? {
            Value::String(s) => Some(s.trim_matches('"').to_string()),
            other => Some(other.to_string()),
        }
    }
}

/// `%XX` escapes decoded (Delta log paths are URL-encoded).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("UTF-8 path")
}

fn parse_add(a: &Value) -> LogAdd {
    let stats: Option<Value> = a["stats"]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok());
    let partition = a["partitionValues"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string)))
                .collect()
        })
        .unwrap_or_default();
    LogAdd {
        path: percent_decode(a["path"].as_str().expect("add.path")),
        size: a["size"].as_u64().expect("add.size"),
        rows: stats.and_then(|s| s["numRecords"].as_u64()),
        partition,
        data_change: a["dataChange"].as_bool().unwrap_or(true),
    }
}

/// The commits of the table in folder `table`, in version order; asserts the versions are
/// 0, 1, 2, ... without a gap (empty when there is no log).
pub fn delta_log(table: &Path) -> Vec<LogCommit> {
    let mut commits = Vec::new();
    for p in walk(&table.join("_delta_log")) {
        let n = name(&p);
        let Some(stem) = n.strip_suffix(".json") else {
            continue;
        };
        let Ok(version) = stem.parse::<u64>() else {
            continue;
        };
        let raw = std::fs::read_to_string(&p).unwrap();
        let mut c = LogCommit {
            version,
            adds: Vec::new(),
            removes: Vec::new(),
            txns: Vec::new(),
            info: Value::Null,
            raw: raw.clone(),
        };
        for line in raw.lines().filter(|l| !l.trim().is_empty()) {
            let action: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: a line is not JSON ({e}): {line}", p.display()));
            if let Some(a) = action.get("add") {
                c.adds.push(parse_add(a));
            } else if let Some(r) = action.get("remove") {
                c.removes
                    .push(percent_decode(r["path"].as_str().expect("remove.path")));
            } else if let Some(t) = action.get("txn") {
                let app = t["appId"].as_str().expect("txn.appId").to_string();
                c.txns
                    .push((app, t["version"].as_i64().expect("txn.version")));
            } else if let Some(i) = action.get("commitInfo") {
                c.info = i.clone();
            }
        }
        commits.push(c);
    }
    commits.sort_by_key(|c| c.version);
    for (i, c) in commits.iter().enumerate() {
        assert_eq!(
            c.version,
            i as u64,
            "versions of {} have a gap",
            table.display()
        );
    }
    commits
}

/// The data files the log says are in the table now (path -> add action).
pub fn live_files(log: &[LogCommit]) -> BTreeMap<String, LogAdd> {
    let mut live = BTreeMap::new();
    for c in log {
        for r in &c.removes {
            live.remove(r);
        }
        for a in &c.adds {
            live.insert(a.path.clone(), a.clone());
        }
    }
    live
}

/// The latest version of every transaction id in the log.
pub fn txn_versions(log: &[LogCommit]) -> BTreeMap<String, i64> {
    log.iter().flat_map(|c| c.txns.iter().cloned()).collect()
}

/// Files under the table folder (outside `_delta_log`) the log does not reference: what a
/// killed writer wrote but never committed.
pub fn unreferenced_files(table: &Path, log: &[LogCommit]) -> Vec<PathBuf> {
    let live = live_files(log);
    walk(table)
        .into_iter()
        .filter(|p| {
            let rel = p.strip_prefix(table).unwrap();
            !rel.starts_with("_delta_log") && !live.contains_key(&*rel.to_string_lossy())
        })
        .collect()
}

/// Checks what every reader relies on: each live file exists with its logged size, and the
/// crate's reader returns exactly the rows the log's statistics count. Returns the rows.
pub fn check_table(lake: &Path) -> (Vec<LogCommit>, Vec<BronzeRow>) {
    let table = lake.join("bronze");
    let log = delta_log(&table);
    let live = live_files(&log);
    for (path, add) in &live {
        let len = std::fs::metadata(table.join(path))
            .unwrap_or_else(|e| panic!("file {path} of the log: {e}"))
            .len();
        assert_eq!(len, add.size, "size of {path}");
        assert!(add.rows.is_some(), "add of {path} has no numRecords");
    }
    let rows = bronze_rows(lake);
    let logged: u64 = live.values().filter_map(|a| a.rows).sum();
    assert_eq!(
        rows.len() as u64,
        logged,
        "rows read == rows the log counts"
    );
    (log, rows)
}
