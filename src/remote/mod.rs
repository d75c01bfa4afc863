//! Stages across processes: every process (TUI or headless) publishes its stages' status
//! every second and accepts stop / start / restart commands addressed to it, through what the
//! pipeline already shares: Kafka (a compacted `<topic>.status` topic and a `<topic>.control`
//! topic) or else the lake (`_status/` objects, on a folder or S3). No new service.

mod agent;
mod kafka;
mod lake;
mod view;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use agent::Agent;
pub use view::{RemoteStage, RemoteView};

use crate::config::{BusKind, Settings};

/// One stage of one process, as it last reported itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageReport {
    /// The process: `<host>-<pid>-<random>` (unique across restarts and containers).
    pub instance: String,
    pub host: String,
    pub pid: u32,
    pub stage: String,
    /// The state label (`running`, `stopped`, `stalled`, ..., or `exited` when the process
    /// ended cleanly).
    pub state: String,
    pub uptime_s: Option<f64>,
    pub input: u64,
    pub output: u64,
    pub rate: f64,
    pub errors: u64,
    pub restarts: u32,
    pub last_error: Option<String>,
    pub detail: String,
    /// When it was sent (epoch ms, the sender's clock).
    pub sent_ms: i64,
    /// End-to-end latency of what it made count (absent from older senders).
    #[serde(default)]
    pub latency: Option<crate::latency::LatencySummary>,
    #[serde(default)]
    pub read_version: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Stop,
    Start,
    Restart,
}

impl Action {
    pub fn verb(self) -> &'static str {
        match self {
            Action::Stop => "stop",
            Action::Start => "start",
            Action::Restart => "restart",
        }
    }
}

/// A command to one stage of one process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub id: String,
    pub instance: String,
    pub stage: String,
    pub action: Action,
}

/// A process's answer to a [`Command`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub id: String,
    pub instance: String,
    pub stage: String,
    pub ok: bool,
    pub message: String,
}

/// Where reports, commands and acks travel.
#[async_trait]
pub trait Channel: Send + Sync {
    /// Publishes this process's reports (the newest per stage replaces the older).
    async fn publish(&self, reports: &[StageReport]) -> anyhow::Result<()>;
    /// The newest report of every stage of every process.
    async fn reports(&self) -> anyhow::Result<Vec<StageReport>>;
    async fn send(&self, command: &Command) -> anyhow::Result<()>;
    /// Commands for `instance` not handed out before.
    async fn commands(&self, instance: &str) -> anyhow::Result<Vec<Command>>;
    async fn ack(&self, ack: &Ack) -> anyhow::Result<()>;
    /// Acks not handed out before.
    async fn acks(&self) -> anyhow::Result<Vec<Ack>>;
    /// What it goes through, for the screen.
    fn describe(&self) -> String;
}

/// The channel for this pipeline: Kafka when the bus is Kafka, else the lake.
pub fn open(settings: &Settings, instance: &str) -> anyhow::Result<Arc<dyn Channel>> {
    Ok(match settings.pipeline.bus {
        BusKind::Kafka => Arc::new(kafka::KafkaChannel::new(settings, instance)?),
        BusKind::Embedded => Arc::new(lake::LakeChannel::new(&settings.lake.tables)?),
    })
}

/// This process's identity: host, pid and a random suffix (pids repeat in containers).
pub fn instance_id() -> (String, String, u32) {
    let host = hostname();
    let pid = std::process::id();
    let id = format!("{host}-{pid}-{:04x}", rand::random::<u16>());
    (id, host, pid)
}

fn hostname() -> String {
    std::env::var("SSP_HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "localhost".into())
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
