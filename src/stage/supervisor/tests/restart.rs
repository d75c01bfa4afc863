//! Restart policies and backoff: failing runs, fatal errors, max_restarts, stalled stages,
//! and how a failure is worded.

use super::*;

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
