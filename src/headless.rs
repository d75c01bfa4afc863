//! `ssp-tui run <STAGE>...`: stages without the TUI, a status line per stage every few
//! seconds; exits 0 after a graceful stop on Ctrl-C / SIGTERM, or by itself once every stage
//! it started has drained. Messages the broker never acknowledged are named at exit, which
//! is then non-zero ([`UNDELIVERED_EXIT`]).

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

use crate::stage::{StageState, StageStatus, Supervisor};

/// Status output that survives its reader going away: after the first failed write (a closed
/// pipe), lines are logged as dropped once and the run goes on.
struct Lossy<'a> {
    out: &'a mut (dyn Write + Send),
    closed: bool,
}

impl Write for Lossy<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !self.closed {
            if let Err(e) = self.out.write_all(buf) {
                self.closed = true;
                tracing::warn!(error = %e, "stdout closed: status lines are no longer printed");
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.closed && self.out.flush().is_err() {
            self.closed = true;
        }
        Ok(())
    }
}

/// How long a graceful stop may take before the process gives up waiting.
const SHUTDOWN: Duration = Duration::from_secs(30);

/// Runs until done; returns the process exit code.
pub async fn run(
    sup: Arc<Supervisor>,
    names: &[String],
    every: Duration,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<i32> {
    // One receiver each for the whole run, made before any stage starts (until then a signal
    // ends the process at once, a running bronze unflushed). A `ctrl_c()` future made afresh on
    // every turn of the loop missed a Ctrl-C that arrived between two turns (the signal driver
    // runs on a worker thread, this loop on the caller's), and the run never stopped.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    // A closed stdout (`| head -1`) must not stop the stages: status lines are then dropped.
    let out = &mut Lossy { out, closed: false };
    // Exactly the named stages: a dependency elsewhere is waited for by the stage itself.
    let mut started = BTreeSet::new();
    for name in names {
        sup.start_only(name)?;
        started.insert(name.clone());
    }
    let publisher = Publisher::start(&sup);
    let stall_watch = sup.spawn_stall_watch().map(AbortOnDrop);
    let mut print = tokio::time::interval(every);
    let mut check = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = interrupt.recv() => break,
            _ = term.recv() => break,
            _ = print.tick() => print_status(&sup, &started, out)?,
            // A state change is seen at once; the tick is a fallback for a missed wake-up.
            _ = async {
                tokio::select! {
                    _ = sup.pipeline().state_changed.notified() => {}
                    _ = check.tick() => {}
                }
            } => {
                let statuses = sup.snapshot();
                let mine = statuses.iter().filter(|s| started.contains(&s.name));
                // A stage stopped by a remote command waits for `start`: only stages that
                // ended by themselves end the process.
                if mine
                    .clone()
                    .all(|s| matches!(s.state, StageState::Completed | StageState::Failed))
                {
                    publisher.stop().await;
                    print_status(&sup, &started, out)?;
                    let failed = mine.filter(|s| s.state == StageState::Failed).count();
                    writeln!(out, "all stages finished{}", if failed > 0 { " (some failed)" } else { "" })?;
                    return Ok(delivery_verdict(out, if failed > 0 { 1 } else { 0 })?);
                }
            }
        }
    }
    writeln!(out, "stopping: flushing every stage...")?;
    out.flush()?;
    drop(stall_watch);
    shutdown(&sup, out).await?;
    publisher.stop().await;
    print_status(&sup, &started, out)?;
    Ok(delivery_verdict(out, 0)?)
}

/// Exit code of a run that ended with messages the broker never acknowledged.
pub const UNDELIVERED_EXIT: i32 = 3;

/// Stops every stage (bounded by [`SHUTDOWN`]); while producers hold messages the broker has
/// not acknowledged, says every second how many and how long it still waits.
async fn shutdown(sup: &Supervisor, out: &mut (dyn Write + Send)) -> std::io::Result<()> {
    let deadline = tokio::time::Instant::now() + SHUTDOWN;
    let stop = sup.shutdown(SHUTDOWN);
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(()),
            _ = tick.tick() => {
                let n = crate::bus::kafka::undelivered();
                if n > 0 {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    writeln!(out, "waiting for the broker: {n} messages not acknowledged yet ({} s left)", left.as_secs())?;
                    out.flush()?;
                }
            }
        }
    }
}

/// Names the messages that were never delivered to the broker, if any, and turns a clean
/// exit code into [`UNDELIVERED_EXIT`]: a run never ends 0 with a silent loss.
fn delivery_verdict(out: &mut (dyn Write + Send), code: i32) -> std::io::Result<i32> {
    let n = crate::bus::kafka::undelivered();
    if n == 0 {
        return Ok(code);
    }
    tracing::error!(
        undelivered = n,
        "exiting with messages never delivered to the broker"
    );
    writeln!(out, "{n} messages were not delivered to the broker")?;
    out.flush()?;
    Ok(if code == 0 { UNDELIVERED_EXIT } else { code })
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Publishes this process's stage status and runs remote commands (`[status] publish`).
struct Publisher {
    cancel: tokio_util::sync::CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Publisher {
    fn start(sup: &Arc<Supervisor>) -> Publisher {
        let cancel = tokio_util::sync::CancellationToken::new();
        let control = &sup.pipeline().settings.control;
        let task = control.publish.then(|| {
            let (instance, host, pid) = crate::remote::instance_id();
            match crate::remote::open(&sup.pipeline().settings, &instance) {
                Ok(channel) => {
                    let agent = Arc::new(crate::remote::Agent {
                        instance,
                        host,
                        pid,
                        channel,
                    });
                    Some(agent.spawn(sup.clone(), control.interval, cancel.clone()))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "stage status is not published");
                    None
                }
            }
        });
        Publisher {
            cancel,
            task: task.flatten(),
        }
    }

    /// Publishes the last status (`exited`) and stops, waiting at most a few seconds.
    async fn stop(&self) {
        self.cancel.cancel();
        if let Some(t) = &self.task {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
            while !t.is_finished() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

fn print_status(
    sup: &Supervisor,
    names: &BTreeSet<String>,
    out: &mut (dyn Write + Send),
) -> std::io::Result<()> {
    for s in sup.snapshot().iter().filter(|s| names.contains(&s.name)) {
        writeln!(out, "{}", status_line(s))?;
    }
    out.flush()
}

pub fn status_line(s: &StageStatus) -> String {
    let mut line = format!(
        "{:<10} {:<11} up {:>6}  in {:>9}  out {:>9}  {:>8.1}/s  errors {}  restarts {}",
        s.name,
        s.state.label(),
        s.uptime
            .map(|u| format!("{}s", u.as_secs()))
            .unwrap_or_else(|| "-".into()),
        s.input,
        s.output,
        s.rate,
        s.errors,
        s.restarts,
    );
    if let Some(l) = &s.latency {
        line.push_str(&format!("  latency {}", l.text()));
    }
    if !s.detail.is_empty() {
        line.push_str(&format!("  [{}]", s.detail));
    }
    if let Some(e) = &s.last_error {
        line.push_str(&format!("  last error: {e}"));
    }
    line
}
