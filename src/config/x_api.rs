//! The `[source]` keys of the X API source (`kind = x_api`), and its bearer token.
//!
//! The token is a [`Secret`]: `Debug` and `Display` print `***`, so it cannot reach a log line,
//! an error message or the screen by accident. `SSP_X_BEARER_TOKEN` wins over the config key.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::reader::Reader;
use super::{ConfigError, SourceKind, SourceSettings};

/// The environment variable that holds the bearer token (wins over `[source] x_bearer_token`).
pub const TOKEN_ENV: &str = "SSP_X_BEARER_TOKEN";
pub const DEFAULT_BASE_URL: &str = "https://api.x.com";
/// The stream tags the source knows: `ai` (the AI keywords), `mix` (AI + false-positive +
/// random-topic keywords), as the playground's two topics.
pub const STREAMS: &[&str] = &["ai", "mix"];

/// The `[source]` keys read here (for the section's unknown-key check).
pub const KEYS: &[&str] = &[
    "x_api_base_url",
    "x_bearer_token",
    "x_streams",
    "x_rule_max_len",
    "x_rule_filter",
    "x_keywords_dir",
    "x_sync_rules",
    "x_stall_seconds",
];

/// A value that must never be shown: formats as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    /// The value itself, for the one place that needs it (the `Authorization` header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where the bearer token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    Env,
    Config,
}

#[derive(Debug, Clone)]
pub struct XApiSettings {
    /// Without a trailing `/`, e.g. `https://api.x.com`.
    pub base_url: String,
    pub bearer_token: Option<Secret>,
    pub token_source: Option<TokenSource>,
    /// Stream tags to set up rules for (a subset of [`STREAMS`]).
    pub streams: Vec<String>,
    /// Longest rule value (characters); X allows 512 on most access levels, 1024 on Pro.
    pub rule_max_len: usize,
    /// Operators added to every rule, e.g. `lang:en -is:retweet` (empty: none).
    pub rule_filter: String,
    /// A folder of `<group>.txt` keyword files; None: the copy built into the binary.
    pub keywords_dir: Option<PathBuf>,
    /// Make the server's rules equal to the configured ones on start (false: use them as
    /// they are).
    pub sync_rules: bool,
    /// No bytes (not even a keep-alive) for this long: the connection stalled; reconnect.
    pub stall_timeout: Duration,
}

impl XApiSettings {
    /// "*** (from SSP_X_BEARER_TOKEN)" or "not set": what may be shown about the token.
    pub fn token_status(&self) -> String {
        match (&self.bearer_token, self.token_source) {
            (Some(t), Some(TokenSource::Env)) => format!("{t} (from {TOKEN_ENV})"),
            (Some(t), _) => format!("{t} (from source.x_bearer_token)"),
            (None, _) => "not set".to_string(),
        }
    }
}

pub(super) fn parse(r: &Reader) -> Result<XApiSettings, ConfigError> {
    let s = "source";
    let base_url = r
        .string(s, "x_api_base_url", DEFAULT_BASE_URL)
        .trim_end_matches('/')
        .to_string();
    if !(base_url.starts_with("http://") || base_url.starts_with("https://"))
        || base_url.len() <= "https://".len()
    {
        return Err(ConfigError::invalid(
            "source.x_api_base_url",
            &base_url,
            "an http:// or https:// URL, e.g. https://api.x.com",
        ));
    }
    let bearer_token = r
        .raw(s, "x_bearer_token")
        .filter(|t| !t.is_empty())
        .map(Secret::new);
    let raw_streams = r.string(s, "x_streams", "ai, mix");
    let mut streams: Vec<String> = Vec::new();
    for part in raw_streams
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let tag = part.to_ascii_lowercase();
        if !STREAMS.contains(&tag.as_str()) {
            return Err(ConfigError::invalid(
                "source.x_streams",
                &raw_streams,
                "a comma-separated list of ai | mix",
            ));
        }
        if !streams.contains(&tag) {
            streams.push(tag);
        }
    }
    if streams.is_empty() {
        return Err(ConfigError::invalid(
            "source.x_streams",
            &raw_streams,
            "a comma-separated list of ai | mix",
        ));
    }
    let keywords_dir = r
        .raw(s, "x_keywords_dir")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    Ok(XApiSettings {
        base_url,
        token_source: bearer_token.as_ref().map(|_| TokenSource::Config),
        bearer_token,
        streams,
        rule_max_len: r.parse(
            s,
            "x_rule_max_len",
            512usize,
            "a whole number of characters from 64 to 4096 (X: 512, or 1024 on Pro)",
            |v| (64..=4096).contains(&v),
        )?,
        rule_filter: r.string(s, "x_rule_filter", "").trim().to_string(),
        keywords_dir,
        sync_rules: r.bool(s, "x_sync_rules", true)?,
        stall_timeout: Duration::from_secs_f64(r.parse(
            s,
            "x_stall_seconds",
            30.0,
            "a number of seconds > 0 (X sends a keep-alive every 20 s)",
            |v: f64| v.is_finite() && v > 0.0 && v <= 3600.0,
        )?),
    })
}

/// Applies `SSP_X_BEARER_TOKEN` from `env` (it wins over the config key) and checks what
/// `kind = x_api` needs. Error messages never contain the token.
pub(super) fn resolve(
    source: &mut SourceSettings,
    env: &[(String, String)],
) -> Result<(), ConfigError> {
    let x = &mut source.x_api;
    if let Some((_, v)) = env
        .iter()
        .find(|(k, v)| k == TOKEN_ENV && !v.trim().is_empty())
    {
        x.bearer_token = Some(Secret::new(v.trim()));
        x.token_source = Some(TokenSource::Env);
    }
    if source.kind != SourceKind::XApi {
        return Ok(());
    }
    if x.bearer_token.is_none() {
        return Err(ConfigError::invalid(
            "source.x_bearer_token",
            "",
            format!("an X API bearer token: set {TOKEN_ENV} (see the README, \"X API source\")"),
        ));
    }
    if let Some(dir) = &x.keywords_dir {
        if !dir.is_dir() {
            return Err(ConfigError::invalid(
                "source.x_keywords_dir",
                &dir.display().to_string(),
                "an existing folder of <group>.txt keyword files",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn load(env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.ini");
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_with_env(Some(&shipped), &env)
    }

    #[test]
    fn x_api_defaults() {
        let s = load(&[]).unwrap();
        let x = &s.source.x_api;
        assert_eq!(x.base_url, "https://api.x.com");
        assert_eq!(x.streams, ["ai", "mix"]);
        assert_eq!(x.rule_max_len, 512);
        assert_eq!(x.stall_timeout, Duration::from_secs(30));
        assert!(x.sync_rules);
        assert!(x.bearer_token.is_none());
        assert_eq!(x.token_status(), "not set");
    }

    #[test]
    fn x_api_env_token_wins_and_never_shows() {
        let s = load(&[
            ("SSP__SOURCE__KIND", "x_api"),
            ("SSP__SOURCE__X_BEARER_TOKEN", "from-config-AAAA"),
            (TOKEN_ENV, "from-env-BBBB"),
            ("SSP__SOURCE__X_API_BASE_URL", "http://127.0.0.1:9/"),
        ])
        .unwrap();
        let x = &s.source.x_api;
        assert_eq!(s.source.kind, SourceKind::XApi);
        assert_eq!(x.base_url, "http://127.0.0.1:9");
        assert_eq!(x.bearer_token.as_ref().unwrap().expose(), "from-env-BBBB");
        assert_eq!(x.token_status(), "*** (from SSP_X_BEARER_TOKEN)");
        let shown = format!("{s:?} {x:?} {}", x.token_status());
        assert!(
            !shown.contains("BBBB") && !shown.contains("AAAA"),
            "{shown}"
        );
        let s = load(&[
            ("SSP__SOURCE__KIND", "x_api"),
            ("SSP__SOURCE__X_BEARER_TOKEN", "from-config-AAAA"),
        ])
        .unwrap();
        assert_eq!(
            s.source.x_api.bearer_token.as_ref().unwrap().expose(),
            "from-config-AAAA"
        );
    }

    #[test]
    fn x_api_needs_a_token_and_valid_keys() {
        let e = load(&[("SSP__SOURCE__KIND", "x_api")]).unwrap_err();
        assert!(e.to_string().contains("source.x_bearer_token"), "{e}");
        assert!(e.to_string().contains(TOKEN_ENV), "{e}");
        let e = load(&[("SSP__SOURCE__X_STREAMS", "ai, sports")]).unwrap_err();
        assert!(e.to_string().contains("source.x_streams"), "{e}");
        let e = load(&[("SSP__SOURCE__X_API_BASE_URL", "api.x.com")]).unwrap_err();
        assert!(e.to_string().contains("source.x_api_base_url"), "{e}");
        let e = load(&[("SSP__SOURCE__X_RULE_MAX_LEN", "10")]).unwrap_err();
        assert!(e.to_string().contains("source.x_rule_max_len"), "{e}");
        let e = load(&[("SSP__SOURCE__X_TYPO", "1")]).unwrap_err();
        assert!(e.to_string().contains("source.x_typo"), "{e}");
        let s = load(&[("SSP__SOURCE__X_STREAMS", "MIX,mix")]).unwrap();
        assert_eq!(s.source.x_api.streams, ["mix"]);
        // An empty env token does not count.
        let e = load(&[("SSP__SOURCE__KIND", "x_api"), (TOKEN_ENV, " ")]).unwrap_err();
        assert!(e.to_string().contains("source.x_bearer_token"), "{e}");
    }
}
