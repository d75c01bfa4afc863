//! The stages a process can run: built-ins plus the external commands from config.

use std::sync::Arc;

use super::bronze::BronzeStage;
use super::classify::ClassifyStage;
use super::collect::CollectStage;
use super::command::CommandStage;
use super::ner::NerStage;
use super::source::SourceStage;
use super::trending::TrendingStage;
use super::Stage;
use crate::config::Settings;

pub fn build(settings: &Settings) -> Vec<Arc<dyn Stage>> {
    let mut stages: Vec<Arc<dyn Stage>> = vec![
        Arc::new(SourceStage::default()),
        Arc::new(BronzeStage {
            bus: settings.pipeline.bus,
        }),
        Arc::new(NerStage::new(settings)),
        Arc::new(TrendingStage::new(settings)),
        Arc::new(CollectStage::new(settings)),
        Arc::new(ClassifyStage::new(settings)),
    ];
    for c in &settings.commands {
        stages.push(Arc::new(CommandStage::new(c.clone())));
    }
    stages
}
