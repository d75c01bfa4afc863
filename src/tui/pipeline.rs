//! The pipeline view's model (`P`): each stage as a hop from what it reads to what it
//! writes, with the backlog in front of it (the bus group's lag, or the bronze versions it
//! has not handled yet), its state and rate (all its instances, local and remote), and the
//! end-to-end latency readout.

use crate::config::{BusKind, Settings, SourceKind, TrendingInput};
use crate::latency::LatencySummary;
use crate::stage::{StageState, StageStatus};

use super::app::App;

/// The shape of the configured pipeline: what each stage reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    pub source: String,
    pub topic: String,
    pub bus: BusKind,
    pub trending_from_bus: bool,
    pub store: String,
    pub bronze_group: String,
    pub trending_group: String,
}

impl Shape {
    pub fn of(s: &Settings) -> Shape {
        Shape {
            source: match s.source.kind {
                SourceKind::Synthetic => "synthetic",
                SourceKind::Replay => "replay",
                SourceKind::XApi => "X API stream",
            }
            .into(),
            topic: s.kafka.topic.clone(),
            bus: s.pipeline.bus,
            trending_from_bus: s.trending.input == TrendingInput::Bus,
            store: s.pipeline.store.to_string(),
            bronze_group: s.kafka.group("bronze"),
            trending_group: s.kafka.group("trending"),
        }
    }
}

/// What is in front of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backlog {
    /// Nothing to say (a source, or not known yet).
    None,
    /// Messages of the bus its consumer group has not committed.
    Messages(i64),
    /// Bronze versions committed after the one it handled.
    Versions(i64),
}

impl Backlog {
    pub fn text(&self) -> String {
        match self {
            Backlog::None => String::new(),
            Backlog::Messages(n) => format!("lag {}", super::format::count((*n).max(0) as u64)),
            Backlog::Versions(0) => "up to date".into(),
            Backlog::Versions(n) => format!("{n} versions behind"),
        }
    }

    /// Worth a colour: something waits.
    pub fn waiting(&self) -> bool {
        matches!(self, Backlog::Messages(n) | Backlog::Versions(n) if *n > 0)
    }
}

/// One stage as a hop of the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Hop {
    pub from: String,
    pub backlog: Backlog,
    pub stage: String,
    /// The best state of its instances (running beats the rest); `None`: not configured.
    pub state: Option<StageState>,
    /// Instances running (here and elsewhere).
    pub instances: usize,
    /// Output per second, summed over its instances.
    pub rate: f64,
    pub to: String,
    /// Its note (the first instance's that has one).
    pub note: String,
}

/// The pipeline as the screen shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineView {
    pub hops: Vec<Hop>,
    /// Stages outside the tweet flow (external commands), with their states.
    pub others: Vec<(String, StageState)>,
    /// Bus -> counted by trending.
    pub latency: Option<LatencySummary>,
    pub broker_down: Option<String>,
}

/// Instances of `stage`: `stage` itself and `stage@host` rows.
fn instances<'a>(
    stages: &'a [StageStatus],
    stage: &'a str,
) -> impl Iterator<Item = &'a StageStatus> {
    stages.iter().filter(move |s| {
        s.name == stage
            || s.name
                .strip_prefix(stage)
                .is_some_and(|rest| rest.starts_with('@'))
    })
}

const FLOW: [&str; 6] = ["source", "bronze", "trending", "ner", "classify", "collect"];

fn rank(s: StageState) -> u8 {
    use StageState::*;
    match s {
        Running => 0,
        Stalled | BackingOff => 1,
        Starting | Stopping => 2,
        Failed => 3,
        Completed => 4,
        Stopped => 5,
        Exited => 6,
        // A process that stopped answering says least about where the stage is.
        Lost => 7,
    }
}

fn version_text(v: Option<i64>) -> String {
    v.map(|v| format!(" v{v}")).unwrap_or_default()
}

pub fn view(app: &App, shape: &Shape) -> PipelineView {
    let stages = &app.stages;
    let group_lag = |group: &str| {
        app.lag
            .snapshot
            .groups
            .iter()
            .filter(|g| g.group == group && g.topic == shape.topic)
            .map(|g| g.total())
            .reduce(|a, b| a + b)
            .map_or(Backlog::None, Backlog::Messages)
    };
    let bronze_version = app.lake.as_ref().and_then(|l| l.bronze.version);
    let gold_version = app.lake.as_ref().and_then(|l| l.gold.version);
    let silver_version = app.lake.as_ref().and_then(|l| l.silver.version);
    let behind = |stage: &str| {
        // A stopped or lost instance's position is history: the running ones say, else the
        // ones that still answer.
        let rank_of = |s: &StageStatus| match s.state {
            st if st.is_active() => 0,
            StageState::Lost => 2,
            _ => 1,
        };
        // Running instances: the one furthest behind. None running: they share one checkpoint,
        // and the one that got furthest (the last to run) says where it is.
        let best = instances(stages, stage).map(rank_of).min();
        let reads = instances(stages, stage)
            .filter(|s| Some(rank_of(s)) == best)
            .filter_map(|s| s.read_version);
        let read = if best == Some(0) {
            reads.min()
        } else {
            reads.max()
        };
        match (bronze_version, read) {
            (Some(b), Some(r)) => Backlog::Versions((b - r).max(0)),
            _ => Backlog::None,
        }
    };
    let bus = format!("bus {}", shape.topic);
    let bronze = format!("bronze{}", version_text(bronze_version));
    let hop = |stage: &str, from: String, backlog: Backlog, to: String| {
        let mine: Vec<&StageStatus> = instances(stages, stage).collect();
        Hop {
            from,
            backlog,
            stage: stage.to_string(),
            state: mine.iter().map(|s| s.state).min_by_key(|s| rank(*s)),
            instances: mine.iter().filter(|s| s.state.is_active()).count(),
            rate: mine
                .iter()
                .filter(|s| s.state.is_active())
                .map(|s| s.rate)
                .sum(),
            to,
            note: mine
                .iter()
                .map(|s| s.detail.as_str())
                .find(|d| !d.is_empty())
                .unwrap_or_default()
                .to_string(),
        }
    };
    let mut hops = vec![
        hop(
            "source",
            format!("tweets ({})", shape.source),
            Backlog::None,
            bus.clone(),
        ),
        hop(
            "bronze",
            bus.clone(),
            group_lag(&shape.bronze_group),
            bronze.clone(),
        ),
    ];
    let trending_to = format!(
        "store ({}) · gold{}",
        shape.store,
        version_text(gold_version)
    );
    hops.push(if shape.trending_from_bus {
        hop(
            "trending",
            bus,
            group_lag(&shape.trending_group),
            trending_to,
        )
    } else {
        hop("trending", bronze.clone(), behind("trending"), trending_to)
    });
    hops.push(hop(
        "ner",
        bronze.clone(),
        behind("ner"),
        format!("silver/ner{}", version_text(silver_version)),
    ));
    hops.push(hop(
        "classify",
        bronze.clone(),
        behind("classify"),
        "gold/ai_tweets".into(),
    ));
    hops.push(hop(
        "collect",
        bronze,
        behind("collect"),
        "datasets (Label pane)".into(),
    ));
    let others = stages
        .iter()
        .filter(|s| {
            !FLOW.iter().any(|f| {
                s.name == *f
                    || s.name
                        .strip_prefix(f)
                        .is_some_and(|rest| rest.starts_with('@'))
            })
        })
        .map(|s| (s.name.clone(), s.state))
        .collect();
    // The freshest readout: the instance with the most samples.
    let latency = instances(stages, "trending")
        .filter_map(|s| s.latency)
        .max_by_key(|l| l.samples);
    let broker_down = match (&shape.bus, &app.lag.snapshot.broker) {
        (BusKind::Kafka, Some(b)) if !b.up => Some(
            b.last_error
                .clone()
                .unwrap_or_else(|| "no broker answers".into()),
        ),
        _ => None,
    };
    PipelineView {
        hops,
        others,
        latency,
        broker_down,
    }
}
