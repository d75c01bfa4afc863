//! Typed settings from `config.ini` (or built-in defaults) plus `SSP__SECTION__KEY` overrides.
//!
//! Loading is layered with the `config` crate: the shipped `config.ini` (embedded in the binary)
//! first, then the user's file, then the environment. Every value is then validated here, so a
//! bad value fails with one line that names the key, the value and the expected form.

mod control;
pub mod ident;
mod kafka;
pub mod keys;
mod lake_location;
mod learn;
mod lint;
mod ner;
mod reader;
mod sections;
mod sql;
mod store;
mod trending;
pub mod x_api;

use std::path::{Path, PathBuf};

pub use control::{ControlSettings, DEFAULT_AUTOSTART};
pub use kafka::KafkaSettings;
pub use lake_location::LakeLocation;
pub use learn::{LabelDef, LearnSettings, LearnStart, QueueOrder, ABSTAIN};
pub use ner::{NerApi, NerSettings, NerStart};
pub use sections::*;
pub use sql::SqlSettings;
pub use trending::{TrendingInput, TrendingSettings, TrendingStart};

use reader::Reader;

/// The shipped `config.ini`, used as the bottom layer so an installed binary runs anywhere.
pub const DEFAULT_INI: &str = include_str!("../config.ini");

/// A configuration problem, printed as one line and answered with exit code 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("config error: {key} = {value:?}: expected {expected}")]
    Invalid {
        key: String,
        value: String,
        expected: String,
    },
    #[error("config error: unknown key {key}: expected one of {expected}")]
    UnknownKey { key: String, expected: String },
    #[error("config error: {0}")]
    Load(String),
}

impl ConfigError {
    pub fn invalid(key: &str, value: &str, expected: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_string(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}

/// Everything ssp-tui reads from configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub pipeline: PipelineSettings,
    pub source: SourceSettings,
    pub lake: LakeSettings,
    pub kafka: KafkaSettings,
    pub postgresql: PostgresSettings,
    /// `[trending]`: the trending hashtags stage.
    pub trending: TrendingSettings,
    pub log: LogSettings,
    /// `[ner]`: the NER stage's backend (a spaCy service, or the built-in rules).
    pub ner: NerSettings,
    /// `[learn]`: label set and keys, dataset collection, active learning, classification.
    pub learn: LearnSettings,
    /// External command stages (`[stage.NAME]` sections), in name order.
    pub commands: Vec<CommandSettings>,
    /// `[tui]` and `[status]`: what the TUI starts; status shared between processes.
    pub control: ControlSettings,
    /// `[sql]`: the query engine (`ssp-tui sql`, the SQL pane).
    pub sql: SqlSettings,
    /// `[keys]`: the TUI's keys overridden by action name.
    pub keys: keys::KeyOverrides,
    /// The file that was read on top of the defaults, if any.
    pub file: Option<PathBuf>,
}

impl Settings {
    /// Loads settings: `explicit` path, else `./config.ini` when present, else the defaults;
    /// then the process environment.
    pub fn load(explicit: Option<&Path>) -> Result<Settings, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(explicit, &env)
    }

    /// As [`Settings::load`] with a given environment (tests pass their own).
    pub fn load_with_env(
        explicit: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Settings, ConfigError> {
        use config::{Config, Environment, File, FileFormat};
        let file = match explicit {
            Some(p) if !p.exists() => {
                return Err(ConfigError::invalid(
                    "--config",
                    &p.display().to_string(),
                    "an existing config file",
                ))
            }
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from("config.ini")).filter(|p| p.exists()),
        };
        let mut builder =
            Config::builder().add_source(File::from_str(DEFAULT_INI, FileFormat::Ini));
        if let Some(p) = &file {
            let text = std::fs::read_to_string(p)
                .map_err(|e| ConfigError::Load(format!("{}: cannot be read: {e}", p.display())))?;
            lint::check(p, &text)?;
            builder = builder.add_source(File::from(p.as_path()).format(FileFormat::Ini));
        }
        let env_map = env
            .iter()
            .filter(|(k, _)| k.starts_with("SSP__"))
            .cloned()
            .collect();
        builder = builder.add_source(
            Environment::with_prefix("SSP")
                .prefix_separator("__")
                .separator("__")
                .source(Some(env_map)),
        );
        let built = builder
            .build()
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        let reader = Reader::from_config(built)?;
        let mut settings = sections::parse(&reader)?;
        x_api::resolve(&mut settings.source, env)?;
        settings.file = file;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests;
