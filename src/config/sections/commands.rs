//! `[stage.NAME]`: external command stages, with their restart policy, start conditions and
//! readiness checks.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::reader::{split_list, Reader};
use crate::config::ConfigError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    No,
    OnFailure,
    Always,
}

pub const RESTART_CHOICES: &[(&str, RestartPolicy)] = &[
    ("no", RestartPolicy::No),
    ("on_failure", RestartPolicy::OnFailure),
    ("always", RestartPolicy::Always),
];

/// When a stage that depends on another may start (process-compose's conditions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The dependency runs.
    Started,
    /// The dependency is ready (a built-in stage runs; a command passed its probe).
    Ready,
    /// The dependency ended by itself with success.
    Completed,
}

/// How a command stage tells it is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// As soon as it runs.
    Started,
    /// A GET of this URL answers 2xx.
    Http(String),
    /// This shell command exits 0.
    Exec(String),
    /// Its output has a line containing this text.
    LogLine(String),
}

/// An external command run as a stage (`[stage.NAME]`).
#[derive(Debug, Clone)]
pub struct CommandSettings {
    pub name: String,
    pub command: String,
    pub cwd: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub restart: RestartPolicy,
    pub depends_on: Vec<String>,
    /// `depends_on` entries with their condition (`name` or `name:started|ready|completed`).
    pub conditions: Vec<(String, Condition)>,
    pub readiness: Readiness,
    /// Restarts allowed by the policy before the stage is left failed (`None`: no limit).
    pub max_restarts: Option<u32>,
    pub stop_timeout: Duration,
}

/// Built-in stage names; a command stage may not reuse them.
pub const BUILTIN_STAGES: &[&str] = &["source", "bronze", "ner", "trending", "collect", "classify"];

pub(super) fn parse_commands(r: &Reader) -> Result<Vec<CommandSettings>, ConfigError> {
    let mut out = Vec::new();
    for name in r.sections_with_prefix("stage.") {
        let section = format!("stage.{name}");
        r.reject_unknown(
            &section,
            &[
                "command",
                "cwd",
                "env",
                "restart",
                "depends_on",
                "stop_timeout",
                "max_restarts",
                "ready_http",
                "ready_exec",
                "ready_log",
            ],
        )?;
        if !valid_stage_name(&name) || BUILTIN_STAGES.contains(&name.as_str()) {
            return Err(ConfigError::invalid(
                &format!("[{section}]"),
                &name,
                "a stage name of letters, digits, - and _ that is not a built-in stage",
            ));
        }
        let command = r.string(&section, "command", "");
        if command.is_empty() {
            return Err(ConfigError::invalid(
                &format!("{section}.command"),
                "",
                "a shell command to run",
            ));
        }
        let env = split_list(&r.string(&section, "env", ""))
            .into_iter()
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => {
                    Ok((k.trim().to_string(), v.trim().to_string()))
                }
                _ => Err(ConfigError::invalid(
                    &format!("{section}.env"),
                    &pair,
                    "comma-separated NAME=value pairs",
                )),
            })
            .collect::<Result<_, _>>()?;
        let mut conditions = Vec::new();
        for item in split_list(&r.string(&section, "depends_on", "")) {
            let (dep, cond) = item.split_once(':').unwrap_or((&item, "started"));
            let cond = match cond.trim() {
                "started" => Condition::Started,
                "ready" => Condition::Ready,
                "completed" => Condition::Completed,
                _ => {
                    return Err(ConfigError::invalid(
                        &format!("{section}.depends_on"),
                        &item,
                        "stage names, each optionally with :started, :ready or :completed (e.g. bronze:ready, setup:completed)",
                    ))
                }
            };
            conditions.push((dep.trim().to_string(), cond));
        }
        out.push(CommandSettings {
            command,
            cwd: r
                .raw(&section, "cwd")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            env,
            restart: r.choice(&section, "restart", RestartPolicy::No, RESTART_CHOICES)?,
            depends_on: conditions.iter().map(|(n, _)| n.clone()).collect(),
            conditions,
            readiness: readiness(r, &section)?,
            max_restarts: match r.parse(
                &section,
                "max_restarts",
                0u32,
                "a whole number of restarts (0 = no limit)",
                |_| true,
            )? {
                0 => None,
                n => Some(n),
            },
            stop_timeout: Duration::from_secs_f64(r.parse(
                &section,
                "stop_timeout",
                5.0,
                "a number of seconds >= 0",
                |v: f64| v.is_finite() && v >= 0.0,
            )?),
            name,
        });
    }
    Ok(out)
}

/// `ready_http`, `ready_exec` or `ready_log` (at most one).
fn readiness(r: &Reader, section: &str) -> Result<Readiness, ConfigError> {
    let get = |k: &str| {
        r.raw(section, k)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let probes = [
        get("ready_http").map(Readiness::Http),
        get("ready_exec").map(Readiness::Exec),
        get("ready_log").map(Readiness::LogLine),
    ];
    let mut set = probes.into_iter().flatten();
    let first = set.next();
    if set.next().is_some() {
        return Err(ConfigError::invalid(
            &format!("{section}.ready_http"),
            "several probes",
            "one of ready_http, ready_exec or ready_log",
        ));
    }
    if let Some(Readiness::Http(url)) = &first {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::invalid(
                &format!("{section}.ready_http"),
                url,
                "an http(s) URL that answers 2xx once the command is ready",
            ));
        }
    }
    Ok(first.unwrap_or(Readiness::Started))
}

fn valid_stage_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
