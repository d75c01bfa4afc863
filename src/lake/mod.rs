//! Parquet lake: bronze / silver / gold layers of complete Parquet files plus dead letters.
//!
//! Writers only ever expose a file under its final `part-*.parquet` name once it is
//! complete and fsynced (see [`rolling`]); readers and stats ignore everything else.

pub mod bronze;
pub mod dead_letter;
pub mod incremental;
pub mod layout;
pub mod read;
pub mod recover;
pub mod rolling;
pub mod schema;
pub mod silver;
pub mod stats;

pub use bronze::{BronzeWriter, RecordMeta, Rolled};
pub use dead_letter::{count_dead_letters, DeadLetter};
pub use layout::{is_complete_file, LakeLayout, Layer};
pub use read::{list_complete_files, read_batches, read_bronze_rows, BronzeRow};
pub use rolling::{remove_stale_temp_files, ClosedFile, RollPolicy, RollingParquet};
pub use schema::bronze_schema;
pub use stats::{LakeStats, LayerStats, StatsScanner};

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

    pub(crate) fn parquet(path: &Path, source: parquet::errors::ParquetError) -> Self {
        Self::Parquet {
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
