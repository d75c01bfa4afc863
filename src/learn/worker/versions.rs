//! Following dataset versions: the worker loads the newest one (or the one pinned with
//! `:dataset N`) when it appears, and keeps the hand-label count of every version.

use tokio_util::sync::CancellationToken;

use super::{Worker, WorkerState};
use crate::config::ABSTAIN;
use crate::learn::history;
use crate::learn::lf::LabelingFunctions;
use crate::learn::session::{Session, Target};

impl Worker {
    /// Loads the newest version when it is newer than the session's; true when it switched.
    pub(super) async fn follow_versions(
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
            Ok::<_, crate::learn::labels::LabelStoreError>((ds, events))
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
}
