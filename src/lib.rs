//! ssp-tui: a terminal control centre for a single-machine streaming data pipeline.
//!
//! The library holds everything; `main.rs` is only the command-line edge, so the tests in
//! `tests/` drive the same code the binary runs.

pub mod app;
pub mod bench;
pub mod bus;
pub mod cli;
pub mod config;
pub mod headless;
pub mod lake;
pub mod logging;
pub mod source;
pub mod stage;
pub mod tui;
pub mod tweet;
