//! `[ner]`: which NER backend the `ner` stage uses and how it talks to it.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::reader::Reader;
use super::ConfigError;

/// The NER service's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NerApi {
    /// The playground's Flask service: one text per request, `{"res": "<python dict>"}`.
    SpacySeed,
    /// ssp-tui's batched API: `POST /ner {"texts": [...]}`.
    Ssp,
}

impl fmt::Display for NerApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NerApi::SpacySeed => "spacy-seed",
            NerApi::Ssp => "ssp",
        })
    }
}

/// Where a first start of the `ner` stage begins in bronze (a checkpoint always wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NerStart {
    Beginning,
    Now,
}

#[derive(Debug, Clone)]
pub struct NerSettings {
    /// The NER service; `None` = the built-in rules tagger.
    pub url: Option<String>,
    pub api: NerApi,
    pub timeout: Duration,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Texts per request (`ssp` API; the seed API always sends one).
    pub batch_size: usize,
    /// Further attempts for a failed request before its tweets are recorded with the error.
    pub retries: u32,
    pub backoff: Duration,
    pub backoff_max: Duration,
    pub max_response_bytes: usize,
    pub start: NerStart,
    /// Stages started before `ner` (e.g. the command stage running the service).
    pub depends_on: Vec<String>,
    /// Extra gazetteer for the rules tagger (`name<TAB>LABEL` lines).
    pub gazetteer: Option<PathBuf>,
    /// The NER pane's "top entities" window.
    pub window: Duration,
}

const KEYS: &[&str] = &[
    "url",
    "api",
    "timeout",
    "concurrency",
    "batch_size",
    "retries",
    "backoff",
    "backoff_max",
    "max_response_bytes",
    "start",
    "depends_on",
    "gazetteer",
    "window_minutes",
];

fn seconds(r: &Reader, key: &str, default: f64, min: f64) -> Result<Duration, ConfigError> {
    let v = r.parse(
        "ner",
        key,
        default,
        &format!("a number of seconds >= {min}"),
        |v: f64| v.is_finite() && v >= min && v <= 86_400.0,
    )?;
    Ok(Duration::from_secs_f64(v))
}

pub(super) fn parse(r: &Reader) -> Result<NerSettings, ConfigError> {
    r.reject_unknown("ner", KEYS)?;
    let url = r
        .raw("ner", "url")
        .filter(|u| !u.is_empty())
        .map(str::to_string);
    if let Some(u) = &url {
        if !(u.starts_with("http://") || u.starts_with("https://")) || u.len() <= 8 {
            return Err(ConfigError::invalid(
                "ner.url",
                u,
                "an http(s) URL of the NER service (e.g. http://127.0.0.1:5000), or empty for the built-in rules",
            ));
        }
    }
    let api = r.choice(
        "ner",
        "api",
        NerApi::Ssp,
        &[("ssp", NerApi::Ssp), ("spacy-seed", NerApi::SpacySeed)],
    )?;
    let timeout = seconds(r, "timeout", 10.0, 0.05)?;
    let backoff = seconds(r, "backoff", 0.25, 0.0)?;
    let backoff_max = seconds(r, "backoff_max", 10.0, 0.0)?;
    if backoff_max < backoff {
        return Err(ConfigError::invalid(
            "ner.backoff_max",
            &backoff_max.as_secs_f64().to_string(),
            "a number of seconds >= ner.backoff",
        ));
    }
    let gazetteer = r
        .raw("ner", "gazetteer")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    if let Some(p) = &gazetteer {
        if !p.is_file() {
            return Err(ConfigError::invalid(
                "ner.gazetteer",
                &p.display().to_string(),
                "an existing file of name<TAB>LABEL lines",
            ));
        }
    }
    Ok(NerSettings {
        url,
        api,
        timeout,
        concurrency: r.parse(
            "ner",
            "concurrency",
            4,
            "a whole number of requests from 1 to 256",
            |v| (1..=256).contains(&v),
        )?,
        batch_size: r.parse(
            "ner",
            "batch_size",
            32,
            "a whole number of texts per request from 1 to 10000",
            |v| (1..=10_000).contains(&v),
        )?,
        retries: r.parse(
            "ner",
            "retries",
            3,
            "a whole number of retries from 0 to 100",
            |v| v <= 100,
        )?,
        backoff,
        backoff_max,
        max_response_bytes: r.at_least("ner", "max_response_bytes", 4 << 20, 1024, "bytes")?,
        start: r.choice(
            "ner",
            "start",
            NerStart::Beginning,
            &[("beginning", NerStart::Beginning), ("now", NerStart::Now)],
        )?,
        depends_on: r
            .string("ner", "depends_on", "")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        gazetteer,
        window: Duration::from_secs(
            r.parse(
                "ner",
                "window_minutes",
                10u64,
                "a whole number of minutes from 1 to 1440",
                |v| (1..=1440).contains(&v),
            )? * 60,
        ),
    })
}

impl NerSettings {
    /// A short description of the backend: `spacy http://… (ssp)` or `rules`.
    pub fn backend_label(&self) -> String {
        match &self.url {
            Some(u) => format!("spacy {u} ({})", self.api),
            None => "rules".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigError, NerApi, NerStart, Settings};
    use std::time::Duration;

    fn load(env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let ini = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.ini");
        Settings::load_with_env(Some(&ini), &env)
    }

    #[test]
    fn defaults_are_the_rules_backend() {
        let s = load(&[]).unwrap().ner;
        assert_eq!(s.url, None);
        assert_eq!(s.api, NerApi::Ssp);
        assert_eq!(s.backend_label(), "rules");
        assert_eq!((s.concurrency, s.batch_size, s.retries), (4, 32, 3));
        assert_eq!(s.timeout, Duration::from_secs(10));
        assert_eq!(s.start, NerStart::Beginning);
        assert!(s.depends_on.is_empty() && s.gazetteer.is_none());
        assert_eq!(s.window, Duration::from_secs(600));
    }

    #[test]
    fn environment_overrides_and_validation() {
        let s = load(&[
            ("SSP__NER__URL", "http://127.0.0.1:5000"),
            ("SSP__NER__API", "spacy-seed"),
            ("SSP__NER__TIMEOUT", "2.5"),
            ("SSP__NER__DEPENDS_ON", "nerservice, other"),
            ("SSP__NER__START", "now"),
        ])
        .unwrap()
        .ner;
        assert_eq!(s.url.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(s.api, NerApi::SpacySeed);
        assert_eq!(s.timeout, Duration::from_millis(2500));
        assert_eq!(s.depends_on, ["nerservice", "other"]);
        assert_eq!(s.start, NerStart::Now);
        assert_eq!(
            s.backend_label(),
            "spacy http://127.0.0.1:5000 (spacy-seed)"
        );

        let bad = |k: &str, v: &str| load(&[(k, v)]).unwrap_err().to_string();
        assert!(bad("SSP__NER__API", "flair").contains("ner.api"));
        assert!(bad("SSP__NER__API", "flair").contains("ssp | spacy-seed"));
        assert!(bad("SSP__NER__URL", "localhost:5000").contains("ner.url"));
        assert!(bad("SSP__NER__CONCURRENCY", "0").contains("ner.concurrency"));
        assert!(bad("SSP__NER__BATCH_SIZE", "many").contains("ner.batch_size"));
        assert!(bad("SSP__NER__BACKOFF", "20").contains("ner.backoff_max"));
        assert!(bad("SSP__NER__GAZETTEER", "/no/such/file").contains("ner.gazetteer"));
        assert!(bad("SSP__NER__COLOUR", "red").contains("unknown key ner.colour"));
    }
}
