//! Label events and where they are kept: the [`LabelStore`] trait, with an embedded
//! implementation here (append-only, fsync'd log per dataset version) and a PostgreSQL one in
//! [`super::pg`].
//!
//! Every hand label is an event (text id, label, the label it replaced, who, when, optional
//! note); undo is an event too, naming the label event it takes back and the label it
//! restores. The current label of a text is the label of its last event. `append` returns only
//! once the event is durable: the Label pane moves on after that, never before.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::dataset::{Dataset, Split};
use crate::config::ABSTAIN;

mod embedded;
pub use embedded::{crc32, read_log, EmbeddedLabelStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Label,
    Undo,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Label => "label",
            EventKind::Undo => "undo",
        }
    }
}

/// Where a label came from and what the labeller saw. Events written before these fields
/// existed read back with them empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Provenance {
    /// Client-generated id (UUID v4): a retried append after a lost reply stores one event.
    pub event_id: String,
    pub tweet_id: String,
    /// The bronze table versions the dataset version was collected from (`bronze v3..v40`).
    pub source: String,
    /// The model's version when labelling: the hand labels it had learned from.
    pub model_version: u64,
    /// The model's probability of the positive label shown when labelling.
    pub probability: Option<f32>,
}

impl Provenance {
    pub fn new_event_id() -> String {
        uuid::Uuid::new_v4().to_string()
    }
}

/// An event before it is committed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub version: u32,
    pub text_id: i64,
    pub split: Split,
    pub kind: EventKind,
    /// `Label`: the label given. `Undo`: the label restored.
    pub label: i32,
    /// `Label`: the text's label before. `Undo`: the label taken back.
    pub prev_label: i32,
    /// `Undo`: the sequence number of the label event it takes back.
    pub undoes: Option<u64>,
    pub who: String,
    pub at_ms: i64,
    pub note: Option<String>,
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// A committed event: its sequence number (1-based, commit order within a version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelEvent {
    pub seq: u64,
    #[serde(flatten)]
    pub event: NewEvent,
}

/// Errors of a label store; none carries a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelStoreError {
    /// The database cannot be reached (down, refused, bad credentials, timeout).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Sql(String),
    #[error("{0}")]
    Io(String),
    /// Bad names or settings.
    #[error("{0}")]
    Config(String),
    /// The version exists already, or does not exist.
    #[error("{0}")]
    Version(String),
    /// The stored log is damaged somewhere other than a torn last record.
    #[error("{0}")]
    Corrupt(String),
}

impl From<std::io::Error> for LabelStoreError {
    fn from(e: std::io::Error) -> Self {
        LabelStoreError::Io(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, LabelStoreError>;

/// Datasets and their labels.
#[async_trait]
pub trait LabelStore: Send + Sync {
    /// Where it is, for people (never a password).
    fn describe(&self) -> String;
    /// Dataset versions it holds, ascending.
    async fn versions(&self) -> Result<Vec<u32>>;
    /// Publishes version `ds.version` with its weak labels (one per row of `ds.rows`, in
    /// label values); fails if the version exists (versions are never overwritten).
    async fn create_version(&self, ds: &Dataset, slabels: &[i32]) -> Result<()>;
    async fn load_version(&self, version: u32) -> Result<Dataset>;
    /// Commits one event durably and returns it with its sequence number.
    async fn append(&self, event: NewEvent) -> Result<LabelEvent>;
    /// Every event of a version, in commit order.
    async fn events(&self, version: u32) -> Result<Vec<LabelEvent>>;
    /// The label per text id as stored (PostgreSQL: the split tables' `label` column;
    /// embedded: folded from the log). Texts never labelled are absent or `-1`.
    async fn stored_labels(&self, version: u32) -> Result<BTreeMap<i64, i32>>;
}

/// The current label per text id after `events` (texts whose label went back to -1 kept).
pub fn fold(events: &[LabelEvent]) -> BTreeMap<i64, i32> {
    let mut out = BTreeMap::new();
    for e in events {
        out.insert(e.event.text_id, e.event.label);
    }
    out
}

/// The label event behind each text's current label (undone events taken back): its
/// provenance is the label's.
pub fn current_label_events(events: &[LabelEvent]) -> BTreeMap<i64, &LabelEvent> {
    let mut stacks: BTreeMap<i64, Vec<&LabelEvent>> = BTreeMap::new();
    for e in events {
        let stack = stacks.entry(e.event.text_id).or_default();
        match e.event.kind {
            EventKind::Label => stack.push(e),
            EventKind::Undo => stack.retain(|l| Some(l.seq) != e.event.undoes),
        }
    }
    stacks
        .into_iter()
        .filter_map(|(t, s)| s.last().map(|e| (t, *e)))
        .collect()
}

/// The label event an undo takes back now: the newest label event not undone yet.
pub fn undo_target(events: &[LabelEvent]) -> Option<&LabelEvent> {
    let undone: std::collections::HashSet<u64> =
        events.iter().filter_map(|e| e.event.undoes).collect();
    events
        .iter()
        .rev()
        .find(|e| e.event.kind == EventKind::Label && !undone.contains(&e.seq))
}

/// The labelled texts only (label != -1).
pub fn labelled(events: &[LabelEvent]) -> BTreeMap<i64, i32> {
    fold(events)
        .into_iter()
        .filter(|(_, l)| *l != ABSTAIN)
        .collect()
}

/// Retries of a label append while the store cannot be reached, the first after this delay
/// (then doubling): 0.2 + 0.4 + 0.8 s.
const APPEND_RETRIES: usize = 3;
const APPEND_RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(200);

/// Appends `event`, retrying a store that cannot be reached (a lost connection, perhaps
/// after the commit) with the same event: its id makes the retry store it once.
pub async fn append_retrying(store: &dyn LabelStore, event: NewEvent) -> Result<LabelEvent> {
    let mut delay = APPEND_RETRY_FIRST;
    for _ in 0..APPEND_RETRIES {
        match store.append(event.clone()).await {
            Err(LabelStoreError::Unavailable(e)) => {
                tracing::warn!(error = %e, event_id = %event.provenance.event_id, "label append failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            done => return done,
        }
    }
    store.append(event).await
}

/// Opens the configured label store: embedded (the default) or PostgreSQL.
pub fn open(settings: &crate::config::Settings) -> Result<Arc<dyn LabelStore>> {
    match settings.pipeline.store {
        crate::config::StoreKind::Embedded => Ok(Arc::new(EmbeddedLabelStore::new(
            &settings.lake.root,
            &settings.lake.root.join("store"),
        ))),
        crate::config::StoreKind::Postgres => Ok(Arc::new(super::pg::PgLabelStore::new(settings)?)),
    }
}

#[cfg(test)]
mod tests;
