//! Reading the lake's Delta tables with another Delta implementation: the Python `deltalake`
//! package (delta-rs' Python binding, interpreter from `SSP_TEST_PYDELTA_PYTHON`), plus the
//! crate-side views the interop tests compare its rows with.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use ssp_tui::lake::read::read_bronze_texts;
use ssp_tui::lake::{LakeConsumer, LakeLocation, StartAt};

use super::lake::delta_log;

/// Prints `{"version": N}`, then every row of the latest version of the table at argv[1] as
/// one JSON object per line: timestamps as epoch milliseconds (exact), dates as `YYYY-MM-DD`.
const SCRIPT: &str = r#"
import datetime, json, sys
from deltalake import DeltaTable
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
def conv(v):
    if isinstance(v, datetime.datetime):
        return (v - EPOCH) // datetime.timedelta(milliseconds=1)
    if isinstance(v, datetime.date):
        return v.isoformat()
    raise TypeError(f"{type(v)}: {v!r}")
t = DeltaTable(sys.argv[1])
print(json.dumps({"version": t.version()}))
for r in t.to_pyarrow_table().to_pylist():
    print(json.dumps(r, default=conv, ensure_ascii=False))
# deltalake's runtime can abort while Python shuts down (seen 1 in ~8 runs): the answer is
# printed, so leave without running the interpreter's teardown.
sys.stdout.flush()
import os; os._exit(0)
"#;

/// The interpreter with `deltalake` (`SSP_TEST_PYDELTA_PYTHON`). Unset: a loud skip, or a
/// failure with `SSP_REQUIRE_SERVICES=1` or under CI.
pub fn pydelta_python() -> Option<String> {
    super::services::var_or_skip(
        "SSP_TEST_PYDELTA_PYTHON",
        "a Python with `deltalake`: `scripts/pydelta.sh python` prints one; scripts/test.sh sets it",
    )
}

/// A table as Python's `deltalake` sees its latest version.
#[derive(Debug)]
pub struct PyTable {
    pub version: u64,
    pub rows: Vec<Value>,
}

impl PyTable {
    /// Rows by their `id_str` column; panics on a duplicate.
    pub fn by_id(&self) -> HashMap<&str, &Value> {
        let mut out = HashMap::new();
        for r in &self.rows {
            let id = r["id_str"].as_str().expect("id_str");
            assert!(out.insert(id, r).is_none(), "{id} twice in Python's read");
        }
        out
    }
}

/// Reads the Delta table in folder `table` with `python`'s `deltalake`.
pub fn py_read(python: &str, table: &Path) -> PyTable {
    let out = Command::new(python)
        .args(["-c", SCRIPT])
        .arg(table)
        .output()
        .unwrap_or_else(|e| panic!("running {python}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python deltalake failed on {}: {stderr}",
        table.display()
    );
    let mut lines = std::str::from_utf8(&out.stdout).unwrap().lines();
    let head: Value = serde_json::from_str(lines.next().expect("a version line")).unwrap();
    PyTable {
        version: head["version"].as_u64().expect("version"),
        rows: lines.map(|l| serde_json::from_str(l).unwrap()).collect(),
    }
}

/// An entity as compared: (text, label, start, end).
pub type Span = (String, String, Option<u32>, Option<u32>);

/// Reads `table` with Python; its version must be the latest one of the log (read by hand).
pub fn read_latest(python: &str, lake: &Path, table: &str) -> PyTable {
    let t = py_read(python, &lake.join(table));
    let log = delta_log(&lake.join(table));
    assert_eq!(t.version, log.len() as u64 - 1, "{table}: latest version");
    t
}

/// An entity list as Python read it.
pub fn py_spans(v: &Value) -> Vec<Span> {
    let n = |k: &str, e: &Value| e[k].as_u64().map(|x| x as u32);
    v.as_array()
        .unwrap_or_else(|| panic!("entities: {v}"))
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap().to_string();
            (s("text"), s("label"), n("start", e), n("end", e))
        })
        .collect()
}

/// Runs `f` to completion on a private runtime in another thread (sync tests and async ones).
pub fn block_on<T: Send, F: Future<Output = T> + Send>(f: F) -> T {
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

/// The bronze version that added each tweet id, read through the log with a `LakeConsumer`.
pub fn bronze_version_of_ids(lake: &Path) -> HashMap<String, i64> {
    block_on(async {
        let mut c = LakeConsumer::new(
            LakeLocation::local(lake),
            ssp_tui::lake::bronze::TABLE,
            None,
            StartAt::FirstCommit,
        );
        let mut out = HashMap::new();
        loop {
            let commits = c.poll(256).await.expect("bronze log");
            let Some(last) = commits.last().map(|c| c.version) else {
                return out;
            };
            for commit in &commits {
                for f in &commit.files {
                    let bytes = c.read(f).await.expect("bronze file");
                    for t in read_bronze_texts(bytes, &f.path).unwrap() {
                        assert!(
                            out.insert(t.id_str.clone(), commit.version).is_none(),
                            "{} twice in bronze",
                            t.id_str
                        );
                    }
                }
            }
            c.ack(last);
        }
    })
}
