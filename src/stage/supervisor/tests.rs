use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::bus::{embedded::Retention, EmbeddedBus};
use crate::config::{CommandSettings, RestartPolicy, Settings};
use crate::stage::command::CommandStage;
use crate::stage::{Exit, LogStream, StageContext};

fn pipeline() -> Arc<Pipeline> {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.ini");
    let settings = Settings::load_with_env(Some(&shipped), &[]).unwrap();
    let bus = EmbeddedBus::new(Retention {
        messages: 100,
        bytes: 1 << 20,
    });
    Pipeline::new(settings, Arc::new(bus))
}

/// Fails `failures` times, then drains; counts runs.
struct Flaky {
    name: &'static str,
    failures: u32,
    runs: Arc<AtomicU32>,
    policy: RestartPolicy,
    deps: Vec<String>,
}

#[async_trait]
impl Stage for Flaky {
    fn name(&self) -> &str {
        self.name
    }
    fn kind(&self) -> &'static str {
        "test"
    }
    fn depends_on(&self) -> Vec<String> {
        self.deps.clone()
    }
    fn restart_policy(&self) -> RestartPolicy {
        self.policy
    }
    async fn run(&self, _ctx: StageContext) -> anyhow::Result<Exit> {
        let n = self.runs.fetch_add(1, Ordering::SeqCst);
        if n < self.failures {
            anyhow::bail!("boom {n}");
        }
        Ok(Exit::Drained)
    }
}

/// Runs until stopped, then "flushes" (sets a flag) before returning.
struct Flusher {
    flushed: Arc<AtomicU32>,
}

#[async_trait]
impl Stage for Flusher {
    fn name(&self) -> &str {
        "flusher"
    }
    fn kind(&self) -> &'static str {
        "test"
    }
    async fn run(&self, ctx: StageContext) -> anyhow::Result<Exit> {
        ctx.metrics.add_out(1);
        ctx.cancel.cancelled().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.flushed.fetch_add(1, Ordering::SeqCst);
        Ok(Exit::Cancelled)
    }
}

fn flaky(failures: u32, policy: RestartPolicy) -> (Arc<dyn Stage>, Arc<AtomicU32>) {
    let runs = Arc::new(AtomicU32::new(0));
    let stage = Flaky {
        name: "flaky",
        failures,
        runs: runs.clone(),
        policy,
        deps: vec![],
    };
    (Arc::new(stage), runs)
}

async fn wait_for(sup: &Supervisor, name: &str, state: StageState) {
    for _ in 0..10_000 {
        if sup.state(name) == Some(state) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{name} never reached {state:?}; is {:?}", sup.state(name));
}

#[tokio::test(start_paused = true)]
async fn on_failure_restarts_with_exponential_backoff() {
    let (stage, runs) = flaky(3, RestartPolicy::OnFailure);
    let backoff = Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(3),
        factor: 2.0,
    };
    let sup = Supervisor::new(pipeline(), vec![stage], backoff);
    let t0 = tokio::time::Instant::now();
    sup.start("flaky").unwrap();
    wait_for(&sup, "flaky", StageState::Completed).await;
    // Three failures: waits of 1 s, 2 s, then 4 s capped at 3 s.
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(6) && waited < Duration::from_millis(6200),
        "{waited:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 4);
    let status = &sup.snapshot()[0];
    assert_eq!(status.restarts, 3);
    assert_eq!(status.errors, 3);
    assert_eq!(status.last_error.as_deref(), Some("boom 2"));
}

#[tokio::test(start_paused = true)]
async fn policy_no_fails_once_and_stays_failed() {
    let (stage, runs) = flaky(1, RestartPolicy::No);
    let sup = Supervisor::new(pipeline(), vec![stage], Backoff::default());
    sup.start("flaky").unwrap();
    wait_for(&sup, "flaky", StageState::Failed).await;
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(sup.state("flaky"), Some(StageState::Failed));
}

#[tokio::test(start_paused = true)]
async fn always_restarts_even_after_a_clean_exit() {
    let (stage, runs) = flaky(0, RestartPolicy::Always);
    let sup = Supervisor::new(pipeline(), vec![stage], Backoff::default());
    sup.start("flaky").unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        runs.load(Ordering::SeqCst) >= 3,
        "runs {}",
        runs.load(Ordering::SeqCst)
    );
    assert_eq!(sup.snapshot()[0].errors, 0, "clean exits are not errors");
    sup.shutdown(Duration::from_secs(5)).await;
    assert_eq!(sup.state("flaky"), Some(StageState::Stopped));
}

#[tokio::test]
async fn stop_waits_for_the_flush_and_restart_runs_again() {
    let flushed = Arc::new(AtomicU32::new(0));
    let sup = Arc::new(Supervisor::new(
        pipeline(),
        vec![Arc::new(Flusher {
            flushed: flushed.clone(),
        })],
        Backoff::default(),
    ));
    sup.start("flusher").unwrap();
    wait_for(&sup, "flusher", StageState::Running).await;
    sup.restart("flusher").unwrap();
    wait_for(&sup, "flusher", StageState::Running).await;
    assert_eq!(
        flushed.load(Ordering::SeqCst),
        1,
        "restart flushed the first run"
    );
    sup.shutdown(Duration::from_secs(5)).await;
    assert_eq!(flushed.load(Ordering::SeqCst), 2);
    assert_eq!(sup.state("flusher"), Some(StageState::Stopped));
}

#[tokio::test]
async fn starting_a_stage_starts_its_dependencies_first() {
    let runs = Arc::new(AtomicU32::new(0));
    let a = Flaky {
        name: "a",
        failures: 0,
        runs: runs.clone(),
        policy: RestartPolicy::No,
        deps: vec![],
    };
    let b = Flaky {
        name: "b",
        failures: 0,
        runs: runs.clone(),
        policy: RestartPolicy::No,
        deps: vec!["a".into()],
    };
    let sup = Supervisor::new(
        pipeline(),
        vec![Arc::new(b), Arc::new(a)],
        Backoff::default(),
    );
    assert_eq!(
        sup.start("b").unwrap(),
        vec!["a".to_string(), "b".to_string()]
    );
    assert!(matches!(
        sup.start("zzz"),
        Err(SupervisorError::UnknownStage { .. })
    ));
}

#[tokio::test]
async fn command_stage_captures_output_and_is_stopped_by_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("got-term");
    let script = format!(
        "trap 'echo bye; touch {}; exit 0' TERM; echo hello; echo oops >&2; while true; do sleep 0.05; done",
        marker.display()
    );
    let cmd = CommandSettings {
        name: "echoer".into(),
        command: script,
        cwd: None,
        env: vec![("GREETING".into(), "hi".into())],
        restart: RestartPolicy::No,
        depends_on: vec![],
        conditions: vec![],
        readiness: crate::config::Readiness::Started,
        max_restarts: None,
        stop_timeout: Duration::from_secs(5),
    };
    let sup = Supervisor::new(
        pipeline(),
        vec![Arc::new(CommandStage::new(cmd))],
        Backoff::default(),
    );
    sup.start("echoer").unwrap();
    let log = sup.log("echoer").unwrap();
    for _ in 0..500 {
        if log.snapshot().iter().any(|l| l.text == "oops") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sup.shutdown(Duration::from_secs(10)).await;
    let lines: Vec<(LogStream, String)> = log
        .snapshot()
        .into_iter()
        .map(|l| (l.stream, l.text))
        .collect();
    assert!(
        lines.contains(&(LogStream::Stdout, "hello".into())),
        "{lines:?}"
    );
    assert!(
        lines.contains(&(LogStream::Stderr, "oops".into())),
        "{lines:?}"
    );
    assert!(
        lines.contains(&(LogStream::Stdout, "bye".into())),
        "{lines:?}"
    );
    assert!(marker.exists(), "the process got SIGTERM");
    assert_eq!(sup.state("echoer"), Some(StageState::Stopped));
}

#[tokio::test]
async fn command_stage_that_ignores_sigterm_is_killed_after_the_timeout() {
    let cmd = CommandSettings {
        name: "stubborn".into(),
        command: "trap '' TERM; echo ready; while true; do sleep 0.05; done".into(),
        cwd: None,
        env: vec![],
        restart: RestartPolicy::No,
        depends_on: vec![],
        conditions: vec![],
        readiness: crate::config::Readiness::Started,
        max_restarts: None,
        stop_timeout: Duration::from_millis(300),
    };
    let sup = Supervisor::new(
        pipeline(),
        vec![Arc::new(CommandStage::new(cmd))],
        Backoff::default(),
    );
    sup.start("stubborn").unwrap();
    let log = sup.log("stubborn").unwrap();
    for _ in 0..500 {
        if log.snapshot().iter().any(|l| l.text == "ready") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let t0 = std::time::Instant::now();
    sup.shutdown(Duration::from_secs(10)).await;
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(log.snapshot().iter().any(|l| l.text.contains("killing")));
    assert_eq!(sup.state("stubborn"), Some(StageState::Stopped));
}

#[tokio::test]
async fn failing_command_is_reported_with_its_exit_status() {
    let cmd = CommandSettings {
        name: "bad".into(),
        command: "echo about to fail; exit 3".into(),
        cwd: None,
        env: vec![],
        restart: RestartPolicy::No,
        depends_on: vec![],
        conditions: vec![],
        readiness: crate::config::Readiness::Started,
        max_restarts: None,
        stop_timeout: Duration::from_secs(1),
    };
    let sup = Supervisor::new(
        pipeline(),
        vec![Arc::new(CommandStage::new(cmd))],
        Backoff::default(),
    );
    sup.start("bad").unwrap();
    wait_for(&sup, "bad", StageState::Failed).await;
    let status = &sup.snapshot()[0];
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("exit status: 3"),
        "{status:?}"
    );
}

/// Always fails with a `Fatal` error (wrapped in context): never restarted, whatever the policy.
struct FatalStage {
    runs: Arc<AtomicU32>,
}

#[async_trait]
impl Stage for FatalStage {
    fn name(&self) -> &str {
        "fatal"
    }
    fn kind(&self) -> &'static str {
        "test"
    }
    fn restart_policy(&self) -> RestartPolicy {
        RestartPolicy::Always
    }
    async fn run(&self, _ctx: StageContext) -> anyhow::Result<Exit> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Err(anyhow::Error::new(Fatal("bad token (HTTP 401)".into())).context("connecting"))
    }
}

#[tokio::test(start_paused = true)]
async fn fatal_error_fails_the_stage_without_restarting() {
    let runs = Arc::new(AtomicU32::new(0));
    let sup = Supervisor::new(
        pipeline(),
        vec![Arc::new(FatalStage { runs: runs.clone() })],
        Backoff::default(),
    );
    sup.start("fatal").unwrap();
    wait_for(&sup, "fatal", StageState::Failed).await;
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "a fatal error is not retried"
    );
    let status = &sup.snapshot()[0];
    assert_eq!(status.state, StageState::Failed);
    assert_eq!(status.restarts, 0);
    assert_eq!(
        status.last_error.as_deref(),
        Some("connecting: bad token (HTTP 401)")
    );
    assert!(sup
        .log("fatal")
        .unwrap()
        .snapshot()
        .iter()
        .any(|l| l.text.contains("not restarted")));
    assert!(!Fatal::is_in(&anyhow::anyhow!("plain")));
}

fn command(name: &str, script: &str) -> CommandSettings {
    CommandSettings {
        name: name.into(),
        command: script.into(),
        cwd: None,
        env: vec![],
        restart: RestartPolicy::No,
        depends_on: vec![],
        conditions: vec![],
        readiness: crate::config::Readiness::Started,
        max_restarts: None,
        stop_timeout: Duration::from_secs(2),
    }
}

fn with_deps(mut c: CommandSettings, deps: &[(&str, crate::config::Condition)]) -> CommandSettings {
    c.conditions = deps.iter().map(|(d, c)| (d.to_string(), *c)).collect();
    c.depends_on = deps.iter().map(|(d, _)| d.to_string()).collect();
    c
}

async fn wait_secs(sup: &Supervisor, name: &str, want: StageState, secs: u64) {
    for _ in 0..secs * 100 {
        if sup.state(name) == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{name} never became {want:?}: {:?}", sup.snapshot());
}

#[tokio::test]
async fn depends_on_ready_waits_for_the_log_line_and_completed_for_the_exit() {
    use crate::config::{Condition, Readiness};
    let dir = tempfile::tempdir().unwrap();
    let mut server = command("server", "sleep 0.6; echo listening on 8080; sleep 30");
    server.readiness = Readiness::LogLine("listening".into());
    let setup = command("setup", "sleep 0.3; exit 0");
    let marker = dir.path().join("client-ran");
    let client = with_deps(
        command("client", &format!("touch {}; sleep 30", marker.display())),
        &[
            ("server", Condition::Ready),
            ("setup", Condition::Completed),
        ],
    );
    let sup = Supervisor::new(
        pipeline(),
        vec![
            Arc::new(CommandStage::new(server)),
            Arc::new(CommandStage::new(setup)),
            Arc::new(CommandStage::new(client)),
        ],
        Backoff::default(),
    );
    let started = sup.start("client").unwrap();
    assert_eq!(started, vec!["server", "setup", "client"]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let st = sup
        .snapshot()
        .into_iter()
        .find(|s| s.name == "client")
        .unwrap();
    assert_eq!(st.state, StageState::Starting);
    assert!(
        st.detail
            .contains("waiting for server (ready), setup (completed)"),
        "{st:?}"
    );
    assert!(!marker.exists(), "client ran before its dependencies");
    wait_secs(&sup, "setup", StageState::Completed, 5).await;
    assert!(!marker.exists(), "client ran before server was ready");
    wait_secs(&sup, "client", StageState::Running, 5).await;
    for _ in 0..200 {
        if marker.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(marker.exists());
    let log = sup.log("server").unwrap().snapshot();
    assert!(
        log.iter().any(|l| l.text.contains("ready (log line seen)")),
        "{log:?}"
    );
    sup.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_exec_probe_makes_a_command_ready() {
    use crate::config::{Condition, Readiness};
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("up");
    let mut svc = command(
        "svc",
        &format!("sleep 0.5; touch {}; sleep 30", flag.display()),
    );
    svc.readiness = Readiness::Exec(format!("test -e {}", flag.display()));
    let user = with_deps(command("user", "sleep 30"), &[("svc", Condition::Ready)]);
    let sup = Supervisor::new(
        pipeline(),
        vec![
            Arc::new(CommandStage::new(svc)),
            Arc::new(CommandStage::new(user)),
        ],
        Backoff::default(),
    );
    sup.start("user").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sup.state("user"), Some(StageState::Starting));
    wait_secs(&sup, "user", StageState::Running, 5).await;
    assert!(flag.exists());
    sup.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn max_restarts_leaves_the_stage_failed() {
    let mut c = command("crashy", "exit 1");
    c.restart = RestartPolicy::Always;
    c.max_restarts = Some(2);
    let fast = Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(10),
        factor: 1.0,
    };
    let sup = Supervisor::new(pipeline(), vec![Arc::new(CommandStage::new(c))], fast);
    sup.start("crashy").unwrap();
    wait_secs(&sup, "crashy", StageState::Failed, 10).await;
    let st = sup.snapshot().into_iter().next().unwrap();
    assert_eq!(st.restarts, 2, "{st:?}");
    let log = sup.log("crashy").unwrap().snapshot();
    assert!(
        log.iter()
            .any(|l| l.text.contains("max_restarts (2) reached")),
        "{log:?}"
    );
}

/// Takes input and never commits it (a writer stuck on its output); counts runs.
struct Stuck {
    runs: Arc<AtomicU32>,
}

#[async_trait]
impl Stage for Stuck {
    fn name(&self) -> &str {
        "stuck"
    }
    fn kind(&self) -> &'static str {
        "built-in"
    }
    async fn run(&self, ctx: StageContext) -> anyhow::Result<Exit> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        ctx.metrics.add_in(1);
        ctx.metrics.waiting();
        ctx.cancel.cancelled().await;
        Ok(Exit::Cancelled)
    }
}

#[tokio::test]
async fn a_stalled_stage_is_shown_and_restarted_when_the_policy_says_so() {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.ini");
    let env = |restart: &str| {
        vec![
            ("SSP__STATUS__STALL_SECONDS".to_string(), "0.3".to_string()),
            (
                "SSP__STATUS__RESTART_STALLED".to_string(),
                restart.to_string(),
            ),
        ]
    };
    for restart in ["false", "true"] {
        let settings = Settings::load_with_env(Some(&shipped), &env(restart)).unwrap();
        let bus = EmbeddedBus::new(Retention {
            messages: 100,
            bytes: 1 << 20,
        });
        let runs = Arc::new(AtomicU32::new(0));
        let sup = Arc::new(Supervisor::new(
            Pipeline::new(settings, Arc::new(bus)),
            vec![Arc::new(Stuck { runs: runs.clone() })],
            Backoff::default(),
        ));
        let watch = sup.spawn_stall_watch();
        assert_eq!(watch.is_some(), restart == "true");
        sup.start("stuck").unwrap();
        tokio::time::sleep(Duration::from_millis(450)).await;
        let st = sup.snapshot().into_iter().next().unwrap();
        if restart == "false" {
            assert_eq!(st.state, StageState::Stalled, "{st:?}");
            assert!(st.detail.contains("nothing committed"), "{st:?}");
            tokio::time::sleep(Duration::from_millis(1000)).await;
            assert_eq!(
                runs.load(Ordering::SeqCst),
                1,
                "not restarted without the policy"
            );
        } else {
            for _ in 0..300 {
                if runs.load(Ordering::SeqCst) >= 2 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(runs.load(Ordering::SeqCst) >= 2, "restarted by the policy");
            let log = sup.log("stuck").unwrap().snapshot();
            assert!(
                log.iter().any(|l| l.text.contains("restart_stalled")),
                "{log:?}"
            );
        }
        if let Some(w) = watch {
            w.abort();
        }
        sup.shutdown(Duration::from_secs(5)).await;
    }
}

#[test]
fn error_text_does_not_repeat_causes_already_in_a_message() {
    #[derive(Debug)]
    struct Wrapping(std::io::Error);
    impl std::fmt::Display for Wrapping {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Failed to read delta log object: {}", self.0)
        }
    }
    impl std::error::Error for Wrapping {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    let io = std::io::Error::other("Operation not permitted (os error 1)");
    let e = anyhow::Error::new(Wrapping(io)).context("committing to the bronze table");
    assert_eq!(
        error_text(&e),
        "committing to the bronze table: Failed to read delta log object: Operation not permitted (os error 1)"
    );
    let plain = anyhow::anyhow!("disk full").context("writing");
    assert_eq!(error_text(&plain), "writing: disk full");
}
