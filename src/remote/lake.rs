//! Status through the lake (no Kafka): `_status/reports/<instance>.json` (one process's
//! reports, replaced every interval), `_status/control/<instance>/<id>.json` (commands, deleted
//! once executed) and `_status/acks/<id>.json` (answers, cleaned after a few minutes). Works on
//! a folder and on S3 alike (object store puts are atomic).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt as _;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};

use super::{Ack, Channel, Command, StageReport};
use crate::lake::LakeLocation;

/// Acks older than this are deleted by whoever reads them.
const ACK_KEEP: Duration = Duration::from_secs(300);
/// Report files not replaced for this long (their process is gone) are deleted by readers.
const REPORT_KEEP: Duration = Duration::from_secs(3600);

pub struct LakeChannel {
    store: Arc<dyn ObjectStore>,
    where_: String,
    seen_acks: Mutex<HashSet<String>>,
}

impl LakeChannel {
    pub fn new(location: &LakeLocation) -> anyhow::Result<LakeChannel> {
        if let Some(dir) = location.local_dir() {
            std::fs::create_dir_all(dir.join("_status"))
                .with_context(|| format!("creating {}", dir.join("_status").display()))?;
        }
        let table = crate::lake::convert::unloaded(location, "_status")?;
        Ok(LakeChannel {
            store: table.log_store().object_store(None),
            where_: format!("lake {}_status", location.display()),
            seen_acks: Mutex::default(),
        })
    }

    async fn put_json(&self, path: &str, value: &impl serde::Serialize) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec(value)?;
        self.store
            .put(&Path::from(path), PutPayload::from(Bytes::from(bytes)))
            .await
            .with_context(|| format!("writing {path}"))?;
        Ok(())
    }

    /// Every object under `prefix` with its age, parsed (unreadable ones skipped: a process
    /// may be replacing its file).
    async fn read_all<T: serde::de::DeserializeOwned>(
        &self,
        prefix: &str,
    ) -> anyhow::Result<Vec<(Path, Duration, T)>> {
        let mut list = self.store.list(Some(&Path::from(prefix)));
        let mut out = Vec::new();
        let now = chrono::Utc::now();
        while let Some(meta) = list.next().await {
            let meta = match meta {
                Ok(m) => m,
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(e).with_context(|| format!("listing {prefix}")),
            };
            let age = (now - meta.last_modified).to_std().unwrap_or_default();
            let bytes = match self.store.get(&meta.location).await {
                Ok(r) => r.bytes().await?,
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(e).with_context(|| format!("reading {}", meta.location)),
            };
            if let Ok(v) = serde_json::from_slice(&bytes) {
                out.push((meta.location, age, v));
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Channel for LakeChannel {
    async fn publish(&self, reports: &[StageReport]) -> anyhow::Result<()> {
        let Some(first) = reports.first() else {
            return Ok(());
        };
        self.put_json(&format!("reports/{}.json", first.instance), &reports)
            .await
    }

    async fn reports(&self) -> anyhow::Result<Vec<StageReport>> {
        let mut out = Vec::new();
        for (path, age, reports) in self.read_all::<Vec<StageReport>>("reports").await? {
            if age > REPORT_KEEP {
                let _ = self.store.delete(&path).await;
                continue;
            }
            out.extend(reports);
        }
        Ok(out)
    }

    async fn send(&self, command: &Command) -> anyhow::Result<()> {
        self.put_json(
            &format!("control/{}/{}.json", command.instance, command.id),
            command,
        )
        .await
    }

    async fn commands(&self, instance: &str) -> anyhow::Result<Vec<Command>> {
        let mut out = Vec::new();
        for (path, _, c) in self
            .read_all::<Command>(&format!("control/{instance}"))
            .await?
        {
            // Deleted before it is executed: a command runs at most once.
            match self.store.delete(&path).await {
                Ok(()) => out.push(c),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e).context("deleting an executed command"),
            }
        }
        Ok(out)
    }

    async fn ack(&self, ack: &Ack) -> anyhow::Result<()> {
        self.put_json(&format!("acks/{}.json", ack.id), ack).await
    }

    async fn acks(&self) -> anyhow::Result<Vec<Ack>> {
        let mut out = Vec::new();
        for (path, age, a) in self.read_all::<Ack>("acks").await? {
            if age > ACK_KEEP {
                let _ = self.store.delete(&path).await;
                continue;
            }
            let mut seen = self.seen_acks.lock().unwrap_or_else(|e| e.into_inner());
            if seen.insert(a.id.clone()) {
                out.push(a);
            }
        }
        Ok(out)
    }

    fn describe(&self) -> String {
        self.where_.clone()
    }
}
