//! Background data arriving: the SQL and labelling workers' replies and snapshots, the stage
//! snapshot, the shown stage's log lines, new tweets, the footer message's expiry, throughput.

use std::sync::Arc;

use super::control::remote_status;
use super::{App, MESSAGE_FOR};
use crate::tweet::Tweet;

impl App {
    /// A reply of the SQL worker.
    pub fn sql_reply(&mut self, reply: crate::sql::worker::SqlReply) {
        match reply {
            crate::sql::worker::SqlReply::Message(text, error) => self.say(text, error),
            other => self.sql.on_reply(other),
        }
    }

    /// A reply of the labelling worker (the event loop calls this as soon as it arrives).
    pub fn label_reply(&mut self, reply: crate::learn::worker::LabelReply) {
        self.label.on_reply(reply);
    }

    /// A new snapshot of the labelling worker.
    pub fn label_snapshot(&mut self, snap: Arc<crate::learn::worker::LabelSnapshot>) {
        self.label.on_snapshot(snap);
    }
    /// Stage `name`'s log lines (in memory).
    pub fn stage_log(&self, name: &str) -> Vec<crate::stage::log_buffer::LogLine> {
        self.sup.log(name).map(|l| l.snapshot()).unwrap_or_default()
    }
    /// Pulls the stage snapshot (this process's stages, then other processes'); true when
    /// it changed.
    pub fn refresh_stages(&mut self) -> bool {
        let mut fresh = self.sup.snapshot();
        if let Some(remote) = self.remote.clone() {
            for (text, ok) in remote.take_outcomes() {
                self.say(text, !ok);
            }
            fresh.extend(remote.stages().into_iter().map(|r| remote_status(&r)));
        }
        let changed = fresh != self.stages;
        // The selection follows its stage when rows come and go (remote processes).
        let selected = self.stages.get(self.selected).map(|s| s.name.clone());
        self.stages = fresh;
        self.selected = selected
            .and_then(|n| self.stages.iter().position(|s| s.name == n))
            .unwrap_or(self.selected)
            .min(self.stages.len().saturating_sub(1));
        changed
    }

    /// Re-reads the shown stage's log buffer if it has new lines; true when it changed.
    pub fn refresh_logs(&mut self) -> bool {
        let Some(name) = self.logs.stage.clone() else {
            return false;
        };
        let Some(buffer) = self.sup.log(&name) else {
            return false;
        };
        if buffer.pushed() == self.logs.pushed {
            return false;
        }
        let before = self.logs.lines.len();
        self.logs.pushed = buffer.pushed();
        self.logs.lines = buffer.snapshot();
        // Keep a scrolled-up (or held) view in place as new lines arrive below it.
        if self.logs.scroll > 0 || self.logs.hold {
            self.logs.scroll += self.logs.lines.len().saturating_sub(before);
        }
        true
    }

    pub fn push_tweets(&mut self, tweets: impl IntoIterator<Item = Tweet>) -> bool {
        let before = self.feed.received;
        for t in tweets {
            self.feed.push(t);
        }
        self.feed.received != before && !self.feed.paused()
    }

    /// Drops an expired footer message; true when it did.
    pub fn expire_message(&mut self) -> bool {
        if self
            .message
            .as_ref()
            .is_some_and(|m| m.at.elapsed() > MESSAGE_FOR)
        {
            self.message = None;
            return true;
        }
        false
    }

    /// Output rate of the source and bronze stages, for the header.
    /// Tweets per second into the pipeline: every source, here or in another process.
    pub fn throughput(&self) -> f64 {
        self.stages
            .iter()
            .filter(|s| s.name == "source" || s.name.starts_with("source@"))
            .filter(|s| s.state.is_active())
            .fold(0.0, |sum, s| sum + s.rate)
    }
}
