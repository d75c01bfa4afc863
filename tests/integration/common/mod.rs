//! Shared helpers for the integration tests: tweet JSON builders and the independent expected
//! rules ([`tweets`]), looking at a lake and its Delta log from outside ([`lake`]), reading
//! tables with Python's `deltalake` ([`pydelta`]), running the `ssp-tui` binary with a private
//! environment and a timeout, and waiting for stage states.
#![allow(dead_code)]

pub mod lake;
pub mod pydelta;
// The top-level test binaries include this module without the others: each carries its own
// copy of the one rule.
#[allow(clippy::duplicate_mod)]
#[path = "../services.rs"]
pub mod services;
pub mod tweets;

#[allow(unused_imports)]
pub use lake::*;
#[allow(unused_imports)]
pub use pydelta::*;
#[allow(unused_imports)]
pub use tweets::*;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use ssp_tui::config::Settings;
use ssp_tui::stage::{StageState, StageStatus, Supervisor};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ssp-tui");

/// The repository's shipped `config.ini`.
pub fn repo_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config.ini")
}

// ---------------------------------------------------------------------------------------------
// The binary
// ---------------------------------------------------------------------------------------------

pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// `ssp-tui ARGS` in `cwd` with the test's own `SSP__*` variables only (none inherited).
pub fn command(cwd: &Path, env: &[(&str, String)], args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(cwd).args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("SSP__") || k == "RUST_LOG" {
            c.env_remove(k);
        }
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

pub fn spawn(cwd: &Path, env: &[(&str, String)], args: &[&str]) -> Child {
    command(cwd, env, args).spawn().expect("spawning ssp-tui")
}

/// Waits for `child` to exit; after `timeout` kills it and panics with its output.
pub fn finish(mut child: Child, timeout: Duration) -> Run {
    let read = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut v);
            }
            String::from_utf8_lossy(&v).into_owned()
        })
    };
    let out = read(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = read(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for ssp-tui") {
            break Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    match status {
        Some(status) => Run {
            status,
            stdout,
            stderr,
        },
        None => panic!(
            "ssp-tui did not exit within {timeout:?} (killed)\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
        ),
    }
}

pub fn run_bin(cwd: &Path, env: &[(&str, String)], args: &[&str], timeout: Duration) -> Run {
    finish(spawn(cwd, env, args), timeout)
}

/// `ssp-tui lake stats --json`, parsed (asserts exit 0).
pub fn lake_stats(cwd: &Path, env: &[(&str, String)]) -> Value {
    let run = run_bin(
        cwd,
        env,
        &["lake", "stats", "--json"],
        Duration::from_secs(30),
    );
    assert_eq!(run.code(), Some(0), "lake stats failed:\n{run}");
    serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("lake stats --json is not JSON ({e}):\n{run}"))
}

// ---------------------------------------------------------------------------------------------
// In process
// ---------------------------------------------------------------------------------------------

/// Settings from the repo's config.ini plus `overrides` (never the process environment).
pub fn settings(overrides: &[(&str, String)]) -> Settings {
    let env: Vec<(String, String)> = overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    Settings::load_with_env(Some(&repo_config()), &env).expect("valid test settings")
}

pub fn status(sup: &Supervisor, name: &str) -> StageStatus {
    sup.snapshot()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no stage {name}"))
}

/// Polls until `ok(status)` holds; panics on timeout or when the stage failed.
pub async fn wait_until(
    sup: &Arc<Supervisor>,
    name: &str,
    timeout: Duration,
    what: &str,
    ok: impl Fn(&StageStatus) -> bool,
) -> StageStatus {
    let deadline = Instant::now() + timeout;
    loop {
        let s = status(sup, name);
        if ok(&s) {
            return s;
        }
        assert!(
            s.state != StageState::Failed,
            "{name} failed while waiting for {what}: {s:?}"
        );
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {name}: {what}; now {s:?}\nlog: {:?}",
            sup.log(name).map(|l| l.snapshot())
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn wait_state(
    sup: &Arc<Supervisor>,
    name: &str,
    want: StageState,
    timeout: Duration,
) -> StageStatus {
    wait_until(sup, name, timeout, want.label(), |s| s.state == want).await
}
