//! Writing `silver/ner` (rows + checkpoint in one commit) and reading it back.

use chrono::Utc;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Transaction};
use deltalake::protocol::{DeltaOperation, OutputMode};
use deltalake::writer::{DeltaWriter as _, RecordBatchWriter};
use deltalake::DeltaTable;

use super::rows::{batch_rows, day_of, ner_batch, ner_schema, parse_date, NerRow};
use super::{NER_APP_ID, NER_TABLE};
use crate::lake::consumer::{LakeConsumer, StartAt};
use crate::lake::read::read_batches;
use crate::lake::table::{self, LakeLocation, TableError};
use crate::lake::LakeError;

/// The table's checkpoint moved under this writer: another `ner` committed meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("another ner writer is running: silver/ner records bronze version {found:?}, this writer resumed from {expected:?}; not committing")]
pub struct WriterMoved {
    pub found: Option<i64>,
    pub expected: Option<i64>,
}

/// Why a [`NerTableWriter::commit`] failed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Moved(#[from] WriterMoved),
    #[error(transparent)]
    Lake(#[from] LakeError),
}

/// What one commit made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NerCommit {
    /// The silver table version.
    pub version: i64,
    pub files: usize,
    pub rows: u64,
}

/// The one writer of `silver/ner`: rows are streamed into data files, and
/// [`commit`](Self::commit) adds them together with the bronze version they cover.
///
/// The writer remembers the checkpoint it resumed from ([`resume_point`](Self::resume_point))
/// and refuses to commit when the table holds another one (a second writer, e.g. on object
/// storage where there is no lock file). After any error it refuses to commit: drop it and
/// resume from the table.
pub struct NerTableWriter {
    table: DeltaTable,
    writer: RecordBatchWriter,
    /// The checkpoint this writer last read or committed.
    expected: Option<i64>,
    rows: u64,
    writer_id: String,
    epoch: i64,
    failed: Option<String>,
}

fn delta(e: deltalake::DeltaTableError) -> LakeError {
    TableError::delta(NER_TABLE, e).into()
}

impl NerTableWriter {
    /// Opens (or creates) the table. `writer_id` names this writer in the commit info.
    pub async fn open(location: &LakeLocation, writer_id: String) -> Result<Self, LakeError> {
        let table = table::open_or_create(location, NER_TABLE, &ner_schema(), &["date"]).await?;
        let writer = RecordBatchWriter::for_table(&table).map_err(delta)?;
        Ok(Self {
            table,
            writer,
            expected: None,
            rows: 0,
            writer_id,
            epoch: 0,
            failed: None,
        })
    }

    /// Reads the checkpoint (the last bronze version the table holds) from the newest table
    /// version, and remembers it as what the next commit expects to find.
    pub async fn resume_point(&mut self) -> Result<Option<i64>, LakeError> {
        self.expected = self.read_checkpoint().await?;
        Ok(self.expected)
    }

    async fn read_checkpoint(&mut self) -> Result<Option<i64>, LakeError> {
        Ok(table::latest_txn_version(&mut self.table, NER_TABLE, NER_APP_ID).await?)
    }

    /// Streams `rows` into data files (not visible until [`commit`](Self::commit)).
    pub async fn write(&mut self, rows: &[NerRow]) -> Result<(), LakeError> {
        if let Some(e) = self.refused() {
            return Err(e);
        }
        if rows.is_empty() {
            return Ok(());
        }
        let batch = ner_batch(rows).map_err(|e| LakeError::arrow("silver NER rows", e))?;
        if let Err(e) = self.writer.write(batch).await {
            return Err(self.fail(delta(e)));
        }
        self.rows += rows.len() as u64;
        Ok(())
    }

    /// Rows written since the last commit.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Approximate encoded bytes written since the last commit.
    pub fn bytes(&self) -> u64 {
        self.writer.buffer_len() as u64
    }

    /// Commits the rows written so far with checkpoint `bronze_version` as one table version,
    /// after checking that the table's checkpoint is still the one this writer expects.
    pub async fn commit(&mut self, bronze_version: i64) -> Result<NerCommit, CommitError> {
        if let Some(e) = self.refused() {
            return Err(e.into());
        }
        let adds = match self.writer.flush().await {
            Ok(a) => a,
            Err(e) => return Err(self.fail(delta(e)).into()),
        };
        let found = match self.read_checkpoint().await {
            Ok(v) => v,
            Err(e) => return Err(self.fail(e).into()),
        };
        let expected = self.expected;
        let moved = |found| WriterMoved { found, expected };
        if found != self.expected {
            let e = moved(found);
            self.failed = Some(e.to_string());
            return Err(e.into());
        }
        if self.expected.is_some_and(|v| bronze_version <= v) {
            let e = LakeError::Failed(format!(
                "checkpoint would go back from bronze version {:?} to {bronze_version}",
                self.expected
            ));
            return Err(self.fail(e).into());
        }
        let files = adds.len();
        let mut actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
        actions.push(Action::Txn(Transaction::new_with_last_update(
            NER_APP_ID,
            bronze_version,
            Some(Utc::now().timestamp_millis()),
        )));
        self.epoch += 1;
        let operation = DeltaOperation::StreamingUpdate {
            output_mode: OutputMode::Append,
            query_id: self.writer_id.clone(),
            epoch_id: self.epoch,
        };
        let snapshot = match self.table.snapshot() {
            Ok(s) => s,
            Err(e) => return Err(self.fail(delta(e)).into()),
        };
        let committed = CommitBuilder::from(CommitProperties::default())
            .with_actions(actions)
            .build(Some(snapshot), self.table.log_store(), operation)
            .await;
        let finalized = match committed {
            Ok(f) => f,
            Err(e) => {
                let e = TableError::delta(NER_TABLE, e);
                if e.is_conflict() {
                    let found = self.read_checkpoint().await.ok().flatten();
                    let e = moved(found);
                    self.failed = Some(e.to_string());
                    return Err(e.into());
                }
                return Err(self.fail(e.into()).into());
            }
        };
        let version = finalized.version() as i64;
        self.table.state = Some(finalized.snapshot());
        self.expected = Some(bronze_version);
        let rows = std::mem::take(&mut self.rows);
        Ok(NerCommit {
            version,
            files,
            rows,
        })
    }

    /// The error to refuse with after an earlier failure.
    fn refused(&self) -> Option<LakeError> {
        self.failed.clone().map(LakeError::Failed)
    }

    fn fail(&mut self, e: LakeError) -> LakeError {
        self.failed = Some(e.to_string());
        e
    }
}

/// The `ner` stage's checkpoint in `silver/ner` (`None`: no table, or nothing committed).
pub async fn ner_checkpoint(location: &LakeLocation) -> Result<Option<i64>, LakeError> {
    let Some(t) = table::open(location, NER_TABLE).await? else {
        return Ok(None);
    };
    Ok(table::txn_version(&t, NER_TABLE, NER_APP_ID).await?)
}

/// Every row of `silver/ner`, commit by commit (tests, exports; the table is append-only).
pub async fn read_ner_rows(location: &LakeLocation) -> Result<Vec<NerRow>, LakeError> {
    let mut consumer = LakeConsumer::new(location.clone(), NER_TABLE, None, StartAt::Beginning);
    let mut rows = Vec::new();
    loop {
        let commits = consumer.poll(256).await?;
        let Some(last) = commits.last().map(|c| c.version) else {
            return Ok(rows);
        };
        for commit in &commits {
            for file in &commit.files {
                let date = file
                    .partition_values
                    .get("date")
                    .cloned()
                    .flatten()
                    .and_then(|d| parse_date(&d))
                    .unwrap_or_else(|| day_of(0));
                let bytes = consumer.read(file).await?;
                for batch in read_batches(bytes, &file.path)? {
                    rows.extend(
                        batch_rows(&batch, date)
                            .map_err(|e| LakeError::arrow(file.path.clone(), e))?,
                    );
                }
            }
        }
        consumer.ack(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlp::Entity;

    fn row(i: i64, entities: Vec<Entity>, error: Option<&str>) -> NerRow {
        NerRow {
            id_str: format!("id{i}"),
            created_at: (i % 2 == 0).then_some(1_600_000_000_000 + i),
            text: format!("text {i}"),
            entities,
            error: error.map(str::to_string),
            backend: "rules".into(),
            bronze_version: 3 + i / 3,
            bronze_file: format!("date=2026-01-0{}/part-{}.parquet", 1 + i % 2, i / 3),
            bronze_row: i % 3,
            ner_time: 1_700_000_000_123,
            date: parse_date(&format!("2026-01-0{}", 1 + i % 2)).unwrap(),
        }
    }

    fn rows() -> Vec<NerRow> {
        vec![
            row(0, vec![Entity::new("Friday", "DATE", 19, 25)], None),
            row(1, vec![], Some("HTTP 500: boom")),
            row(
                2,
                vec![
                    Entity::unplaced("Sita", "PERSON"),
                    Entity::new("Ram", "PERSON", 0, 3),
                ],
                None,
            ),
            row(3, vec![], None),
        ]
    }

    fn sorted(mut r: Vec<NerRow>) -> Vec<NerRow> {
        r.sort_by(|a, b| a.id_str.cmp(&b.id_str));
        r
    }

    #[tokio::test]
    async fn rows_and_checkpoint_commit_together_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let loc = LakeLocation::local(dir.path());
        let mut w = NerTableWriter::open(&loc, "t".into()).await.unwrap();
        assert_eq!(w.resume_point().await.unwrap(), None);
        w.write(&rows()).await.unwrap();
        assert_eq!(w.rows(), 4);
        assert!(
            read_ner_rows(&loc).await.unwrap().is_empty(),
            "not visible yet"
        );
        assert_eq!(ner_checkpoint(&loc).await.unwrap(), None);
        let c = w.commit(4).await.unwrap();
        assert_eq!((c.rows, c.files), (4, 2), "one file per date partition");
        assert_eq!(ner_checkpoint(&loc).await.unwrap(), Some(4));
        assert_eq!(sorted(read_ner_rows(&loc).await.unwrap()), rows());
        // A checkpoint-only commit (bronze commits without tweets) moves it on.
        let c = w.commit(6).await.unwrap();
        assert_eq!((c.rows, c.files), (0, 0));
        assert_eq!(ner_checkpoint(&loc).await.unwrap(), Some(6));
        assert_eq!(read_ner_rows(&loc).await.unwrap().len(), 4);
        // A new writer resumes there.
        let mut again = NerTableWriter::open(&loc, "t2".into()).await.unwrap();
        assert_eq!(again.resume_point().await.unwrap(), Some(6));
        assert!(again.commit(5).await.is_err(), "never backwards");
    }

    #[tokio::test]
    async fn a_second_writer_is_refused_once_the_first_committed() {
        let dir = tempfile::tempdir().unwrap();
        let loc = LakeLocation::local(dir.path());
        let mut a = NerTableWriter::open(&loc, "a".into()).await.unwrap();
        let mut b = NerTableWriter::open(&loc, "b".into()).await.unwrap();
        assert_eq!(a.resume_point().await.unwrap(), None);
        assert_eq!(b.resume_point().await.unwrap(), None);
        a.write(&rows()[..2]).await.unwrap();
        a.commit(7).await.unwrap();
        b.write(&rows()[2..]).await.unwrap();
        let err = b.commit(7).await.unwrap_err();
        assert!(
            matches!(&err, CommitError::Moved(m) if m.found == Some(7) && m.expected.is_none()),
            "{err}"
        );
        assert!(
            err.to_string().contains("another ner writer is running"),
            "{err}"
        );
        assert!(b.commit(8).await.is_err(), "a refused writer stays refused");
        let got = read_ner_rows(&loc).await.unwrap();
        assert_eq!(
            sorted(got),
            rows()[..2].to_vec(),
            "only the first writer's rows"
        );
        assert_eq!(ner_checkpoint(&loc).await.unwrap(), Some(7));
    }
}
