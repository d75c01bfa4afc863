//! Committing what is buffered as one table version, then copying the offsets to the bus.

use anyhow::Context as _;

use super::Run;
use crate::bus::Consumer;

impl Run<'_> {
    /// Commits what is buffered as one table version, then copies the offsets to the bus.
    pub(super) async fn flush(&mut self, consumer: &mut dyn Consumer) -> anyhow::Result<()> {
        self.append_inflight().await?;
        if !self.writer.pending() {
            self.ctx.metrics.committed();
            return Ok(());
        }
        let started = std::time::Instant::now();
        let rolled = match self.writer.roll().await {
            Ok(r) => r,
            Err(crate::lake::LakeError::Table(e))
                if e.is_conflict() || e.to_string().contains("another writer") =>
            {
                self.ctx.log.event(format!("bronze commit refused: {e}"));
                self.writer.recover();
                self.next.clear();
                self.seeking.clear();
                self.replay.clear();
                return Ok(());
            }
            Err(e) => return Err(e).context("committing to the bronze table"),
        };
        tracing::debug!(
            version = ?rolled.version,
            rows = rolled.rows,
            files = rolled.files,
            ms = started.elapsed().as_millis() as u64,
            "bronze commit"
        );
        if rolled.dead_letters > 0 {
            self.ctx.log.event(format!(
                "{} malformed records sent to the dead-letter file",
                rolled.dead_letters
            ));
        }
        if let Some(v) = rolled.version {
            self.ctx.metrics.set_detail(format!("table version {v}"));
            self.ctx.metrics.wrote(v);
        }
        self.ctx.metrics.committed();
        // Only a monitoring copy: the table is the truth, so a failure here loses nothing.
        let committed = if crate::fault::armed("bronze.bus_commit") {
            Err(crate::bus::BusError::Broker(
                "injected failure (SSP_FAULTS=bronze.bus_commit)".into(),
            ))
        } else {
            consumer.commit(&rolled.commit).await
        };
        // Bounded by the consumer (a few seconds); said once per run of failures.
        match committed {
            Err(e) if !self.commit_failing => {
                self.commit_failing = true;
                self.ctx.log.event(format!(
                    "bus offset commit failed (the table has the data): {e}"
                ));
                tracing::warn!(error = %e, "bus offset commit failed after the Delta commit");
            }
            Err(e) => tracing::debug!(error = %e, "bus offset commit failed again"),
            Ok(()) if self.commit_failing => {
                self.commit_failing = false;
                self.ctx.log.event("bus offset commits work again");
                tracing::info!("bus offset commits work again");
            }
            Ok(()) => {}
        }
        Ok(())
    }
}
