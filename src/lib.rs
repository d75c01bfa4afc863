//! ssp-tui: a terminal control centre for a single-machine streaming data pipeline.
//!
//! The library holds everything; `main.rs` is only the command-line edge, so the tests in
//! `tests/` drive the same code the binary runs.

pub mod app;
pub mod backoff;
pub mod bench;
pub mod bench_kafka;
pub mod bench_lake;
pub mod bench_trending;
pub mod bus;
pub mod cli;
pub mod config;
pub mod dataset_export;
pub mod fault;
pub mod headless;
pub mod lake;
pub mod latency;
pub mod learn;
pub mod logging;
pub mod nlp;
pub mod remote;
pub mod report;
pub mod source;
pub mod sql;
pub mod stage;
pub mod store;
pub mod trending;
pub mod tui;
pub mod tweet;
