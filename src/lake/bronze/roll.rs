//! A roll: what is buffered becomes one Delta commit carrying its `txn` versions, refused
//! when another writer moved them meanwhile.

use chrono::Utc;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Transaction};
use deltalake::protocol::{DeltaOperation, OutputMode};
use deltalake::writer::DeltaWriter as _;

use super::{BronzeWriter, Rolled, TABLE};
use crate::lake::table::TableError;
use crate::lake::LakeError;

impl BronzeWriter {
    /// Writes what is buffered, fsyncs the dead letters, and commits the new files with their
    /// transaction versions as one table version.
    pub async fn roll(&mut self) -> Result<Rolled, LakeError> {
        self.check()?;
        if !self.pending() {
            return Ok(Rolled::default());
        }
        self.flush().await?;
        if let Err(e) = self.dead.sync() {
            let context = self
                .dead
                .path()
                .map_or_else(|| "dead letter".into(), |p| p.display().to_string());
            return Err(self.fail(LakeError::Io { context, source: e }));
        }
        let adds = match self.writer.flush().await {
            Ok(a) => a,
            Err(e) => return Err(self.fail(TableError::delta(TABLE, e).into())),
        };
        let rows = self.rows;
        let bytes: u64 = adds.iter().map(|a| a.size.max(0) as u64).sum();
        let files = adds.len();
        match self.commit(adds).await {
            Ok(version) => {
                self.rows = 0;
                self.pending_since = None;
                for (app, v) in std::mem::take(&mut self.txns) {
                    self.expected.insert(app, Some(v));
                }
                Ok(Rolled {
                    version: Some(version),
                    files,
                    rows,
                    bytes,
                    dead_letters: std::mem::take(&mut self.dead_since_roll),
                    commit: std::mem::take(&mut self.commit),
                })
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Checks that nobody moved the transactions this roll advances, then commits.
    async fn commit(&mut self, adds: Vec<deltalake::kernel::Add>) -> Result<i64, LakeError> {
        self.table
            .update_incremental(None)
            .await
            .map_err(|e| TableError::delta(TABLE, e))?;
        let snapshot = self
            .table
            .snapshot()
            .map_err(|e| TableError::delta(TABLE, e))?;
        for app in self.txns.keys() {
            let now = snapshot
                .transaction_version(self.table.log_store().as_ref(), app)
                .await
                .map_err(|e| TableError::delta(TABLE, e))?;
            let expected = self.expected.get(app).copied().flatten();
            if now != expected {
                return Err(TableError::Fenced {
                    table: TABLE.to_string(),
                    what: format!(
                        "another writer advanced {app} to {now:?} (this one resumed at {expected:?}): not committing, resuming from the table"
                    ),
                }
                .into());
            }
        }
        self.epoch += 1;
        let now_ms = Utc::now().timestamp_millis();
        let mut actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
        actions.extend(
            self.txns.iter().map(|(app, v)| {
                Action::Txn(Transaction::new_with_last_update(app, *v, Some(now_ms)))
            }),
        );
        let operation = DeltaOperation::StreamingUpdate {
            output_mode: OutputMode::Append,
            query_id: self.writer_id.clone(),
            epoch_id: self.epoch,
        };
        let finalized = CommitBuilder::from(CommitProperties::default())
            .with_actions(actions)
            .build(Some(snapshot), self.table.log_store(), operation)
            .await
            .map_err(|e| TableError::delta(TABLE, e))?;
        let version = finalized.version() as i64;
        self.table.state = Some(finalized.snapshot());
        Ok(version)
    }
}
