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
use std::time::{Duration, Instant};

use bytes::Bytes;
use deltalake::kernel::Action;
use deltalake::DeltaTable;
use serde::Deserialize;

use super::table::{self, LakeLocation, TableError};

/// How often an idle consumer checks that the commit it waits for was not cleaned from the
/// log (a listing of `_delta_log`, whose cost grows with the log: not on every poll).
const GAP_CHECK: Duration = Duration::from_secs(10);

/// Where a consumer without a checkpoint begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// Everything already in the table, then every later commit. Commits up to the version
    /// current at the first poll hand out only their files still in that version (files that
    /// compaction replaced, and vacuum may have deleted, are never asked for); that version's
    /// commit also hands out the compacted files. When early commits were cleaned from the
    /// log, the whole current version comes as one commit.
    Beginning,
    /// Every commit from version 0, one by one (fails once early commits were cleaned from
    /// the log): for measuring commits, not for reading data.
    FirstCommit,
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
    /// No checkpoint and [`StartAt::Beginning`]: the first poll reads the current snapshot.
    from_snapshot: bool,
    /// Reading the history up to the snapshot taken at the first poll.
    catch_up: Option<CatchUp>,
    last_gap_check: Option<Instant>,
}

impl LakeConsumer {
    /// `after` is the last version already processed (the consumer's checkpoint).
    pub fn new(location: LakeLocation, name: &str, after: Option<i64>, start: StartAt) -> Self {
        let next = match (after, start) {
            (Some(v), _) => Some(v + 1),
            (None, StartAt::Beginning | StartAt::FirstCommit) => Some(0),
            (None, StartAt::Now) => None,
        };
        LakeConsumer {
            location,
            name: name.to_string(),
            table: None,
            next,
            from_snapshot: after.is_none() && start == StartAt::Beginning,
            catch_up: None,
            last_gap_check: None,
        }
    }

    pub fn table_name(&self) -> &str {
        &self.name
    }

    /// The last version handed out (or skipped by [`StartAt::Now`]): the checkpoint to store
    /// once everything before it is processed. `None` before the table exists.
    pub fn position(&self) -> Option<i64> {
        self.handled().filter(|v| *v >= 0)
    }

    /// The last version handled, -1 before version 0 (nothing read yet); `None` while a
    /// [`StartAt::Now`] consumer has not yet decided where it starts. What a reader reports
    /// from its start, so a shutdown waits for it to reach the writer's last commit.
    pub fn handled(&self) -> Option<i64> {
        self.next.map(|n| n - 1)
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
        if self.from_snapshot {
            match self.snapshot().await? {
                Some(whole) => return Ok(whole),
                None if self.catch_up.is_none() => return Ok(Vec::new()),
                None => {}
            }
        }
        let check_gap = self.last_gap_check.is_none_or(|t| t.elapsed() >= GAP_CHECK);
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
                if out.is_empty() && check_gap {
                    self.last_gap_check = Some(Instant::now());
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
            let mut files = added_files(actions);
            if let Some(c) = &mut self.catch_up {
                files = c.filter(next, files);
            }
            out.push(LakeCommit {
                version: next,
                timestamp_ms,
                files,
            });
            next += 1;
        }
        Ok(out)
    }

    /// At the first poll from the beginning: the table's current version and its live files.
    /// Starts the catch-up walk (`None`), or, when the log no longer starts at version 0,
    /// returns the whole version as one commit. Empty while the table does not exist.
    async fn snapshot(&mut self) -> Result<Option<Vec<LakeCommit>>, TableError> {
        let name = self.name.clone();
        if self.table().await?.is_none() {
            return Ok(Some(Vec::new()));
        }
        let Some(t) = self.table.as_mut() else {
            return Ok(Some(Vec::new()));
        };
        t.update_state()
            .await
            .map_err(|e| TableError::delta(&name, e))?;
        let snapshot = t.snapshot().map_err(|e| TableError::delta(&name, e))?;
        let Ok(version) = i64::try_from(snapshot.version()) else {
            return Ok(Some(Vec::new()));
        };
        // Oldest file first (as their commits were made), then by path: readers that take
        // "the first N rows" (collect) see the lake in the order it was written.
        let mut views: Vec<_> = snapshot.log_data().iter().collect();
        views.sort_by_cached_key(|f| (f.modification_time(), f.path().into_owned()));
        let live: Vec<DataFile> = views
            .into_iter()
            .map(|f| DataFile {
                path: f.path().into_owned(),
                bytes: u64::try_from(f.size()).unwrap_or(0),
                rows: f.num_records().map(|n| n as u64),
                partition_values: f.partition_values_map(),
            })
            .collect();
        let first = t
            .log_store()
            .read_commit_entry(0)
            .await
            .map_err(|e| TableError::delta(&name, e))?;
        self.from_snapshot = false;
        if first.is_none() {
            // Early commits cleaned from the log: the current version is the starting point.
            self.catch_up = Some(CatchUp::done_at(version));
            return Ok(Some(vec![LakeCommit {
                version,
                timestamp_ms: None,
                files: live,
            }]));
        }
        self.catch_up = Some(CatchUp::new(version, live));
        Ok(None)
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
        if self.catch_up.as_ref().is_some_and(|c| version >= c.until) {
            self.catch_up = None;
        }
        self.from_snapshot = false;
        self.next = Some(version + 1);
    }
}

/// The walk from version 0 up to the version current when a consumer started from the
/// beginning: only files still live in that version count, and that version's commit also
/// carries the live files no data commit added (compaction output).
struct CatchUp {
    until: i64,
    /// Live files at `until` by path; those a data commit added are marked.
    live: HashMap<String, (DataFile, bool)>,
    /// Live files in snapshot order (for the leftover list).
    order: Vec<String>,
}

impl CatchUp {
    fn new(until: i64, live: Vec<DataFile>) -> CatchUp {
        let order = live.iter().map(|f| f.path.clone()).collect();
        let live = live
            .into_iter()
            .map(|f| (f.path.clone(), (f, false)))
            .collect();
        CatchUp { until, live, order }
    }

    /// Nothing left to walk: the snapshot at `until` was handed out whole.
    fn done_at(until: i64) -> CatchUp {
        CatchUp {
            until,
            live: HashMap::new(),
            order: Vec::new(),
        }
    }

    fn filter(&mut self, version: i64, files: Vec<DataFile>) -> Vec<DataFile> {
        if version > self.until {
            return files;
        }
        let mut out: Vec<DataFile> = files
            .into_iter()
            .filter(|f| match self.live.get_mut(&f.path) {
                Some((_, added)) => {
                    *added = true;
                    true
                }
                None => false,
            })
            .collect();
        if version == self.until {
            out.extend(
                self.order
                    .iter()
                    .filter_map(|p| self.live.get(p))
                    .filter(|(_, added)| !added)
                    .map(|(f, _)| f.clone()),
            );
        }
        out
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
