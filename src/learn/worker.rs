//! The labelling worker: a background task that owns the [`Session`] and the [`LabelStore`].
//!
//! The Label pane sends commands (label, undo, skip, order, target) over a bounded channel.
//! A label is committed to the store first; the reply (`Committed`) goes back at once, and
//! only then is the session updated (hand label, online model step, re-score, re-rank) and a
//! new snapshot published on a `watch` channel. Full retrains (after an undo, or when dev
//! labels changed the weak labels) run on a blocking thread and are installed when done, with
//! the labels committed meanwhile replayed on top. So the pane waits for the commit and
//! nothing else.
//!
//! The worker also follows dataset versions (a newer one, e.g. from `collect`, is loaded
//! when it appears) and saves the model for the `classify` stage (`<lake>/models/current.bin`,
//! at most about once a second).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::dataset::Split;
use super::history;
use super::labels::{undo_target, EventKind, LabelEvent, LabelStore, NewEvent, Provenance};
use super::lf::{Keywords, LabelingFunctions, LfSummaryRow, Vote};
use super::model::{model_path, Model, ModelMeta, Scores};
use super::queue::QueueOrder;
use super::session::{fit, MetricsPoint, Progress, Session, Target};
use crate::config::{Settings, ABSTAIN};

/// Items of the queue head sent to the pane.
pub const HEAD: usize = 32;
/// How often the worker looks for a new dataset version.
const VERSION_POLL: Duration = Duration::from_secs(2);
/// The model file is written at most this often.
const SAVE_EVERY: Duration = Duration::from_secs(1);
/// Decisions the review list shows.
pub const REVIEW: usize = 30;

/// One text as the pane shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueItem {
    pub text_id: i64,
    pub split: Split,
    pub text: String,
    pub author: Option<String>,
    pub created_at: Option<i64>,
    /// Model probability of the positive label.
    pub p: f32,
    /// Weak label (label value, -1 = abstain) and its probability.
    pub weak: i32,
    pub weak_p: f64,
    /// LFs that voted, with their vote (1 positive, 0 negative).
    pub fired: Vec<(&'static str, Vote)>,
    /// Its current hand label (-1 = none).
    pub label: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WorkerState {
    Starting,
    /// No dataset version yet: run `collect`.
    NoDataset,
    Loading(u32),
    Ready,
    Failed(String),
}

/// What the pane draws.
#[derive(Debug, Clone)]
pub struct LabelSnapshot {
    pub state: WorkerState,
    pub store: String,
    pub version: Option<u32>,
    pub order: QueueOrder,
    pub target: Target,
    pub head: Vec<QueueItem>,
    pub progress: Progress,
    pub hand_total: usize,
    /// Dev-split accuracy / F1 of the model and of the weak labeller.
    pub model: Scores,
    pub weak: Scores,
    /// How far weak labels are trusted in training (0..1, see `Session::weak_trust`).
    pub weak_trust: f64,
    pub history: Vec<MetricsPoint>,
    pub lf_summary: Vec<LfSummaryRow>,
    /// The last decisions (newest first, one per text, undone ones gone), for review.
    pub review: Vec<ReviewItem>,
    /// Every dataset version with its hand-labelled texts (the one labelled now: live).
    pub versions: Vec<(u32, usize)>,
    pub retraining: bool,
    /// The last store error, until the next success.
    pub error: Option<String>,
    pub generation: u64,
}

impl LabelSnapshot {
    /// `v0 2{suffix} · ▶v1 0{suffix}`: every version with its labelled count, the one
    /// labelled now marked.
    pub fn versions_list(&self, suffix: &str) -> String {
        self.versions
            .iter()
            .map(|(v, n)| {
                let mark = if Some(*v) == self.version { "▶" } else { "" };
                format!("{mark}v{v} {n}{suffix}")
            })
            .collect::<Vec<_>>()
            .join(" · ")
    }

    pub fn starting(store: String, order: QueueOrder) -> LabelSnapshot {
        LabelSnapshot {
            state: WorkerState::Starting,
            store,
            version: None,
            order,
            target: Target::Auto,
            head: Vec::new(),
            progress: Progress::default(),
            hand_total: 0,
            model: Scores::default(),
            weak: Scores::default(),
            weak_trust: 1.0,
            history: Vec::new(),
            lf_summary: Vec::new(),
            review: Vec::new(),
            versions: Vec::new(),
            retraining: false,
            error: None,
            generation: 0,
        }
    }
}

/// A decision in the review list: the label event standing for a text now.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewItem {
    pub seq: u64,
    pub at_ms: i64,
    pub who: String,
    pub label: i32,
    pub item: QueueItem,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LabelCmd {
    Label {
        text_id: i64,
        label: i32,
        note: Option<String>,
        /// The model's probability the labeller saw (kept as the label's provenance).
        shown_p: Option<f32>,
    },
    Undo,
    Skip {
        text_id: i64,
    },
    SetOrder(QueueOrder),
    SetTarget(Target),
    /// Label dataset version N (`None`: follow the newest, the default).
    UseVersion(Option<u32>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum LabelReply {
    /// The label is durable.
    Committed {
        event: LabelEvent,
        commit: Duration,
    },
    /// The undo is durable; `item` is the text whose label was taken back (shown again).
    Undone {
        event: LabelEvent,
        item: QueueItem,
    },
    NothingToUndo,
    Failed {
        text_id: Option<i64>,
        error: String,
    },
}

/// The pane's end of the worker.
pub struct LabelLink {
    pub commands: mpsc::Sender<LabelCmd>,
    pub replies: mpsc::Receiver<LabelReply>,
    pub snapshot: watch::Receiver<Arc<LabelSnapshot>>,
    cancel: CancellationToken,
}

impl Drop for LabelLink {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl LabelLink {
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }
}

/// Starts the worker on the current tokio runtime.
pub fn spawn(settings: &Settings, store: Arc<dyn LabelStore>) -> LabelLink {
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let (rep_tx, rep_rx) = mpsc::channel(64);
    let (snap_tx, snap_rx) = watch::channel(Arc::new(LabelSnapshot::starting(
        store.describe(),
        settings.learn.order,
    )));
    let cancel = CancellationToken::new();
    let worker = Worker {
        settings: settings.clone(),
        store,
        replies: rep_tx,
        snapshot: snap_tx,
        session: None,
        error: None,
        model_dirty: false,
        last_save: None,
        model_file: model_path(&settings.lake.root),
        pinned: None,
        counts: BTreeMap::new(),
    };
    tokio::spawn(worker.run(cmd_rx, cancel.clone()));
    LabelLink {
        commands: cmd_tx,
        replies: rep_rx,
        snapshot: snap_rx,
        cancel,
    }
}

type Job = JoinHandle<(u32, Model, usize)>;

struct Worker {
    settings: Settings,
    store: Arc<dyn LabelStore>,
    replies: mpsc::Sender<LabelReply>,
    snapshot: watch::Sender<Arc<LabelSnapshot>>,
    session: Option<Session>,
    error: Option<String>,
    model_dirty: bool,
    last_save: Option<Instant>,
    model_file: PathBuf,
    /// The version the user picked (`:dataset N`); `None` follows the newest.
    pinned: Option<u32>,
    /// Hand-labelled texts per dataset version, read when a version is first listed or left.
    counts: BTreeMap<u32, usize>,
}

async fn wait_job(job: &mut Option<Job>) -> Option<(u32, Model, usize)> {
    match job {
        Some(h) => {
            let r = h.await.ok();
            *job = None;
            r
        }
        None => std::future::pending().await,
    }
}

impl Worker {
    async fn run(mut self, mut commands: mpsc::Receiver<LabelCmd>, cancel: CancellationToken) {
        let lfs = match Keywords::from_settings(self.settings.learn.keywords_dir.as_deref()) {
            Ok(k) => LabelingFunctions::new(&k),
            Err(e) => {
                self.publish_state(WorkerState::Failed(format!("{e:#}")));
                return;
            }
        };
        let mut job: Option<Job> = None;
        let mut again = false;
        let mut next_poll = Instant::now();
        loop {
            if Instant::now() >= next_poll {
                next_poll = Instant::now() + VERSION_POLL;
                if self.follow_versions(&lfs, &cancel).await {
                    job = None;
                    again = false;
                }
            }
            if self.model_dirty && self.last_save.is_none_or(|t| t.elapsed() >= SAVE_EVERY) {
                self.save_model().await;
            }
            let tick = tokio::time::sleep(Duration::from_millis(250));
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                cmd = commands.recv() => {
                    let Some(cmd) = cmd else { break };
                    if let LabelCmd::UseVersion(v) = cmd {
                        // Switch now, not at the next poll.
                        self.pinned = v;
                        next_poll = Instant::now();
                        continue;
                    }
                    if self.handle(cmd).await {
                        if job.is_some() { again = true } else { job = self.start_retrain() }
                    }
                }
                done = wait_job(&mut job) => {
                    if let (Some((version, model, trained)), Some(s)) = (done, self.session.as_mut()) {
                        if s.version == version {
                            s.install(model, trained);
                            self.model_dirty = true;
                        }
                    }
                    if again {
                        again = false;
                        job = self.start_retrain();
                    }
                    self.publish(job.is_some());
                }
                _ = tick => {}
            }
        }
        if self.model_dirty {
            self.save_model().await;
        }
    }

    fn start_retrain(&self) -> Option<Job> {
        let s = self.session.as_ref()?;
        let items = s.items.clone();
        let examples = s.examples();
        let trained = s.events.len();
        let (bits, seed, version) = (s.settings.hash_bits, s.settings.seed, s.version);
        Some(tokio::task::spawn_blocking(move || {
            (version, fit(&items, &examples, bits, seed), trained)
        }))
    }

    /// Loads the newest version when it is newer than the session's; true when it switched.
    async fn follow_versions(
        &mut self,
        lfs: &LabelingFunctions,
        cancel: &CancellationToken,
    ) -> bool {
        let versions = match self.store.versions().await {
            Ok(v) => v,
            Err(e) => {
                if self.session.is_none() {
                    self.publish_state(WorkerState::Failed(e.to_string()));
                } else {
                    self.error = Some(e.to_string());
                    self.publish(false);
                }
                return false;
            }
        };
        for v in &versions {
            let live = self.session.as_ref().is_some_and(|s| s.version == *v);
            if !live && !self.counts.contains_key(v) {
                if let Ok(labels) = self.store.stored_labels(*v).await {
                    let n = labels.values().filter(|l| **l != ABSTAIN).count();
                    self.counts.insert(*v, n);
                }
            }
        }
        self.counts.retain(|v, _| versions.contains(v));
        let Some(&newest) = versions.last() else {
            if self.session.is_none() {
                self.publish_state(WorkerState::NoDataset);
            }
            return false;
        };
        let latest = match self.pinned {
            Some(v) if versions.contains(&v) => v,
            Some(v) => {
                self.pinned = None;
                self.error = Some(format!(
                    "there is no dataset v{v} (versions: {}); showing the newest",
                    versions
                        .iter()
                        .map(|v| format!("v{v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                self.publish(false);
                newest
            }
            None => newest,
        };
        if self.session.as_ref().is_some_and(|s| s.version == latest) {
            return false;
        }
        // The version left behind keeps the count it had.
        if let Some(s) = &self.session {
            self.counts.insert(s.version, s.hand_labels());
        }
        if self.session.is_none() {
            self.publish_state(WorkerState::Loading(latest));
        }
        let loaded = async {
            let ds = self.store.load_version(latest).await?;
            let events = self.store.events(latest).await?;
            Ok::<_, super::labels::LabelStoreError>((ds, events))
        };
        let (ds, events) = tokio::select! {
            _ = cancel.cancelled() => return false,
            r = loaded => match r {
                Ok(x) => x,
                Err(e) => {
                    self.publish_state(WorkerState::Failed(format!("loading dataset v{latest}: {e}")));
                    return false;
                }
            },
        };
        let learn = self.settings.learn.clone();
        let lfs = lfs.clone();
        let (order, target) = self
            .session
            .as_ref()
            .map_or((learn.order, Target::Auto), |s| (s.order, s.target));
        let root = self.settings.lake.root.clone();
        let built = tokio::task::spawn_blocking(move || {
            let mut s = Session::new(ds, events, &learn, &lfs);
            s.set_order(order);
            s.set_target(target);
            s.restore_history(history::load(&history::history_path(&root, s.version)));
            s
        })
        .await;
        match built {
            Ok(s) => {
                tracing::info!(
                    version = s.version,
                    texts = s.len(),
                    "labelling session ready"
                );
                self.session = Some(s);
                self.error = None;
                self.model_dirty = true;
                self.publish(false);
                true
            }
            Err(e) => {
                self.publish_state(WorkerState::Failed(format!("building the session: {e}")));
                false
            }
        }
    }

    /// Handles one command; true when a full retrain is due.
    async fn handle(&mut self, cmd: LabelCmd) -> bool {
        let who = self.settings.learn.who();
        let Some(version) = self.session.as_ref().map(|s| s.version) else {
            let text_id = match &cmd {
                LabelCmd::Label { text_id, .. } | LabelCmd::Skip { text_id } => Some(*text_id),
                _ => None,
            };
            self.reply(LabelReply::Failed {
                text_id,
                error: "no dataset loaded yet".into(),
            })
            .await;
            return false;
        };
        let now = chrono::Utc::now().timestamp_millis();
        let event = match cmd {
            LabelCmd::Label {
                text_id,
                label,
                note,
                shown_p,
            } => {
                let found = self.session.as_ref().and_then(|s| {
                    s.index_of(text_id).map(|i| {
                        let provenance = Provenance {
                            event_id: Provenance::new_event_id(),
                            tweet_id: s.items[i].row.tweet_id.clone(),
                            source: s.source.clone().unwrap_or_default(),
                            model_version: s.hand_labels() as u64,
                            probability: Some(shown_p.unwrap_or(s.probs[i])),
                        };
                        (s.items[i].row.split, s.hand[i], provenance)
                    })
                });
                let Some((split, prev, provenance)) = found else {
                    self.reply(LabelReply::Failed {
                        text_id: Some(text_id),
                        error: format!("text {text_id} is not in dataset v{version}"),
                    })
                    .await;
                    return false;
                };
                NewEvent {
                    version,
                    text_id,
                    split,
                    kind: EventKind::Label,
                    label,
                    prev_label: prev,
                    undoes: None,
                    who,
                    at_ms: now,
                    note: note.filter(|n| !n.trim().is_empty()),
                    provenance,
                }
            }
            LabelCmd::Undo => {
                let target = self
                    .session
                    .as_ref()
                    .and_then(|s| undo_target(&s.events).cloned());
                let Some(target) = target else {
                    self.reply(LabelReply::NothingToUndo).await;
                    return false;
                };
                NewEvent {
                    version,
                    text_id: target.event.text_id,
                    split: target.event.split,
                    kind: EventKind::Undo,
                    label: target.event.prev_label,
                    prev_label: target.event.label,
                    undoes: Some(target.seq),
                    who,
                    at_ms: now,
                    note: None,
                    provenance: Provenance {
                        event_id: Provenance::new_event_id(),
                        tweet_id: target.event.provenance.tweet_id.clone(),
                        source: target.event.provenance.source.clone(),
                        model_version: 0,
                        probability: None,
                    },
                }
            }
            LabelCmd::Skip { text_id } => {
                if let Some(s) = self.session.as_mut() {
                    s.skip(text_id);
                }
                self.publish(false);
                return false;
            }
            LabelCmd::SetOrder(o) => {
                if let Some(s) = self.session.as_mut() {
                    s.set_order(o);
                }
                self.publish(false);
                return false;
            }
            // Handled by the loop (it switches the session).
            LabelCmd::UseVersion(_) => return false,
            LabelCmd::SetTarget(t) => {
                if let Some(s) = self.session.as_mut() {
                    s.set_target(t);
                }
                self.publish(false);
                return false;
            }
        };
        let kind = event.kind;
        let text_id = event.text_id;
        let t0 = Instant::now();
        match super::labels::append_retrying(self.store.as_ref(), event).await {
            Ok(ev) => {
                let commit = t0.elapsed();
                if kind == EventKind::Label {
                    // Acknowledge first: the pane moves on now; the model catches up below.
                    self.reply(LabelReply::Committed {
                        event: ev.clone(),
                        commit,
                    })
                    .await;
                }
                let mut retrain = false;
                let mut item = None;
                if let Some(s) = self.session.as_mut() {
                    retrain = s.apply(&ev);
                    item = s.index_of(ev.event.text_id).map(|i| queue_item(s, i));
                }
                if kind == EventKind::Undo {
                    if let Some(item) = item {
                        self.reply(LabelReply::Undone { event: ev, item }).await;
                    }
                }
                self.error = None;
                self.model_dirty = true;
                self.publish(false);
                retrain
            }
            Err(e) => {
                self.error = Some(e.to_string());
                self.reply(LabelReply::Failed {
                    text_id: (kind == EventKind::Label).then_some(text_id),
                    error: e.to_string(),
                })
                .await;
                self.publish(false);
                false
            }
        }
    }

    async fn reply(&self, r: LabelReply) {
        let _ = self.replies.send(r).await;
    }

    fn publish_state(&mut self, state: WorkerState) {
        let mut snap = LabelSnapshot::starting(self.store.describe(), self.settings.learn.order);
        snap.state = state;
        snap.error = self.error.clone();
        self.snapshot.send_replace(Arc::new(snap));
    }

    fn publish(&mut self, retraining: bool) {
        let Some(s) = self.session.as_ref() else {
            return;
        };
        let mut snap = snapshot_of(s, self.store.describe(), retraining, self.error.clone());
        let mut versions = self.counts.clone();
        versions.insert(s.version, s.hand_labels());
        snap.versions = versions.into_iter().collect();
        self.snapshot.send_replace(Arc::new(snap));
    }

    async fn save_model(&mut self) {
        let Some(s) = self.session.as_ref() else {
            return;
        };
        let model = s.model.clone();
        let (m, _) = s.dev_scores();
        let meta = ModelMeta {
            version: s.version,
            hand_labels: s.hand.iter().filter(|h| **h != ABSTAIN).count(),
            updates: model.updates,
            dev_accuracy: (m.n > 0).then_some(m.accuracy),
            saved_at_ms: chrono::Utc::now().timestamp_millis(),
        };
        let path = self.model_file.clone();
        let points = s.history.clone();
        let history_file = history::history_path(&self.settings.lake.root, s.version);
        let r = tokio::task::spawn_blocking(move || {
            model.save(&path, &meta)?;
            history::save(&history_file, &points)
        })
        .await;
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "saving the model"),
            Err(e) => tracing::warn!(error = %e, "saving the model"),
        }
        self.model_dirty = false;
        self.last_save = Some(Instant::now());
    }
}

/// Item `i` of the session as the pane shows it.
pub fn queue_item(s: &Session, i: usize) -> QueueItem {
    let it = &s.items[i];
    QueueItem {
        text_id: it.row.text_id,
        split: it.row.split,
        text: it.row.text.clone(),
        author: it.row.author.clone(),
        created_at: it.row.created_at,
        p: s.probs[i],
        weak: s.label_of(s.weak[i].label),
        weak_p: s.weak[i].p,
        fired: s.fired(i),
        label: s.hand[i],
    }
}

/// The snapshot of a session.
pub fn snapshot_of(
    s: &Session,
    store: String,
    retraining: bool,
    error: Option<String>,
) -> LabelSnapshot {
    let (model, weak) = s.dev_scores();
    LabelSnapshot {
        state: WorkerState::Ready,
        store,
        version: Some(s.version),
        order: s.order,
        target: s.target,
        head: s.head(HEAD).into_iter().map(|i| queue_item(s, i)).collect(),
        progress: s.progress(),
        hand_total: s.hand.iter().filter(|h| **h != ABSTAIN).count(),
        model,
        weak,
        weak_trust: s.weak_trust(),
        history: s.history.clone(),
        lf_summary: s.lf_summary().to_vec(),
        review: review_items(s, REVIEW),
        versions: vec![(s.version, s.hand_labels())],
        retraining,
        error,
        generation: s.generation,
    }
}

/// The newest `n` decisions standing now: one per text, newest first.
pub fn review_items(s: &Session, n: usize) -> Vec<ReviewItem> {
    let mut current: Vec<&LabelEvent> = super::labels::current_label_events(&s.events)
        .into_values()
        .collect();
    current.sort_unstable_by_key(|e| std::cmp::Reverse(e.seq));
    current
        .into_iter()
        .filter_map(|e| {
            let i = s.index_of(e.event.text_id)?;
            (s.hand[i] != ABSTAIN).then(|| ReviewItem {
                seq: e.seq,
                at_ms: e.event.at_ms,
                who: e.event.who.clone(),
                label: s.hand[i],
                item: queue_item(s, i),
            })
        })
        .take(n)
        .collect()
}

/// Opens the configured label store and starts the worker on it; if the store cannot be
/// opened (bad settings), a link whose snapshot says why.
pub fn spawn_for(settings: &Settings) -> LabelLink {
    match super::labels::open(settings) {
        Ok(store) => spawn(settings, store),
        Err(e) => {
            let (commands, mut cmd_rx) = mpsc::channel(64);
            let (rep_tx, replies) = mpsc::channel(64);
            let mut snap = LabelSnapshot::starting("label store".into(), settings.learn.order);
            snap.state = WorkerState::Failed(e.to_string());
            let (_snap_tx, snapshot) = watch::channel(Arc::new(snap));
            let cancel = CancellationToken::new();
            let stop = cancel.clone();
            let error = e.to_string();
            tokio::spawn(async move {
                let _keep = _snap_tx;
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        cmd = cmd_rx.recv() => {
                            if cmd.is_none() { return; }
                            let _ = rep_tx.send(LabelReply::Failed { text_id: None, error: error.clone() }).await;
                        }
                    }
                }
            });
            LabelLink {
                commands,
                replies,
                snapshot,
                cancel,
            }
        }
    }
}
