//! The Label pane's state: the tweet shown, the ones queued behind it (from the worker's
//! latest snapshot), the label in flight, the note, and the last outcome.
//!
//! A label key sends a command to the labelling worker (`learn::worker`) and marks it
//! pending; the pane moves to the next tweet only when the worker replies that the label is
//! committed. Re-ranked queues arrive as snapshots and never replace the tweet being read.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::config::{LabelDef, LearnSettings, ABSTAIN};
use crate::learn::worker::{LabelCmd, LabelReply, LabelSnapshot, QueueItem};

/// Ids labelled or skipped lately: kept out of a snapshot that predates them.
const RECENT: usize = 256;

#[derive(Debug, Clone, PartialEq)]
pub enum PendingKind {
    Label(i32),
    Undo,
}

#[derive(Debug, Clone)]
pub struct Pending {
    pub kind: PendingKind,
    pub text_id: Option<i64>,
    pub since: Instant,
}

pub struct LabelView {
    pub labels: Vec<LabelDef>,
    pub positive: i32,
    pub negative: i32,
    commands: Option<mpsc::Sender<LabelCmd>>,
    pub snapshot: Arc<LabelSnapshot>,
    pub current: Option<QueueItem>,
    upcoming: VecDeque<QueueItem>,
    recent: VecDeque<i64>,
    version: Option<u32>,
    pub pending: Option<Pending>,
    /// Attached to the next label of the current tweet.
    pub note: Option<String>,
    /// The last outcome (`saved #12 AI (commit 2 ms)`), and whether it is an error.
    pub status: Option<(String, bool)>,
    /// Labels committed from this pane since it opened.
    pub labelled_here: u64,
    /// Key press to next tweet, for the last label.
    pub last_key_to_next: Option<Duration>,
    /// The review list's cursor while it is open (`v`).
    pub review: Option<usize>,
}

impl LabelView {
    pub fn new(learn: &LearnSettings) -> LabelView {
        LabelView {
            labels: learn.labels.clone(),
            positive: learn.positive,
            negative: learn.negative,
            commands: None,
            snapshot: Arc::new(LabelSnapshot::starting(String::new(), learn.order)),
            current: None,
            upcoming: VecDeque::new(),
            recent: VecDeque::new(),
            version: None,
            pending: None,
            note: None,
            status: None,
            labelled_here: 0,
            last_key_to_next: None,
            review: None,
        }
    }

    /// Connects the pane to a labelling worker.
    pub fn connect(&mut self, commands: mpsc::Sender<LabelCmd>) {
        self.commands = Some(commands);
    }

    pub fn label_for_key(&self, c: char) -> Option<i32> {
        self.labels.iter().find(|l| l.key == c).map(|l| l.value)
    }

    pub fn label_name(&self, value: i32) -> &str {
        self.labels
            .iter()
            .find(|l| l.value == value)
            .map_or(if value == ABSTAIN { "-" } else { "?" }, |l| {
                l.name.as_str()
            })
    }

    pub fn upcoming_len(&self) -> usize {
        self.upcoming.len()
    }

    fn send(&mut self, cmd: LabelCmd) -> Result<(), String> {
        let Some(tx) = &self.commands else {
            return Err("labelling is not connected".into());
        };
        tx.try_send(cmd).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                "the labelling worker is busy: try again".to_string()
            }
            mpsc::error::TrySendError::Closed(_) => "the labelling worker stopped".to_string(),
        })
    }

    fn remember(&mut self, text_id: i64) {
        self.recent.push_back(text_id);
        while self.recent.len() > RECENT {
            self.recent.pop_front();
        }
    }

    fn advance(&mut self) {
        self.note = None;
        while let Some(next) = self.upcoming.pop_front() {
            if !self.recent.contains(&next.text_id) {
                self.current = Some(next);
                return;
            }
        }
        self.current = None;
    }

    /// A new snapshot from the worker: the queue behind the current tweet is replaced.
    pub fn on_snapshot(&mut self, snap: Arc<LabelSnapshot>) {
        if snap.version != self.version {
            self.version = snap.version;
            self.current = None;
            self.recent.clear();
            self.note = None;
        }
        let current = self.current.as_ref().map(|c| c.text_id);
        self.upcoming = snap
            .head
            .iter()
            .filter(|q| Some(q.text_id) != current && !self.recent.contains(&q.text_id))
            .cloned()
            .collect();
        // Fresh numbers for the tweet on screen (its probability moved with the model).
        if let Some(cur) = &mut self.current {
            if let Some(fresh) = snap.head.iter().find(|q| q.text_id == cur.text_id) {
                *cur = fresh.clone();
            }
        }
        self.snapshot = snap;
        if let Some(c) = &mut self.review {
            *c = (*c).min(self.snapshot.review.len().saturating_sub(1));
        }
        if self.current.is_none() && self.pending.is_none() {
            self.advance();
        }
    }

    /// A label key: sends the label of the current tweet.
    pub fn label(&mut self, value: i32) -> Result<(), String> {
        if self.pending.is_some() {
            return Err("still saving the previous label…".into());
        }
        let Some(cur) = &self.current else {
            return Err("no tweet to label".into());
        };
        let text_id = cur.text_id;
        let shown_p = Some(cur.p);
        self.send(LabelCmd::Label {
            text_id,
            label: value,
            note: self.note.clone(),
            shown_p,
        })?;
        self.pending = Some(Pending {
            kind: PendingKind::Label(value),
            text_id: Some(text_id),
            since: Instant::now(),
        });
        Ok(())
    }

    /// Space: the next tweet, without a label (offered again in a later session).
    pub fn skip(&mut self) -> Result<(), String> {
        if self.pending.is_some() {
            return Err("still saving the previous label…".into());
        }
        let Some(cur) = self.current.take() else {
            return Err("no tweet to skip".into());
        };
        self.remember(cur.text_id);
        let r = self.send(LabelCmd::Skip {
            text_id: cur.text_id,
        });
        self.advance();
        r
    }

    pub fn undo(&mut self) -> Result<(), String> {
        if self.pending.is_some() {
            return Err("still saving the previous label…".into());
        }
        self.send(LabelCmd::Undo)?;
        self.pending = Some(Pending {
            kind: PendingKind::Undo,
            text_id: None,
            since: Instant::now(),
        });
        Ok(())
    }

    pub fn cycle_order(&mut self) -> Result<String, String> {
        let next = self.snapshot.order.next();
        self.send(LabelCmd::SetOrder(next))?;
        Ok(format!("queue order: {next}"))
    }

    pub fn cycle_target(&mut self) -> Result<String, String> {
        let next = self.snapshot.target.next();
        self.send(LabelCmd::SetTarget(next))?;
        // The tweet on screen may not belong to the new target: take the next snapshot's.
        self.current = None;
        self.upcoming.clear();
        Ok(format!("labelling: {}", next.name()))
    }

    /// `:dataset`: the versions and their labelled counts, the one labelled marked.
    pub fn versions_line(&self) -> Result<String, String> {
        let s = &self.snapshot;
        if s.versions.is_empty() {
            return Err("no dataset version yet: :collect new makes one".into());
        }
        Ok(format!(
            "datasets: {} (:dataset N switches)",
            s.versions_list(" labelled")
        ))
    }

    /// `:dataset N` labels version N; `:dataset newest` follows the newest again.
    pub fn use_version(&mut self, version: Option<u32>) -> Result<String, String> {
        self.send(LabelCmd::UseVersion(version))?;
        self.current = None;
        self.upcoming.clear();
        Ok(match version {
            Some(v) => format!("labelling dataset v{v} (:dataset newest follows new versions)"),
            None => "labelling the newest dataset version".into(),
        })
    }

    /// `v`: opens the review list on the newest decision, or closes it.
    pub fn toggle_review(&mut self) -> Result<String, String> {
        if self.review.take().is_some() {
            return Ok("review closed".into());
        }
        if self.snapshot.review.is_empty() {
            return Err("no decisions to review yet".into());
        }
        self.review = Some(0);
        Ok("review: ↑↓ picks a decision, Enter shows its tweet to label again".into())
    }

    pub fn review_move(&mut self, delta: isize) {
        if let Some(c) = &mut self.review {
            let max = self.snapshot.review.len().saturating_sub(1) as isize;
            *c = (*c as isize + delta).clamp(0, max) as usize;
        }
    }

    /// Enter in the review list: the selected decision's tweet becomes the one shown (the
    /// tweet that was shown comes next); a label key then changes its label.
    pub fn review_jump(&mut self) -> Result<String, String> {
        let Some(c) = self.review else {
            return Err("v opens the review list".into());
        };
        if self.pending.is_some() {
            return Err("still saving the previous label…".into());
        }
        let Some(r) = self.snapshot.review.get(c).cloned() else {
            return Err("no decision selected".into());
        };
        if let Some(cur) = self.current.take() {
            if cur.text_id != r.item.text_id {
                self.upcoming.push_front(cur);
            }
        }
        self.recent.retain(|id| *id != r.item.text_id);
        self.note = None;
        self.review = None;
        let id = r.item.text_id;
        self.current = Some(r.item);
        Ok(format!(
            "#{id} is labelled {}: a label key changes it, Space leaves it",
            self.label_name(r.label)
        ))
    }

    pub fn set_note(&mut self, note: String) {
        let n = note.trim().to_string();
        self.note = (!n.is_empty()).then_some(n);
    }

    /// A reply from the worker.
    pub fn on_reply(&mut self, reply: LabelReply) {
        let pending = self.pending.take();
        match reply {
            LabelReply::Committed { event, commit } => {
                let id = event.event.text_id;
                self.labelled_here += 1;
                self.remember(id);
                if self.current.as_ref().is_some_and(|c| c.text_id == id) {
                    self.advance();
                }
                self.last_key_to_next = pending.map(|p| p.since.elapsed());
                self.status = Some((
                    format!(
                        "saved #{id} {} (commit {:.1} ms)",
                        self.label_name(event.event.label),
                        commit.as_secs_f64() * 1000.0
                    ),
                    false,
                ));
            }
            LabelReply::Undone { event, item } => {
                if let Some(cur) = self.current.take() {
                    if cur.text_id != item.text_id {
                        self.upcoming.push_front(cur);
                    }
                }
                self.recent.retain(|id| *id != item.text_id);
                self.note = None;
                self.status = Some((
                    format!(
                        "undone: #{} back to {} (was {})",
                        item.text_id,
                        if event.event.label == ABSTAIN {
                            "unlabelled"
                        } else {
                            self.label_name(event.event.label)
                        },
                        self.label_name(event.event.prev_label)
                    ),
                    false,
                ));
                self.current = Some(item);
            }
            LabelReply::NothingToUndo => {
                self.status = Some(("nothing to undo".into(), false));
            }
            LabelReply::Failed { error, .. } => {
                self.status = Some((format!("not saved: {error}"), true));
            }
        }
    }
}
