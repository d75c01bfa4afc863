//! SQL over the lake (DataFusion): the engine with the lake's and stores' tables registered by
//! name ([`engine`]), errors with positions ([`error`]), output formats ([`output`]), the
//! editor's history, completion and keyword highlighting, the worker the TUI talks to
//! ([`worker`]) and `ssp-tui sql` ([`headless`]).

pub mod complete;
pub mod engine;
pub mod error;
pub mod headless;
pub mod highlight;
pub mod history;
mod leaf_functions;
pub mod output;
pub mod store_tables;
pub mod worker;

pub use engine::{QueryResult, SqlEngine, TableInfo};
pub use error::SqlError;
pub use output::Format;

/// Example queries shipped in `assets/sql/` (name, text), listed by `:examples`.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "trending_hashtags",
        include_str!("../../assets/sql/trending_hashtags.sql"),
    ),
    (
        "hashtags_per_minute",
        include_str!("../../assets/sql/hashtags_per_minute.sql"),
    ),
    (
        "most_mentioned_users",
        include_str!("../../assets/sql/most_mentioned_users.sql"),
    ),
    (
        "ner_entities_by_label",
        include_str!("../../assets/sql/ner_entities_by_label.sql"),
    ),
    (
        "labelled_vs_predicted",
        include_str!("../../assets/sql/labelled_vs_predicted.sql"),
    ),
];
