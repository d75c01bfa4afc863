//! The `trending` stage: counts hashtags all-time and over a sliding window into the store.
//!
//! Input (`[trending] input`):
//! * `lake` (default): tails the `bronze` Delta table by version ([`LakeConsumer`]): each
//!   poll reads the next commits' log entries (flat cost, whatever the table's history), counts
//!   the files they added, and stores the counts *with* the last table version counted,
//!   atomically, so a restart neither recounts nor skips a commit. A data file that cannot be
//!   read is shown as an error and retried with backoff; the version does not move past it.
//!   Drains once `bronze` completed in this process and no commit is left.
//! * `bus`: its own consumer group on the tweet topic; counts are flushed to the store every
//!   `flush_seconds` together with the offsets they cover, and only then are the offsets
//!   committed to the bus (a restart skips what the store already holds).
//!
//! One run per lake and table: the stage holds the lease `trending` (`trending.<table>` for
//! another `[trending] table`) while it runs; a second one fails at once (not restarted) with
//! a message naming the holder.
//!
//! When the store is unreachable (database down, wrong password) the stage keeps counting in
//! memory, shows `backing off: <error>`, retries with exponential backoff and catches up in
//! one batch. A batch that was sent is retried *as is* until the store answers, and the store
//! recognises a batch it already applied, so nothing is counted twice.
//!
//! With the embedded store the stage also writes the gold Delta table (see
//! [`crate::trending::gold`]).
//!
//! [`LakeConsumer`]: crate::lake::LakeConsumer

mod bus;
mod lake;
mod run;

use std::sync::{Arc, Mutex, OnceLock, Weak};

use async_trait::async_trait;

use self::run::Run;
use super::supervisor::Fatal;
use super::{Exit, Stage, StageContext};
use crate::bus::Bus;
use crate::config::{BusKind, Settings, StoreKind, TrendingInput, TrendingSettings};
use crate::lake::{Lease, LeaseError};
use crate::store;

/// The trending stage's consumer group (bus input).
pub const GROUP: &str = "ssp-trending";

pub struct TrendingStage {
    settings: TrendingSettings,
    bus: BusKind,
    standalone: bool,
}

impl TrendingStage {
    pub fn new(settings: &Settings) -> TrendingStage {
        TrendingStage {
            settings: settings.trending.clone(),
            bus: settings.pipeline.bus,
            standalone: false,
        }
    }

    /// Without dependencies: counts a lake that other processes write (or wrote).
    pub fn standalone(mut self) -> TrendingStage {
        self.standalone = true;
        self
    }
}

/// The lease one run holds: `trending` for the default table, `trending.<table>` otherwise.
pub fn lease_name(table: &str) -> String {
    if table == "trending_hashtags" {
        "trending".to_string()
    } else {
        format!("trending.{table}")
    }
}

#[async_trait]
impl Stage for TrendingStage {
    fn name(&self) -> &str {
        "trending"
    }

    fn kind(&self) -> &'static str {
        "built-in"
    }

    /// With the embedded bus, what feeds the input must run in this process.
    fn depends_on(&self) -> Vec<String> {
        match (self.bus, self.settings.input) {
            _ if self.standalone => Vec::new(),
            (BusKind::Kafka, _) => Vec::new(),
            (BusKind::Embedded, TrendingInput::Lake) => vec!["bronze".to_string()],
            (BusKind::Embedded, TrendingInput::Bus) => vec!["source".to_string()],
        }
    }

    fn in_process_dependencies(&self) -> Vec<String> {
        match (self.bus, self.settings.input) {
            (BusKind::Embedded, TrendingInput::Bus) if !self.standalone => {
                vec!["source".to_string()]
            }
            _ => Vec::new(),
        }
    }

    async fn run(&self, ctx: StageContext) -> anyhow::Result<Exit> {
        let p = ctx.pipeline.clone();
        // Held for the run. Another holder is not a failure a restart fixes: fatal.
        let _lease = match Lease::acquire(p.layout.root(), &lease_name(&self.settings.table)) {
            Ok(l) => l,
            Err(e @ LeaseError::Held { .. }) => return Err(Fatal(e.to_string()).into()),
            Err(e) => return Err(anyhow::anyhow!("{e}")),
        };
        // The stage's own settings win: tests and benchmarks build it with their own.
        let mut settings = p.settings.clone();
        settings.trending = self.settings.clone();
        let store = store::open(&settings).map_err(|e| anyhow::anyhow!("{e}"))?;
        ctx.log.event(format!(
            "input {}, rule {}, window {}s, store {}",
            self.settings.input,
            self.settings.rule,
            self.settings.window.as_secs_f64(),
            store.describe()
        ));
        let bus_id = bus_identity(&settings, &p.bus);
        let Some(mut run) = Run::start(&ctx, store, &self.settings, bus_id).await? else {
            return Ok(Exit::Cancelled);
        };
        let exit = match self.settings.input {
            TrendingInput::Lake => run.lake().await,
            TrendingInput::Bus => run.bus().await,
        };
        if exit.is_ok() && run.store.kind() == StoreKind::Embedded {
            run.snapshot(true).await;
        }
        exit
    }
}

/// Identity of the bus the offsets belong to: Kafka keeps offsets across processes, the
/// embedded bus starts empty in every process (and every new bus in tests).
fn bus_identity(settings: &Settings, bus: &Arc<dyn Bus>) -> String {
    match settings.pipeline.bus {
        BusKind::Kafka => format!("kafka {}", settings.kafka.bootstrap_servers),
        BusKind::Embedded => {
            type Ids = Mutex<Vec<(Weak<dyn Bus>, u64)>>;
            static IDS: OnceLock<Ids> = OnceLock::new();
            let mut ids = IDS
                .get_or_init(Default::default)
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            ids.retain(|(w, _)| w.strong_count() > 0);
            let id = match ids
                .iter()
                .find(|(w, _)| w.upgrade().is_some_and(|b| Arc::ptr_eq(&b, bus)))
            {
                Some((_, id)) => *id,
                None => {
                    let id = rand::random::<u64>();
                    ids.push((Arc::downgrade(bus), id));
                    id
                }
            };
            format!("embedded {}-{id:016x}", std::process::id())
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
