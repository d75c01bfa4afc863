//! A stage's page (`Enter` on the Stages pane): everything the row cuts short, whole.
//!
//! The config sections a stage reads are taken once, when the TUI starts (the file and the
//! `SSP__*` overrides), with secrets masked; the rest comes from the live status and the
//! stage's log buffer (both in memory: drawing reads no file).

use std::collections::BTreeMap;

use crate::config::Settings;

/// Which stage's page is open, and how far it is scrolled.
#[derive(Debug, Clone, Default)]
pub struct DetailView {
    pub stage: Option<String>,
    pub scroll: u16,
    /// Config lines (`key = value`, secrets masked) per section name.
    sections: BTreeMap<String, Vec<String>>,
}

/// Keys whose values are never shown.
fn secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "token",
        "password",
        "secret",
        "passwd",
        "key_id",
        "access_key",
        "url",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// A URL's password replaced by `***` (`postgres://u:p@h/db` -> `postgres://u:***@h/db`).
fn mask_url(v: &str) -> String {
    match url::Url::parse(v) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(_) => v.to_string(),
        Err(_) => "***".to_string(),
    }
}

fn shown(key: &str, value: &str) -> String {
    if key.to_ascii_lowercase().contains("url") {
        mask_url(value)
    } else if secret(key) {
        if value.is_empty() {
            String::new()
        } else {
            "*** (set)".to_string()
        }
    } else {
        value.to_string()
    }
}

impl DetailView {
    /// Reads the config file's sections and the `SSP__SECTION__KEY` overrides in `env`.
    pub fn new(settings: &Settings, env: &[(String, String)]) -> DetailView {
        let mut sections: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if let Some(text) = settings
            .file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
        {
            let mut current = String::new();
            for line in text.lines() {
                let t = line.trim();
                if t.starts_with('[') && t.ends_with(']') {
                    current = t[1..t.len() - 1].trim().to_string();
                } else if let Some((k, v)) = t.split_once('=') {
                    if !t.starts_with(';') && !t.starts_with('#') {
                        let (k, v) = (k.trim(), v.trim());
                        sections
                            .entry(current.clone())
                            .or_default()
                            .push(format!("{k} = {}", shown(k, v)));
                    }
                }
            }
        }
        for (k, v) in env {
            let Some(rest) = k.strip_prefix("SSP__") else {
                continue;
            };
            let parts: Vec<&str> = rest.split("__").collect();
            if parts.len() == 2 {
                let (section, key) = (parts[0].to_ascii_lowercase(), parts[1].to_ascii_lowercase());
                sections
                    .entry(section)
                    .or_default()
                    .push(format!("{key} = {}   (from {k})", shown(&key, v)));
            }
        }
        DetailView {
            stage: None,
            scroll: 0,
            sections,
        }
    }

    pub fn open(&mut self, stage: &str) {
        self.stage = Some(stage.to_string());
        self.scroll = 0;
    }

    pub fn close(&mut self) {
        self.stage = None;
    }

    /// The config sections stage `name` reads, with their lines.
    pub fn config_of(&self, name: &str, kind: &str) -> Vec<(String, Vec<String>)> {
        let names: Vec<String> = match (name, kind) {
            ("source", _) => vec!["source".into()],
            ("bronze", _) => vec!["lake".into(), "kafka".into()],
            ("ner", _) => vec!["ner".into()],
            ("trending", _) => vec!["trending".into()],
            ("collect" | "classify", _) => vec!["learn".into()],
            (n, "external") => vec![format!("stage.{n}")],
            (n, _) => vec![n.to_string()],
        };
        names
            .into_iter()
            .map(|s| {
                let lines = self.sections.get(&s).cloned().unwrap_or_default();
                (s, lines)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_from_the_file_and_the_environment_with_secrets_masked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.ini");
        std::fs::write(
            &file,
            "[source]\n; a comment = no\nkind = replay\nx_bearer_token = from-the-file\n[lake]\nroll_seconds = 2\n",
        )
        .unwrap();
        let mut settings = crate::config::Settings::load_with_env(None, &[]).unwrap();
        settings.file = Some(file);
        let env = vec![
            ("SSP__SOURCE__RATE".to_string(), "50".to_string()),
            (
                "SSP__SOURCE__X_BEARER_TOKEN".to_string(),
                "from-env".to_string(),
            ),
            ("HOME".to_string(), "/root".to_string()),
        ];
        let d = DetailView::new(&settings, &env);
        let source = d.config_of("source", "built-in");
        assert_eq!(source.len(), 1);
        assert_eq!(
            source[0].1,
            [
                "kind = replay",
                "x_bearer_token = *** (set)",
                "rate = 50   (from SSP__SOURCE__RATE)",
                "x_bearer_token = *** (set)   (from SSP__SOURCE__X_BEARER_TOKEN)",
            ]
        );
        let bronze = d.config_of("bronze", "built-in");
        assert_eq!(
            bronze[0],
            ("lake".to_string(), vec!["roll_seconds = 2".to_string()])
        );
        assert_eq!(bronze[1], ("kafka".to_string(), vec![]));
    }

    #[test]
    fn secrets_are_masked() {
        assert_eq!(shown("bearer_token", "abc"), "*** (set)");
        assert_eq!(shown("password", ""), "");
        assert_eq!(
            shown("url", "postgres://ssp:hunter2@db:5432/x"),
            "postgres://ssp:***@db:5432/x"
        );
        assert_eq!(shown("rate", "100"), "100");
    }
}
