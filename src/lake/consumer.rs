//! Tailing a Delta table by version: the one way every downstream stage (trending, ner,
//! collect, classify) reads the lake.
//!
//! A consumer's checkpoint is one number, the last table version it processed, stored with
//! its own output (same PostgreSQL transaction, same atomic file, or a `txn` action in the
//! Delta commit of its output table). Each poll reads only the commits after it, so the cost
//! of a new commit does not grow with the table's history; nothing lists folders or keeps sets
//! of file names. Files added by compaction (`dataChange = false`) are not new data and are
//! skipped.

use std::collections::HashMap;

use bytes::Bytes;
use deltalake::kernel::Action;
use deltalake::DeltaTable;
use serde::Deserialize;

use super::table::{self, LakeLocation, TableError};

/// Where a consumer without a checkpoint begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// Every commit already in the table.
    Beginning,
    /// Only commits made after the consumer first started.
    Now,
}

/// A data file a commit added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// Path relative to the table root, as in the log.
    pub path: String,
    pub bytes: u64,
    /// Row count from the file's statistics, when written.
    pub rows: Option<u64>,
    pub partition_values: HashMap<String, Option<String>>,
}

/// One commit's new data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeCommit {
    pub version: i64,
    /// When the writer made the commit (epoch ms, from its `commitInfo`), when recorded.
    pub timestamp_ms: Option<i64>,
    pub files: Vec<DataFile>,
}

impl LakeCommit {
    pub fn rows(&self) -> u64 {
        self.files.iter().filter_map(|f| f.rows).sum()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stats {
    num_records: Option<u64>,
}

/// Reads the commits of one table after a checkpointed version.
pub struct LakeConsumer {
    location: LakeLocation,
    name: String,
    table: Option<DeltaTable>,
    /// Next version to read; `None` until decided (first start with [`StartAt::Now`]).
    next: Option<i64>,
}

impl LakeConsumer {
    /// `after` is the last version already processed (the consumer's checkpoint).
    pub fn new(location: LakeLocation, name: &str, after: Option<i64>, start: StartAt) -> Self {
        let next = match (after, start) {
            (Some(v), _) => Some(v + 1),
            (None, StartAt::Beginning) => Some(0),
            (None, StartAt::Now) => None,
        };
        LakeConsumer {
            location,
            name: name.to_string(),
            table: None,
            next,
        }
    }

    pub fn table_name(&self) -> &str {
        &self.name
    }

    /// The last version handed out (or skipped by [`StartAt::Now`]): the checkpoint to store
    /// once everything before it is processed. `None` before the table exists.
    pub fn position(&self) -> Option<i64> {
        self.next.map(|n| n - 1).filter(|v| *v >= 0)
    }

    /// The table, opened on first use; `None` while it does not exist yet.
    async fn table(&mut self) -> Result<Option<&DeltaTable>, TableError> {
        if self.table.is_none() {
            self.table = table::open(&self.location, &self.name).await?;
        }
        Ok(self.table.as_ref())
    }

    /// The newest version of the table (`None` while it does not exist).
    pub async fn latest_version(&mut self) -> Result<Option<i64>, TableError> {
        let name = self.name.clone();
        let Some(t) = self.table().await? else {
            return Ok(None);
        };
        let v = t
            .log_store()
            .get_latest_version(0)
            .await
            .map_err(|e| TableError::delta(&name, e))?;
        Ok(Some(v as i64))
    }

    /// Up to `max` commits after the checkpoint, oldest first; empty when up to date. Does not
    /// advance: call [`ack`](Self::ack) once a commit is processed, so a failure reads it again.
    pub async fn poll(&mut self, max: usize) -> Result<Vec<LakeCommit>, TableError> {
        let name = self.name.clone();
        if self.next.is_none() {
            // First start at "now": everything up to the current version counts as seen.
            match self.latest_version().await? {
                Some(v) => self.next = Some(v + 1),
                None => self.next = Some(0),
            }
            return Ok(Vec::new());
        }
        let Some(t) = self.table().await? else {
            return Ok(Vec::new());
        };
        let store = t.log_store();
        let mut out = Vec::new();
        let mut next = self.next.unwrap_or(0);
        while out.len() < max {
            let bytes = store
                .read_commit_entry(next as u64)
                .await
                .map_err(|e| TableError::delta(&name, e))?;
            let Some(bytes) = bytes else {
                if out.is_empty() {
                    let latest = store.get_latest_version(next as u64).await.unwrap_or(0) as i64;
                    if latest > next {
                        return Err(TableError::other(
                            &name,
                            format!(
                                "commit {next} is no longer in the log (log retention) but {latest} is: this consumer fell too far behind"
                            ),
                        ));
                    }
                }
                break;
            };
            let actions = deltalake::logstore::get_actions(next as u64, &bytes)
                .map_err(|e| TableError::delta(&name, e))?;
            let timestamp_ms = actions.iter().find_map(|a| match a {
                Action::CommitInfo(ci) => ci.timestamp,
                _ => None,
            });
            out.push(LakeCommit {
                version: next,
                timestamp_ms,
                files: added_files(actions),
            });
            next += 1;
        }
        Ok(out)
    }

    /// Reads one data file of the table.
    pub async fn read(&mut self, file: &DataFile) -> Result<Bytes, TableError> {
        let name = self.name.clone();
        let Some(t) = self.table().await? else {
            return Err(TableError::other(&name, "table does not exist"));
        };
        table::read_file(t, &file.path).await
    }

    /// Marks every commit up to `version` processed.
    pub fn ack(&mut self, version: i64) {
        self.next = Some(version + 1);
    }
}

/// The data files a commit added (not compaction rewrites).
fn added_files(actions: Vec<Action>) -> Vec<DataFile> {
    actions
        .into_iter()
        .filter_map(|a| match a {
            Action::Add(add) if add.data_change => Some(DataFile {
                rows: add
                    .stats
                    .as_deref()
                    .and_then(|s| serde_json::from_str::<Stats>(s).ok())
                    .and_then(|s| s.num_records),
                bytes: add.size.max(0) as u64,
                path: add.path,
                partition_values: add.partition_values,
            }),
            _ => None,
        })
        .collect()
}
