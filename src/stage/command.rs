//! External command stages: a child process whose output goes to the stage's log buffer.
//! Stop sends SIGTERM to its process group, waits `stop_timeout`, then kills.

use std::process::Stdio;

use anyhow::Context as _;
use async_trait::async_trait;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;

use super::{Exit, LogBuffer, LogStream, Stage, StageContext, StageMetrics};
use crate::config::{CommandSettings, Readiness, RestartPolicy};

pub struct CommandStage {
    settings: CommandSettings,
}

impl CommandStage {
    pub fn new(settings: CommandSettings) -> Self {
        CommandStage { settings }
    }
}

#[async_trait]
impl Stage for CommandStage {
    fn name(&self) -> &str {
        &self.settings.name
    }

    fn kind(&self) -> &'static str {
        "command"
    }

    fn depends_on(&self) -> Vec<String> {
        self.settings.depends_on.clone()
    }

    fn restart_policy(&self) -> RestartPolicy {
        self.settings.restart
    }

    fn conditions(&self) -> Vec<(String, crate::config::Condition)> {
        self.settings.conditions.clone()
    }

    fn max_restarts(&self) -> Option<u32> {
        self.settings.max_restarts
    }

    fn reports_ready(&self) -> bool {
        true
    }

    async fn run(&self, ctx: StageContext) -> anyhow::Result<Exit> {
        let s = &self.settings;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(&s.command)
            .envs(s.env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(cwd) = &s.cwd {
            cmd.current_dir(cwd);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting `{}`", s.command))?;
        let pid = child.id().map(|p| Pid::from_raw(p as i32));
        ctx.log.event(format!(
            "$ {} (pid {})",
            s.command,
            pid.map_or(0, |p| p.as_raw())
        ));
        let marker = match &s.readiness {
            Readiness::LogLine(text) => Some(std::sync::Arc::<str>::from(text.as_str())),
            _ => None,
        };
        let out = child.stdout.take().map(|o| {
            tokio::spawn(pump(
                o,
                LogStream::Stdout,
                ctx.log.clone(),
                ctx.metrics.clone(),
                marker.clone(),
            ))
        });
        let err = child.stderr.take().map(|e| {
            tokio::spawn(pump(
                e,
                LogStream::Stderr,
                ctx.log.clone(),
                ctx.metrics.clone(),
                marker.clone(),
            ))
        });
        let probe = match &s.readiness {
            Readiness::Started => {
                ctx.metrics.set_ready(true);
                None
            }
            Readiness::LogLine(_) => None,
            probe => Some(tokio::spawn(run_probe(
                probe.clone(),
                ctx.metrics.clone(),
                ctx.log.clone(),
                ctx.cancel.clone(),
            ))),
        };
        let _probe = AbortOnDrop(probe);
        let finish_output = || async {
            for task in [out, err].into_iter().flatten() {
                let _ = task.await;
            }
        };
        tokio::select! {
            status = child.wait() => {
                let status = status.context("waiting for the process")?;
                finish_output().await;
                ctx.log.event(format!("exited: {status}"));
                if status.success() {
                    Ok(Exit::Drained)
                } else {
                    anyhow::bail!("`{}` exited: {status}", s.command)
                }
            }
            _ = ctx.cancel.cancelled() => {
                if let Some(pid) = pid {
                    let _ = killpg(pid, Signal::SIGTERM);
                }
                let status = match tokio::time::timeout(s.stop_timeout, child.wait()).await {
                    Ok(status) => status,
                    Err(_) => {
                        ctx.log.event(format!(
                            "no exit {:.1}s after SIGTERM: killing",
                            s.stop_timeout.as_secs_f64()
                        ));
                        if let Some(pid) = pid {
                            let _ = killpg(pid, Signal::SIGKILL);
                        }
                        child.wait().await
                    }
                };
                finish_output().await;
                if let Ok(status) = status {
                    ctx.log.event(format!("exited: {status}"));
                }
                Ok(Exit::Cancelled)
            }
        }
    }
}

struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            t.abort();
        }
    }
}

/// Polls an HTTP or exec readiness probe every second until it passes.
async fn run_probe(
    probe: Readiness,
    metrics: std::sync::Arc<StageMetrics>,
    log: LogBuffer,
    cancel: tokio_util::sync::CancellationToken,
) {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(2))
        .build();
    loop {
        let ok = match &probe {
            Readiness::Http(url) => match &http {
                Ok(c) => c
                    .get(url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success()),
                Err(_) => false,
            },
            Readiness::Exec(cmd) => Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await
                .is_ok_and(|s| s.success()),
            Readiness::Started | Readiness::LogLine(_) => true,
        };
        if ok {
            log.event("ready (probe passed)");
            metrics.set_ready(true);
            return;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}

/// Copies a child's output into the log, a line at a time (invalid UTF-8 shown lossily); a
/// line containing `marker` makes the stage ready.
async fn pump(
    stream: impl AsyncRead + Unpin,
    kind: LogStream,
    log: LogBuffer,
    metrics: std::sync::Arc<StageMetrics>,
    marker: Option<std::sync::Arc<str>>,
) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                if marker.as_deref().is_some_and(|m| text.contains(m)) && !metrics.is_ready() {
                    metrics.set_ready(true);
                    log.event("ready (log line seen)");
                }
                log.push(kind, text.trim_end_matches(['\n', '\r']));
                metrics.add_out(1);
            }
        }
    }
}
