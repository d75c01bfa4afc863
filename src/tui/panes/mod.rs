//! One file per pane; each draws from `App` state only.

pub mod feed;
pub mod help;
pub mod lake;
pub mod logs;
pub mod stages;
