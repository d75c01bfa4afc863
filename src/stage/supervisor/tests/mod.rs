//! Shared fixtures of the supervisor tests: a pipeline on the shipped config, test stages
//! and command settings, and waiting for a state.

mod dependencies;
mod restart;
mod shutdown;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::bus::{embedded::Retention, EmbeddedBus};
use crate::config::{CommandSettings, RestartPolicy, Settings};
use crate::stage::command::CommandStage;
use crate::stage::{Exit, LogStream, StageContext};

fn pipeline() -> Arc<Pipeline> {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.ini");
    let settings = Settings::load_with_env(Some(&shipped), &[]).unwrap();
    let bus = EmbeddedBus::new(Retention {
        messages: 100,
        bytes: 1 << 20,
    });
    Pipeline::new(settings, Arc::new(bus))
}

/// Fails `failures` times, then drains; counts runs.
struct Flaky {
    name: &'static str,
    failures: u32,
    runs: Arc<AtomicU32>,
    policy: RestartPolicy,
    deps: Vec<String>,
}

#[async_trait]
impl Stage for Flaky {
    fn name(&self) -> &str {
        self.name
    }
    fn kind(&self) -> &'static str {
        "test"
    }
    fn depends_on(&self) -> Vec<String> {
        self.deps.clone()
    }
    fn restart_policy(&self) -> RestartPolicy {
        self.policy
    }
    async fn run(&self, _ctx: StageContext) -> anyhow::Result<Exit> {
        let n = self.runs.fetch_add(1, Ordering::SeqCst);
        if n < self.failures {
            anyhow::bail!("boom {n}");
        }
        Ok(Exit::Drained)
    }
}

fn flaky(failures: u32, policy: RestartPolicy) -> (Arc<dyn Stage>, Arc<AtomicU32>) {
    let runs = Arc::new(AtomicU32::new(0));
    let stage = Flaky {
        name: "flaky",
        failures,
        runs: runs.clone(),
        policy,
        deps: vec![],
    };
    (Arc::new(stage), runs)
}

async fn wait_for(sup: &Supervisor, name: &str, state: StageState) {
    for _ in 0..10_000 {
        if sup.state(name) == Some(state) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{name} never reached {state:?}; is {:?}", sup.state(name));
}

fn command(name: &str, script: &str) -> CommandSettings {
    CommandSettings {
        name: name.into(),
        command: script.into(),
        cwd: None,
        env: vec![],
        restart: RestartPolicy::No,
        depends_on: vec![],
        conditions: vec![],
        readiness: crate::config::Readiness::Started,
        max_restarts: None,
        stop_timeout: Duration::from_secs(2),
    }
}

async fn wait_secs(sup: &Supervisor, name: &str, want: StageState, secs: u64) {
    for _ in 0..secs * 100 {
        if sup.state(name) == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{name} never became {want:?}: {:?}", sup.snapshot());
}
