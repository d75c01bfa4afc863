//! Stages across processes through the lake (embedded bus): a headless process's stages are
//! seen from another process, commanded (stop / start / restart, answered) and shown `lost`
//! after kill -9; `ssp-tui attach` starts nothing; a bronze stage whose lake is made
//! unwritable goes `stalled`.

use crate::common;
use crate::tui_common::tmux::Tmux;

use std::path::Path;
use std::process::Command as Process;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ssp_tui::config::Settings;
use ssp_tui::remote::{self, Action, RemoteStage, RemoteView};
use ssp_tui::stage::StageState;

fn settings(lake: &Path, extra: &[(&str, String)]) -> Settings {
    let mut env: Vec<(String, String)> = vec![
        ("SSP__LAKE__ROOT".into(), lake.display().to_string()),
        ("SSP__PIPELINE__BUS".into(), "embedded".into()),
        ("SSP__PIPELINE__STORE".into(), "embedded".into()),
        ("SSP__STATUS__LOST_SECONDS".into(), "2".into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    Settings::load_with_env(Some(&repo_config()), &env).unwrap()
}

/// A headless run in `dir` (lake `dir/lake`) at 200 tweets/s that names itself `host`.
fn headless_env(dir: &Path, host: &str) -> Vec<(&'static str, String)> {
    vec![
        ("SSP__LAKE__ROOT", dir.join("lake").display().to_string()),
        ("SSP__LOG__DIR", dir.join("logs").display().to_string()),
        ("SSP__SOURCE__RATE", "200".to_string()),
        ("SSP_HOSTNAME", host.to_string()),
    ]
}

/// A view of the stages published on `lake`, as another process sees them.
fn viewer(lake: &Path) -> std::sync::Arc<RemoteView> {
    let s = settings(lake, &[]);
    let channel = remote::open(&s, "test-viewer").unwrap();
    RemoteView::spawn(
        channel,
        "test-viewer".into(),
        s.control.interval,
        s.control.lost_after,
    )
}

/// The view's row for `name`, once `ok` holds (panics with the rows after `timeout`).
async fn wait_row(
    view: &RemoteView,
    name: &str,
    timeout: Duration,
    ok: impl Fn(&RemoteStage) -> bool,
) -> RemoteStage {
    let deadline = Instant::now() + timeout;
    loop {
        let rows = view.stages();
        if let Some(r) = rows.iter().find(|r| r.name == name && ok(r)) {
            return r.clone();
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {name}: {rows:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_outcome(view: &RemoteView, timeout: Duration) -> (String, bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(o) = view.take_outcomes().pop() {
            return o;
        }
        assert!(Instant::now() < deadline, "no answer to the command");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_stages_are_seen_commanded_and_lost() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let mut env = headless_env(dir.path(), "writer-a");
    env.push(("SSP__LAKE__ROLL_SECONDS", "0.5".to_string()));
    let mut child = spawn(dir.path(), &env, &["run", "source", "bronze"]);
    let view = viewer(&lake);
    let running = |r: &RemoteStage| r.report.state == "running" && !r.lost;
    let bronze = wait_row(&view, "bronze@writer-a", Duration::from_secs(30), running).await;
    wait_row(&view, "source@writer-a", Duration::from_secs(5), running).await;
    assert_eq!(bronze.report.pid, child.id());

    // Stop: answered, shown stopped, and the process keeps running (it waits for `start`).
    view.command("bronze@writer-a", Action::Stop).unwrap();
    let (text, ok) = wait_outcome(&view, Duration::from_secs(10)).await;
    assert!(ok && text.contains("stop bronze@writer-a"), "{text}");
    let stopped = wait_row(&view, "bronze@writer-a", Duration::from_secs(15), |r| {
        r.report.state == "stopped"
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(child.try_wait().unwrap().is_none(), "the process exited");
    let source = wait_row(&view, "source@writer-a", Duration::from_secs(5), running).await;

    // Start again: it resumes from the table and its output grows.
    view.command("bronze@writer-a", Action::Start).unwrap();
    let (text, ok) = wait_outcome(&view, Duration::from_secs(10)).await;
    assert!(ok && text.contains("started"), "{text}");
    wait_row(&view, "bronze@writer-a", Duration::from_secs(15), |r| {
        running(r) && r.report.output > 0
    })
    .await;
    assert!(source.report.output > stopped.report.output);
    let delay = view.heartbeat_delay_ms().unwrap();
    println!("heartbeat to view delay (lake channel, local folder): {delay} ms");

    // kill -9: no more heartbeats, shown lost within lost_seconds (+ a refresh).
    let killed = Instant::now();
    child.kill().unwrap();
    child.wait().unwrap();
    wait_row(&view, "bronze@writer-a", Duration::from_secs(10), |r| {
        r.lost
    })
    .await;
    println!("lost shown {:?} after kill -9", killed.elapsed());
    assert!(killed.elapsed() < Duration::from_secs(6));
}

/// A process that exited gracefully says so last; its stages stay listed as `exited`, and a
/// command to one is refused at once, naming the host to start it on, rather than sent to a
/// process that can never answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_to_an_exited_process_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let env = headless_env(dir.path(), "writer-b");
    let child = spawn(dir.path(), &env, &["run", "source", "bronze"]);
    let view = viewer(&lake);
    wait_row(&view, "bronze@writer-b", Duration::from_secs(30), |r| {
        r.report.state == "running"
    })
    .await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let run = finish(child, Duration::from_secs(60));
    assert_eq!(run.code(), Some(0), "{run}");
    let row = wait_row(&view, "bronze@writer-b", Duration::from_secs(15), |r| {
        r.report.state == "exited"
    })
    .await;
    assert!(!row.lost, "an exit is not a lost heartbeat");
    assert_eq!(
        StageState::from_label(&row.report.state),
        Some(StageState::Exited)
    );
    let err = view
        .command("bronze@writer-b", Action::Start)
        .expect_err("a start sent to an exited process");
    assert!(
        err.contains("has exited")
            && err.contains("writer-b")
            && err.contains("ssp-tui run bronze"),
        "{err}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(view.take_outcomes().is_empty(), "nothing was sent");
}

#[test]
fn attach_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let cmd = format!(
        "cd {} && SSP__LAKE__ROOT={} SSP__LOG__DIR={} {} attach",
        dir.path().display(),
        lake.display(),
        dir.path().join("logs").display(),
        env!("CARGO_BIN_EXE_ssp-tui"),
    );
    let tmux = Tmux::start(&cmd, 120, 32);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut screen = String::new();
    while Instant::now() < deadline && !screen.contains("classify") {
        std::thread::sleep(Duration::from_millis(200));
        screen = tmux.capture().join("\n");
    }
    std::thread::sleep(Duration::from_secs(4));
    screen = tmux.capture().join("\n");
    for stage in ["source", "bronze", "ner", "trending", "collect", "classify"] {
        let line = screen
            .lines()
            .find(|l| l.contains(&format!(" {stage} ")))
            .unwrap_or_else(|| panic!("{stage} not listed:\n{screen}"));
        assert!(line.contains("stopped"), "{stage} was started:\n{line}");
    }
    assert!(
        screen.contains("0/6 stages running"),
        "header counts nothing running:\n{screen}"
    );
    assert!(
        !lake.join("bronze").exists(),
        "attach wrote bronze: {:?}",
        std::fs::read_dir(&lake).map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
    );
    tmux.send("q");
}

/// `chattr -i` on drop (an immutable folder outlives the test otherwise).
struct Immutable(std::path::PathBuf);

impl Immutable {
    fn set(path: &Path) -> Option<Immutable> {
        let ok = Process::new("chattr")
            .arg("+i")
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Immutable(path.to_path_buf()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Process::new("chattr").arg("-i").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bronze_whose_lake_is_unwritable_goes_stalled_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let s = settings(
        &lake,
        &[
            ("SSP__STATUS__STALL_SECONDS", "3".into()),
            ("SSP__LAKE__ROLL_SECONDS", "0.3".into()),
            ("SSP__SOURCE__RATE", "300".into()),
            (
                "SSP__LOG__DIR",
                dir.path().join("logs").display().to_string(),
            ),
        ],
    );
    let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
    sup.start("bronze").unwrap();
    wait_until(&sup, "bronze", Duration::from_secs(30), "a commit", |s| {
        s.detail.contains("table version")
    })
    .await;
    // The commit log refuses new files (root included): every commit fails from now on.
    let log = lake.join("bronze/_delta_log");
    let Some(guard) = Immutable::set(&log) else {
        let msg =
            "chattr +i is not available here (e2fsprogs on ext4): scripts/test.sh installs it";
        crate::common::services::missing("chattr +i", msg);
        return;
    };
    let made = Instant::now();
    let st = wait_until(&sup, "bronze", Duration::from_secs(15), "stalled", |s| {
        s.state == StageState::Stalled
    })
    .await;
    let took = made.elapsed();
    println!("stalled {took:?} after the lake became unwritable (stall_seconds 3): {st:?}");
    assert!(took < Duration::from_secs(3 + 5), "{took:?}");
    assert!(st.detail.contains("nothing committed"), "{st:?}");
    assert!(
        st.errors > 0 && st.last_error.is_some(),
        "the failure is shown: {st:?}"
    );

    drop(guard);
    wait_until(
        &sup,
        "bronze",
        Duration::from_secs(30),
        "running again",
        |s| s.state == StageState::Running && !s.detail.contains("nothing committed"),
    )
    .await;
    sup.shutdown(Duration::from_secs(10)).await;
    let _ = Arc::clone(&sup);
}

#[test]
fn run_starts_only_the_named_stages() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let env = [
        ("SSP__LAKE__ROOT", lake.display().to_string()),
        (
            "SSP__LOG__DIR",
            dir.path().join("logs").display().to_string(),
        ),
    ];
    // bronze needs the embedded bus's source in the same process: refused, with the command.
    let run = run_bin(
        dir.path(),
        &env,
        &["run", "bronze"],
        Duration::from_secs(30),
    );
    assert_eq!(run.code(), Some(2), "{run}");
    assert!(run.stderr.contains("ssp-tui run source bronze"), "{run}");

    // trending reads the lake, which another process may write: it runs alone and waits.
    let mut child = spawn(dir.path(), &env, &["run", "trending", "--every", "1"]);
    std::thread::sleep(Duration::from_secs(4));
    assert!(child.try_wait().unwrap().is_none(), "trending exited");
    let _ = Process::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = finish(child, Duration::from_secs(30));
    assert_eq!(out.code(), Some(0), "{out}");
    let lines: Vec<&str> = out.stdout.lines().filter(|l| l.contains(" up ")).collect();
    assert!(!lines.is_empty(), "{out}");
    assert!(
        lines.iter().all(|l| l.starts_with("trending ")),
        "only trending ran: {out}"
    );
    assert!(!lake.join("bronze").exists(), "nothing wrote bronze");
}
