//! Flattens the layered `config::Config` into `section -> key -> string` and offers typed,
//! validated getters whose errors name the key, the value and the expected form.

use std::collections::BTreeMap;
use std::str::FromStr;

use super::ConfigError;

/// Raw values by section, then key (both lower-case).
pub struct Reader {
    sections: BTreeMap<String, BTreeMap<String, String>>,
}

impl Reader {
    pub fn from_config(cfg: config::Config) -> Result<Reader, ConfigError> {
        let top: BTreeMap<String, config::Value> = cfg
            .try_deserialize()
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        let mut sections = BTreeMap::new();
        for (name, value) in top {
            let table = value.into_table().map_err(|_| {
                ConfigError::Load(format!("{name} must be a [section], not a bare key"))
            })?;
            let name = name.to_lowercase();
            if name == "stage" {
                // `[stage.NAME]` arrives nested: each sub-table is a section of its own.
                for (stage, value) in table {
                    let mut keys = BTreeMap::new();
                    if let Ok(inner) = value.into_table() {
                        flatten("", inner, &mut keys);
                    }
                    sections.insert(format!("stage.{}", stage.to_lowercase()), keys);
                }
                continue;
            }
            let mut keys = BTreeMap::new();
            flatten("", table, &mut keys);
            sections.insert(name, keys);
        }
        Ok(Reader { sections })
    }

    /// Section names that start with `prefix` (e.g. `stage.`), without the prefix.
    pub fn sections_with_prefix(&self, prefix: &str) -> Vec<String> {
        self.sections
            .keys()
            .filter_map(|s| s.strip_prefix(prefix).map(str::to_string))
            .collect()
    }

    /// Keys of a section, if it exists.
    pub fn section_keys(&self, section: &str) -> Option<Vec<String>> {
        self.sections
            .get(section)
            .map(|k| k.keys().cloned().collect())
    }

    /// Fails on a section that is not in `known` (nor a `[stage.NAME]`), from the file or an
    /// `SSP__SECTION__KEY` variable, so a misspelt section does not pass silently.
    pub fn reject_unknown_sections(&self, known: &[&str]) -> Result<(), ConfigError> {
        match self
            .sections
            .keys()
            .find(|s| !known.contains(&s.as_str()) && !s.starts_with("stage."))
        {
            Some(s) => Err(ConfigError::Load(format!(
                "unknown section [{s}] (in the file, or an SSP__{}__* variable): expected one of {}, or [stage.NAME]",
                s.to_uppercase(),
                known.iter().map(|k| format!("[{k}]")).collect::<Vec<_>>().join(" ")
            ))),
            None => Ok(()),
        }
    }

    /// Fails on keys of `section` that are not in `known`, so typos do not pass silently.
    pub fn reject_unknown(&self, section: &str, known: &[&str]) -> Result<(), ConfigError> {
        let Some(keys) = self.sections.get(section) else {
            return Ok(());
        };
        match keys.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(ConfigError::UnknownKey {
                key: format!("{section}.{k}"),
                expected: known.join(", "),
            }),
            None => Ok(()),
        }
    }

    pub fn raw(&self, section: &str, key: &str) -> Option<&str> {
        self.sections.get(section)?.get(key).map(|s| s.trim())
    }

    pub fn string(&self, section: &str, key: &str, default: &str) -> String {
        self.raw(section, key).unwrap_or(default).to_string()
    }

    /// A number (or anything `FromStr`), checked against `valid`.
    pub fn parse<T: FromStr + Copy>(
        &self,
        section: &str,
        key: &str,
        default: T,
        expected: &str,
        valid: impl Fn(T) -> bool,
    ) -> Result<T, ConfigError> {
        let Some(raw) = self.raw(section, key) else {
            return Ok(default);
        };
        match raw.parse::<T>() {
            Ok(v) if valid(v) => Ok(v),
            _ => Err(ConfigError::invalid(
                &format!("{section}.{key}"),
                raw,
                expected,
            )),
        }
    }

    /// A whole number of `unit` no smaller than `min` (the expected form names both).
    pub fn at_least<T: FromStr + Copy + PartialOrd + std::fmt::Display>(
        &self,
        section: &str,
        key: &str,
        default: T,
        min: T,
        unit: &str,
    ) -> Result<T, ConfigError> {
        let expected = format!("a whole number of {unit} >= {min}");
        self.parse(section, key, default, &expected, |v| v >= min)
    }

    pub fn bool(&self, section: &str, key: &str, default: bool) -> Result<bool, ConfigError> {
        let Some(raw) = self.raw(section, key) else {
            return Ok(default);
        };
        match raw.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" => Ok(false),
            _ => Err(ConfigError::invalid(
                &format!("{section}.{key}"),
                raw,
                "true or false",
            )),
        }
    }

    /// One of a fixed set of words (case-insensitive).
    pub fn choice<T: Copy>(
        &self,
        section: &str,
        key: &str,
        default: T,
        options: &[(&str, T)],
    ) -> Result<T, ConfigError> {
        let Some(raw) = self.raw(section, key) else {
            return Ok(default);
        };
        let lower = raw.to_ascii_lowercase();
        options
            .iter()
            .find(|(name, _)| *name == lower)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                ConfigError::invalid(
                    &format!("{section}.{key}"),
                    raw,
                    format!("one of {}", names.join(" | ")),
                )
            })
    }
}

fn flatten(
    prefix: &str,
    table: config::Map<String, config::Value>,
    out: &mut BTreeMap<String, String>,
) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.to_lowercase()
        } else {
            format!("{prefix}.{}", k.to_lowercase())
        };
        match v.clone().into_table() {
            Ok(inner) => flatten(&key, inner, out),
            Err(_) => {
                out.insert(key, v.into_string().unwrap_or_default());
            }
        }
    }
}

/// The items of a comma-separated value, trimmed, empty ones dropped.
pub(super) fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}
