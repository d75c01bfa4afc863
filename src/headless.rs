//! `ssp-tui run <STAGE>...`: stages without the TUI, a status line per stage every few
//! seconds; exits 0 after a graceful stop on Ctrl-C / SIGTERM, or by itself once every stage
//! it started has drained.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

use crate::stage::{StageState, StageStatus, Supervisor};

/// How long a graceful stop may take before the process gives up waiting.
const SHUTDOWN: Duration = Duration::from_secs(30);

/// Runs until done; returns the process exit code.
pub async fn run(
    sup: Arc<Supervisor>,
    names: &[String],
    every: Duration,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<i32> {
    let mut started = BTreeSet::new();
    for name in names {
        started.extend(sup.start(name)?);
        started.insert(name.clone());
    }
    let mut term = signal(SignalKind::terminate())?;
    let mut print = tokio::time::interval(every);
    let mut check = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = print.tick() => print_status(&sup, &started, out)?,
            _ = check.tick() => {
                let statuses = sup.snapshot();
                let mine = statuses.iter().filter(|s| started.contains(&s.name));
                if mine.clone().all(|s| !s.state.is_active()) {
                    print_status(&sup, &started, out)?;
                    let failed = mine.filter(|s| s.state == StageState::Failed).count();
                    writeln!(out, "all stages finished{}", if failed > 0 { " (some failed)" } else { "" })?;
                    return Ok(if failed > 0 { 1 } else { 0 });
                }
            }
        }
    }
    writeln!(out, "stopping: flushing every stage...")?;
    out.flush()?;
    sup.shutdown(SHUTDOWN).await;
    print_status(&sup, &started, out)?;
    Ok(0)
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
    if !s.detail.is_empty() {
        line.push_str(&format!("  [{}]", s.detail));
    }
    if let Some(e) = &s.last_error {
        line.push_str(&format!("  last error: {e}"));
    }
    line
}
