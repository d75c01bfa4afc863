//! What a running stage reports, whatever the stage: its counters ([`StageMetrics`]), its
//! recent log lines ([`LogBuffer`]) and the error that stops it for good ([`Fatal`]). Sources
//! and stages both report through these; the supervisor and the panes read them.

mod fatal;
pub mod log_buffer;
pub mod metrics;

pub use fatal::Fatal;
pub use log_buffer::{LogBuffer, LogLine, LogStream};
pub use metrics::StageMetrics;
