//! One file per pane; each draws from `App` state only.

pub mod detail;
pub mod feed;
pub mod help;
pub mod label;
pub mod lag;
pub mod lake;
pub mod logs;
pub mod ner;
pub mod pipeline;
pub mod sql;
pub mod stages;
pub mod trending;
