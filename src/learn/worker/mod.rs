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

use super::history;
use super::labels::{LabelEvent, LabelStore};
use super::lf::{Keywords, LabelingFunctions};
use super::model::{model_path, Model, ModelMeta};
use super::queue::QueueOrder;
use super::session::{fit, Session, Target};
use crate::config::{Settings, ABSTAIN};

mod commands;
mod snapshot;
mod versions;
pub use snapshot::{
    queue_item, review_items, snapshot_of, LabelSnapshot, QueueItem, ReviewItem, WorkerState, HEAD,
    REVIEW,
};

/// How often the worker looks for a new dataset version.
const VERSION_POLL: Duration = Duration::from_secs(2);
/// The model file is written at most this often.
const SAVE_EVERY: Duration = Duration::from_secs(1);

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
