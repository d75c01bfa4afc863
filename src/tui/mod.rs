//! The terminal control centre (being written).

use crate::config::Settings;

pub async fn run(_settings: Settings) -> anyhow::Result<()> {
    anyhow::bail!("the TUI is not built yet: use `ssp-tui run source bronze`")
}
