//! Broker failures under a running replay through `ssp-tui run source bronze` (the debug
//! binary): the broker killed (-9) and restarted on its data, the broker paused with SIGSTOP
//! for 30 s, the idempotent producer hit by a fatal error, and a quit while the broker is gone.
//! Every run ends with each tweet in bronze exactly once and exit 0, or non-zero naming how
//! many tweets were not delivered: never exit 0 with a loss.
//!
//! Each test runs its own Apache Kafka broker on port 19400 (`scripts/start-kafka.sh`, data
//! deleted at the end), one test at a time.

#[path = "integration/kafka_common/mod.rs"]
mod kafka_common;

use std::path::Path;
use std::process::{Child, ExitStatus};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kafka_common::broker::{kafka_runnable, OwnBroker};
use kafka_common::*;

const PORT: u16 = 19400;
/// One broker on PORT at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

struct Replay {
    dir: tempfile::TempDir,
    ids: Vec<String>,
    child: Child,
    t0: Instant,
}

/// `ssp-tui run source bronze` replaying `n` tweets at `rate` per second into a fresh lake.
fn start_replay(broker: &OwnBroker, n: usize, rate: u32, extra: &[(&str, &str)]) -> Replay {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("tweets.jsonl");
    let ids = write_tweets(&input, n, 41);
    let mut env = kafka_env(&broker.bootstrap(), &unique("fail"), dir.path());
    for (k, v) in [
        ("SSP__SOURCE__KIND", "replay"),
        ("SSP__SOURCE__PATH", input.to_str().unwrap()),
        ("SSP__SOURCE__RATE", &rate.to_string()),
        ("SSP__LAKE__ROLL_SECONDS", "0.5"),
        ("SSP__KAFKA__PROPERTIES__RECONNECT.BACKOFF.MAX.MS", "1000"),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    {
        env.push((k.to_string(), v.to_string()));
    }
    let child = spawn(
        &["run", "source", "bronze", "--every", "1"],
        &env,
        dir.path(),
        "run.out",
    );
    Replay {
        dir,
        ids,
        child,
        t0: Instant::now(),
    }
}

impl Replay {
    fn output(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("run.out")).unwrap_or_default()
    }

    /// Waits until bronze holds `rows` rows (the run still going).
    fn wait_rows(&mut self, rows: usize) {
        let got = wait_rows(self.dir.path(), rows, Duration::from_secs(90));
        assert!(
            got >= rows,
            "bronze grew to only {got} rows:\n{}",
            tail(&self.output())
        );
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the run ended early:\n{}",
            tail(&self.output())
        );
    }

    fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        // On a timeout, say what the run was doing before failing.
        let t0 = Instant::now();
        while self.child.try_wait().unwrap().is_none() && t0.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(50));
        }
        if self.child.try_wait().unwrap().is_none() {
            eprintln!(
                "still running after {limit:?}:\n{}\n{}",
                tail(&self.output()),
                log_warnings(self.dir.path())
            );
        }
        let status = wait_exit(&mut self.child, Duration::from_secs(1));
        eprintln!(
            "run ended after {:.1} s with {status}",
            self.t0.elapsed().as_secs_f64()
        );
        status
    }
}

/// The warnings and errors of the run's log (for the test's output).
fn log_warnings(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("logs/ssp-tui.log")).unwrap_or_default();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

fn tail(out: &str) -> String {
    let lines: Vec<&str> = out.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// The count a run names at exit ("N messages were not delivered to the broker"), if any.
fn undelivered_named(out: &str) -> Option<u64> {
    out.lines()
        .filter(|l| l.ends_with("messages were not delivered to the broker"))
        .find_map(|l| l.split_whitespace().next()?.parse().ok())
}

/// The last status line of a stage.
fn last_status<'a>(out: &'a str, stage: &str) -> &'a str {
    out.lines()
        .rev()
        .find(|l| l.split_whitespace().next() == Some(stage))
        .unwrap_or("")
}

/// Exit 0 and every tweet exactly once, or non-zero naming the tweets not delivered (and the
/// others in bronze, none twice). Returns the rows in bronze.
fn assert_no_silent_loss(dir: &Path, ids: &[String], status: ExitStatus, out: &str) -> usize {
    let mut rows = bronze_ids(dir);
    let total = rows.len();
    rows.sort();
    rows.dedup();
    eprintln!(
        "bronze: {total} rows, {} distinct, of {} tweets",
        rows.len(),
        ids.len()
    );
    if status.success() {
        assert_exactly_once(dir, ids);
        assert_eq!(undelivered_named(out), None, "exit 0 names no loss");
    } else {
        let missing = undelivered_named(out)
            .unwrap_or_else(|| panic!("{status} without naming the undelivered:\n{}", tail(out)));
        eprintln!("the run named {missing} tweets not delivered");
        assert_eq!(total, rows.len(), "no tweet written twice");
        assert!(
            rows.len() as u64 + missing >= ids.len() as u64,
            "{} in bronze + {missing} named < {} tweets",
            rows.len(),
            ids.len()
        );
    }
    total
}

#[test]
fn broker_killed_and_restarted_under_a_replay_loses_nothing_silently() {
    if !kafka_runnable() {
        return;
    }
    let _serial = serial();
    let broker = OwnBroker::start(PORT);
    let mut run = start_replay(&broker, 20_000, 1000, &[]);
    run.wait_rows(3_000);
    let killed = Instant::now();
    broker.kill9();
    eprintln!(
        "broker killed with {} rows in bronze",
        bronze_ids(run.dir.path()).len()
    );
    std::thread::sleep(Duration::from_secs(5));
    let down = last_status(&run.output(), "source").to_string();
    broker.up();
    eprintln!(
        "broker back after {:.1} s; source while it was down: {down}",
        killed.elapsed().as_secs_f64()
    );
    let status = run.wait_exit(Duration::from_secs(150));
    let out = run.output();
    eprintln!("{}\n{}", tail(&out), log_warnings(run.dir.path()));
    let rows = assert_no_silent_loss(run.dir.path(), &run.ids, status, &out);
    assert!(status.success(), "the run recovers: {rows} rows");
    assert!(
        down.contains("backing off") || down.contains("undelivered"),
        "the source showed the outage: {down}"
    );
}

#[test]
fn broker_paused_30s_under_a_replay_loses_nothing_silently() {
    if !kafka_runnable() {
        return;
    }
    let _serial = serial();
    let broker = OwnBroker::start(PORT);
    let mut run = start_replay(&broker, 20_000, 1000, &[]);
    run.wait_rows(3_000);
    broker.pause();
    let paused = Instant::now();
    eprintln!(
        "broker paused with {} rows in bronze",
        bronze_ids(run.dir.path()).len()
    );
    std::thread::sleep(Duration::from_secs(30));
    let during = run.output();
    broker.resume();
    eprintln!(
        "broker resumed after {:.1} s; bronze while paused: {}",
        paused.elapsed().as_secs_f64(),
        last_status(&during, "bronze")
    );
    let status = run.wait_exit(Duration::from_secs(150));
    let out = run.output();
    eprintln!("{}\n{}", tail(&out), log_warnings(run.dir.path()));
    let rows = assert_no_silent_loss(run.dir.path(), &run.ids, status, &out);
    assert!(status.success(), "the run recovers: {rows} rows");
    let bronze_during = during
        .lines()
        .filter(|l| l.starts_with("bronze"))
        .any(|l| l.contains("coordinator unreachable") || l.contains("broker unreachable"));
    assert!(
        bronze_during,
        "bronze showed that it could not reach the broker:\n{}",
        tail(&during)
    );
    let source_during = during
        .lines()
        .filter(|l| l.starts_with("source"))
        .any(|l| l.contains("not acknowledging") || l.contains("undelivered"));
    assert!(
        source_during,
        "the source showed that the broker does not acknowledge:\n{}",
        tail(&during)
    );
}

#[test]
fn a_fatal_idempotent_producer_error_is_shown_and_recovered() {
    if !kafka_runnable() {
        return;
    }
    let _serial = serial();
    let broker = OwnBroker::start(PORT);
    // SSP_FAULTS=kafka.producer_fatal: librdkafka raises a fatal UnknownProducerId error (as
    // when the broker lost the producer's state) once, with messages in flight.
    let mut run = start_replay(
        &broker,
        10_000,
        2000,
        &[("SSP_FAULTS", "kafka.producer_fatal")],
    );
    let status = run.wait_exit(Duration::from_secs(120));
    let out = run.output();
    eprintln!("{}\n{}", tail(&out), log_warnings(run.dir.path()));
    assert_no_silent_loss(run.dir.path(), &run.ids, status, &out);
    assert!(status.success());
    let source = last_status(&out, "source");
    assert!(
        source.contains("errors 1") && source.contains("UnknownProducerId"),
        "the fatal error shows on the source: {source}"
    );
    let log = std::fs::read_to_string(run.dir.path().join("logs/ssp-tui.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("ERROR") && l.contains("fatal") && l.contains("producer")),
        "the fatal error is logged"
    );
}

#[test]
fn quitting_while_the_broker_is_gone_names_the_undelivered_and_fails() {
    if !kafka_runnable() {
        return;
    }
    let _serial = serial();
    let broker = OwnBroker::start(PORT);
    let mut run = start_replay(&broker, 20_000, 1000, &[]);
    run.wait_rows(2_000);
    broker.kill9();
    std::thread::sleep(Duration::from_secs(3));
    sigterm(&run.child);
    let asked = Instant::now();
    let status = run.wait_exit(Duration::from_secs(60));
    let waited = asked.elapsed();
    let out = run.output();
    eprintln!("{}\n{}", tail(&out), log_warnings(run.dir.path()));
    assert!(!status.success(), "a quit with undelivered tweets fails");
    let missing = undelivered_named(&out).expect("names how many were not delivered");
    eprintln!(
        "quit: waited {:.1} s, {missing} tweets not delivered",
        waited.as_secs_f64()
    );
    assert!(missing > 0);
    assert!(waited < Duration::from_secs(45), "bounded wait: {waited:?}");
    let rows = bronze_ids(run.dir.path()).len();
    assert!(rows as u64 + missing <= run.ids.len() as u64);
}
