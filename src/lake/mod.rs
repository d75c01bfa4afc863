//! The lake: Delta tables (bronze / silver / gold, see [`table`]) plus dead letters, a writer
//! that commits with `txn` versions ([`bronze`]), the one reader that tails a table's log
//! ([`consumer`]), and leases that keep one writer per output ([`lease`]).

pub mod atomic;
pub mod bronze;
pub mod consumer;
pub mod convert;
pub mod dead_letter;
pub mod layout;
pub mod lease;
pub mod maintenance;
pub mod read;
pub mod schema;
pub mod silver;
pub mod stats;
pub mod table;

pub use bronze::{BronzeWriter, RecordMeta, RollPolicy, Rolled};
pub use consumer::{DataFile, LakeCommit, LakeConsumer, StartAt};
pub use dead_letter::{count_dead_letters, DeadLetter};
pub use layout::{is_complete_file, LakeLayout, Layer};
pub use lease::{Lease, LeaseError};
pub use read::{list_complete_files, read_batches, read_bronze_rows, BronzeRow};
pub use schema::bronze_schema;
pub use stats::{LakeStats, LayerStats, StatsScanner};
pub use table::{LakeLocation, TableError};

use std::path::Path;

/// Errors of the lake, each with the path (or operation) it happened on.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Parquet {
        context: String,
        source: parquet::errors::ParquetError,
    },
    #[error("{context}: {source}")]
    Arrow {
        context: String,
        source: arrow::error::ArrowError,
    },
    #[error(transparent)]
    Table(#[from] TableError),
    /// A previous write failed: the writer may have lost rows and must be dropped.
    #[error("writer failed earlier and must be recreated: {0}")]
    Failed(String),
}

impl LakeError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            context: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn arrow(context: impl Into<String>, source: arrow::error::ArrowError) -> Self {
        Self::Arrow {
            context: context.into(),
            source,
        }
    }
}
