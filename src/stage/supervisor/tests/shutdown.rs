//! Stopping: a graceful stop flushes before a restart, command stages get SIGTERM and
//! are killed after their stop timeout.

use super::*;

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

/// Stands for bronze: on stop it flushes, committing table version `last`.
struct TableWriter {
    table: Arc<std::sync::atomic::AtomicI64>,
    last: i64,
}

#[async_trait]
impl Stage for TableWriter {
    fn name(&self) -> &str {
        "bronze"
    }
    fn kind(&self) -> &'static str {
        "test"
    }
    async fn run(&self, ctx: StageContext) -> anyhow::Result<Exit> {
        ctx.cancel.cancelled().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.table.store(self.last, Ordering::SeqCst);
        ctx.metrics.wrote(self.last);
        Ok(Exit::Cancelled)
    }
}

/// Stands for a lake reader (ner, trending): handles new table versions every 100 ms.
struct TableReader {
    table: Arc<std::sync::atomic::AtomicI64>,
}

#[async_trait]
impl Stage for TableReader {
    fn name(&self) -> &str {
        "reader"
    }
    fn kind(&self) -> &'static str {
        "test"
    }
    async fn run(&self, ctx: StageContext) -> anyhow::Result<Exit> {
        ctx.metrics.read_to(0);
        loop {
            tokio::select! {
                _ = ctx.cancel.cancelled() => return Ok(Exit::Cancelled),
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
            let v = self.table.load(Ordering::SeqCst);
            if ctx.metrics.read_version() < Some(v) {
                ctx.metrics.read_to(v);
            }
        }
    }
}

#[tokio::test]
async fn shutdown_stops_bronze_first_and_lets_readers_handle_its_last_commit() {
    let table = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let reader = Arc::new(TableReader {
        table: table.clone(),
    });
    let sup = Supervisor::new(
        pipeline(),
        vec![
            Arc::new(TableWriter {
                table: table.clone(),
                last: 7,
            }),
            reader,
        ],
        Backoff::default(),
    );
    sup.start("bronze").unwrap();
    sup.start("reader").unwrap();
    wait_for(&sup, "reader", StageState::Running).await;
    sup.shutdown(Duration::from_secs(10)).await;
    let read = sup.entry("reader").unwrap().metrics.read_version();
    assert_eq!(
        read,
        Some(7),
        "the reader stopped before bronze's last commit"
    );
    assert_eq!(sup.state("bronze"), Some(StageState::Stopped));
    assert_eq!(sup.state("reader"), Some(StageState::Stopped));
}
