//! ssp-tui: a terminal control centre for a single-machine streaming data pipeline.
//!
//! The library holds everything; `main.rs` is only the command-line edge, so the tests in
//! `tests/` drive the same code the binary runs.

// Outside tests, a panic is a bug: errors are returned. The few real invariants that
// expect() are allowed where they are, with the reason.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod backoff;
pub mod bench;
pub mod bus;
pub mod cli;
pub mod config;
pub mod fault;
pub mod headless;
pub mod lake;
pub mod latency;
pub mod learn;
pub mod logging;
pub mod nlp;
pub mod pipeline;
pub mod remote;
pub mod report;
pub mod source;
pub mod sql;
pub mod stage;
pub mod store;
pub mod trending;
pub mod tui;
pub mod tweet;
