//! `[tui]` (what the control centre starts) and `[status]` (stage status shared between
//! processes: heartbeats, lost and stalled stages, remote commands).

use std::time::Duration;

use super::reader::Reader;
use super::sections::BUILTIN_STAGES;
use super::ConfigError;

pub const TUI_KEYS: &[&str] = &["autostart", "mouse"];
pub const STATUS_KEYS: &[&str] = &[
    "publish",
    "interval_seconds",
    "lost_seconds",
    "stall_seconds",
    "restart_stalled",
];

/// The TUI's default autostart (what `ssp-tui` on the embedded default runs).
pub const DEFAULT_AUTOSTART: &str = "source, bronze, ner, trending, classify";

#[derive(Debug, Clone, PartialEq)]
pub struct ControlSettings {
    /// Stages the TUI starts when it opens; `ssp-tui attach` starts none.
    pub autostart: Vec<String>,
    /// The TUI takes mouse clicks and the wheel (off: the terminal keeps its own mouse
    /// selection).
    pub mouse: bool,
    /// Publish this process's stage status (and accept commands for its stages).
    pub publish: bool,
    /// How often status is published.
    pub interval: Duration,
    /// A remote stage without a heartbeat for this long is shown as `lost`.
    pub lost_after: Duration,
    /// A stage whose input lag grows while its commits stall for this long is `stalled`
    /// (`None`: never).
    pub stall_after: Option<Duration>,
    /// A stalled stage is restarted (at most once per stall period).
    pub restart_stalled: bool,
}

pub(super) fn parse(r: &Reader, commands: &[String]) -> Result<ControlSettings, ConfigError> {
    r.reject_unknown("tui", TUI_KEYS)?;
    r.reject_unknown("status", STATUS_KEYS)?;
    let raw = r.string("tui", "autostart", DEFAULT_AUTOSTART);
    let mut autostart = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !BUILTIN_STAGES.contains(&name) && !commands.iter().any(|c| c == name) {
            return Err(ConfigError::invalid(
                "tui.autostart",
                &raw,
                format!(
                    "a comma-separated list of stages ({}{}), or empty",
                    BUILTIN_STAGES.join(", "),
                    if commands.is_empty() {
                        String::new()
                    } else {
                        format!(", {}", commands.join(", "))
                    }
                ),
            ));
        }
        if !autostart.iter().any(|a| a == name) {
            autostart.push(name.to_string());
        }
    }
    let secs = |key: &str, default: f64, min: f64| -> Result<f64, ConfigError> {
        r.parse(
            "status",
            key,
            default,
            &format!("a number of seconds >= {min}"),
            |v: f64| v.is_finite() && v >= min && v <= 86_400.0,
        )
    };
    let interval = Duration::from_secs_f64(secs("interval_seconds", 1.0, 0.1)?);
    let lost_after = Duration::from_secs_f64(secs("lost_seconds", 5.0, 0.5)?);
    if lost_after <= interval {
        return Err(ConfigError::invalid(
            "status.lost_seconds",
            &lost_after.as_secs_f64().to_string(),
            "a number of seconds greater than status.interval_seconds",
        ));
    }
    let stall = secs("stall_seconds", 60.0, 0.0)?;
    Ok(ControlSettings {
        autostart,
        mouse: r.bool("tui", "mouse", true)?,
        publish: r.bool("status", "publish", true)?,
        interval,
        lost_after,
        stall_after: (stall > 0.0).then(|| Duration::from_secs_f64(stall)),
        restart_stalled: r.bool("status", "restart_stalled", false)?,
    })
}
