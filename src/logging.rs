//! Logs go to a file (never to the screen): `<log.dir>/ssp-tui.log`; RUST_LOG wins over
//! `log.level`.

use std::path::Path;

use anyhow::Context as _;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

use crate::config::LogSettings;

/// Keep the guard alive for the life of the process: dropping it flushes the log.
pub fn init(settings: &LogSettings) -> anyhow::Result<WorkerGuard> {
    std::fs::create_dir_all(&settings.dir)
        .with_context(|| format!("creating the log folder {}", settings.dir.display()))?;
    let appender = tracing_appender::rolling::never(&settings.dir, "ssp-tui.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{},librdkafka=warn,buoyant_kernel=warn,deltalake_core=warn,datafusion=warn",
            settings.level
        ))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .map_err(|e| anyhow::anyhow!("starting the logger: {e}"))?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "ssp-tui starting");
    Ok(guard)
}

pub fn log_file(settings: &LogSettings) -> std::path::PathBuf {
    Path::new(&settings.dir).join("ssp-tui.log")
}
