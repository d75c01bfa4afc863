//! Builds a process's pipeline: the bus chosen by config, the stages, the supervisor.

use std::sync::Arc;

use crate::backoff::Backoff;
use crate::bus::embedded::Retention;
use crate::bus::kafka::KafkaBus;
use crate::bus::{Bus, EmbeddedBus};
use crate::config::{BusKind, Settings};
use crate::stage::{registry, Pipeline, Supervisor};

pub fn build_bus(settings: &Settings) -> anyhow::Result<Arc<dyn Bus>> {
    match settings.pipeline.bus {
        BusKind::Embedded => Ok(Arc::new(EmbeddedBus::new(Retention {
            messages: settings.pipeline.bus_capacity,
            bytes: settings.pipeline.bus_capacity_bytes,
        }))),
        BusKind::Kafka => Ok(Arc::new(KafkaBus::new(settings.kafka.clone())?)),
    }
}

/// The supervisor over every stage this process knows, ready to start.
pub fn build_supervisor(settings: &Settings) -> anyhow::Result<Arc<Supervisor>> {
    let bus = build_bus(settings)?;
    let pipeline = Pipeline::new(settings.clone(), bus);
    let stages = registry::build(settings);
    Ok(Arc::new(Supervisor::new(
        pipeline,
        stages,
        Backoff::default(),
    )))
}
