//! A command from the Label pane: the label or undo event built, committed to the store
//! (retrying), acknowledged, then applied to the session; skip, order and target changes.

use std::time::Instant;

use super::{queue_item, LabelCmd, LabelReply, Worker};
use crate::learn::labels::{undo_target, EventKind, NewEvent, Provenance};

impl Worker {
    /// Handles one command; true when a full retrain is due.
    pub(super) async fn handle(&mut self, cmd: LabelCmd) -> bool {
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
        match crate::learn::labels::append_retrying(self.store.as_ref(), event).await {
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
}
