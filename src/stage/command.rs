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
use crate::config::{CommandSettings, RestartPolicy};

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
        let out = child.stdout.take().map(|o| {
            tokio::spawn(pump(
                o,
                LogStream::Stdout,
                ctx.log.clone(),
                ctx.metrics.clone(),
            ))
        });
        let err = child.stderr.take().map(|e| {
            tokio::spawn(pump(
                e,
                LogStream::Stderr,
                ctx.log.clone(),
                ctx.metrics.clone(),
            ))
        });
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

/// Copies a child's output into the log, a line at a time (invalid UTF-8 shown lossily).
async fn pump(
    stream: impl AsyncRead + Unpin,
    kind: LogStream,
    log: LogBuffer,
    metrics: std::sync::Arc<StageMetrics>,
) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                log.push(kind, text.trim_end_matches(['\n', '\r']));
                metrics.add_out(1);
            }
        }
    }
}
