//! The silver layer: `silver/ner`, a Delta table (partitioned by `date`) with one row per
//! tweet that went through NER: its entities, or the error it is recorded with.
//!
//! The `ner` stage writes it with [`NerTableWriter`]; every commit also carries a `txn` action
//! (app id [`NER_APP_ID`], version = the last bronze version whose tweets the table now
//! holds). That version *is* the stage's checkpoint: rows and checkpoint land in one atomic
//! Delta commit, so a restart neither skips a tweet nor records one twice.

mod ner;
mod rows;

pub use ner::{ner_checkpoint, read_ner_rows, CommitError, NerCommit, NerTableWriter, WriterMoved};
pub use rows::{batch_rows, day_of, ner_batch, ner_schema, parse_date, NerRow};

/// Name (path under the lake) of the silver NER table.
pub const NER_TABLE: &str = "silver/ner";

/// `txn` app id of the `ner` stage in `silver/ner`: version = last bronze version processed.
pub const NER_APP_ID: &str = "ssp-ner/bronze";
