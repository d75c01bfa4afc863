//! One typed struct per config section, and the validation that builds them.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::reader::{split_list, Reader};
use super::{ConfigError, Settings};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusKind {
    Embedded,
    Kafka,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Embedded,
    Postgres,
}

impl fmt::Display for BusKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BusKind::Embedded => "embedded",
            BusKind::Kafka => "kafka",
        })
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreKind::Embedded => "embedded",
            StoreKind::Postgres => "postgres",
        })
    }
}

#[derive(Debug, Clone)]
pub struct PipelineSettings {
    pub bus: BusKind,
    pub store: StoreKind,
    pub partitions: i32,
    pub bus_capacity: usize,
    pub bus_capacity_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Synthetic,
    Replay,
    /// The X API v2 filtered stream (see `source::x_api`).
    XApi,
}

/// `[source] speed`: `10x`, `2`, `0.5x`; empty or `off`: pace by `rate`.
fn parse_speed(raw: Option<&str>) -> Result<Option<f64>, ConfigError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty() && *r != "off") else {
        return Ok(None);
    };
    let n = raw.strip_suffix(['x', 'X']).unwrap_or(raw).trim();
    match n.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(Some(v)),
        _ => Err(ConfigError::invalid(
            "source.speed",
            raw,
            "a replay speed such as 1x, 10x or 0.5x (or off: pace by rate)",
        )),
    }
}

#[derive(Debug, Clone)]
pub struct SourceSettings {
    pub kind: SourceKind,
    pub path: Option<PathBuf>,
    /// Tweets per second; 0 = as fast as possible.
    pub rate: u64,
    /// Replay: the original timing (`created_at`) sped up this many times, instead of `rate`.
    pub speed: Option<f64>,
    pub looping: bool,
    /// Stop after this many tweets; 0 = no limit.
    pub limit: u64,
    pub seed: u64,
    /// `kind = x_api`: base URL, token (never shown), rules, stall timeout.
    pub x_api: super::x_api::XApiSettings,
}

#[derive(Debug, Clone)]
pub struct LakeSettings {
    /// Local folder for what stays on this host: dead letters, checkpoints, leases, the
    /// embedded store. The lake's folder itself unless `root` is an object-store URL.
    pub root: PathBuf,
    /// Where the Delta tables live: `root` as a folder, or `s3://bucket/prefix`.
    pub tables: super::LakeLocation,
    pub roll_rows: usize,
    pub roll_bytes: u64,
    pub roll_seconds: Duration,
}

impl LakeSettings {
    /// Points the whole lake (tables and local state) at a local folder.
    pub fn set_root(&mut self, dir: impl Into<PathBuf>) {
        self.root = dir.into();
        self.tables = super::LakeLocation::local(&self.root);
    }
}

/// PostgreSQL connection; `Debug` never shows the password.
#[derive(Clone)]
pub struct PostgresSettings {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: String,
    /// `postgres://user:password@host:port/db`; overrides the keys above when set.
    pub url: Option<String>,
    /// Schema of ssp-tui's tables.
    pub schema: String,
    /// TLS to the server.
    pub ssl_mode: SslMode,
    /// `verify-full`: the authorities to trust (else the system's roots).
    pub ssl_root_cert: Option<PathBuf>,
}

/// `[postgresql] sslmode`, as libpq names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    /// TLS when the server offers it; its certificate is not checked.
    Prefer,
    /// TLS or no connection; the certificate is not checked.
    Require,
    /// TLS, the certificate chain and the host name checked.
    VerifyFull,
}

impl fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &"***")
            .field("url", &self.url.as_ref().map(|_| "***"))
            .field("schema", &self.schema)
            .field("ssl_mode", &self.ssl_mode)
            .field("ssl_root_cert", &self.ssl_root_cert)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub dir: PathBuf,
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    No,
    OnFailure,
    Always,
}

pub const RESTART_CHOICES: &[(&str, RestartPolicy)] = &[
    ("no", RestartPolicy::No),
    ("on_failure", RestartPolicy::OnFailure),
    ("always", RestartPolicy::Always),
];

/// When a stage that depends on another may start (process-compose's conditions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The dependency runs.
    Started,
    /// The dependency is ready (a built-in stage runs; a command passed its probe).
    Ready,
    /// The dependency ended by itself with success.
    Completed,
}

/// How a command stage tells it is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// As soon as it runs.
    Started,
    /// A GET of this URL answers 2xx.
    Http(String),
    /// This shell command exits 0.
    Exec(String),
    /// Its output has a line containing this text.
    LogLine(String),
}

/// An external command run as a stage (`[stage.NAME]`).
#[derive(Debug, Clone)]
pub struct CommandSettings {
    pub name: String,
    pub command: String,
    pub cwd: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub restart: RestartPolicy,
    pub depends_on: Vec<String>,
    /// `depends_on` entries with their condition (`name` or `name:started|ready|completed`).
    pub conditions: Vec<(String, Condition)>,
    pub readiness: Readiness,
    /// Restarts allowed by the policy before the stage is left failed (`None`: no limit).
    pub max_restarts: Option<u32>,
    pub stop_timeout: Duration,
}

/// Built-in stage names; a command stage may not reuse them.
pub const BUILTIN_STAGES: &[&str] = &["source", "bronze", "ner", "trending", "collect", "classify"];

pub(super) fn parse(r: &Reader) -> Result<Settings, ConfigError> {
    r.reject_unknown(
        "pipeline",
        &[
            "bus",
            "store",
            "partitions",
            "bus_capacity",
            "bus_capacity_bytes",
        ],
    )?;
    r.reject_unknown(
        "source",
        &[
            &["kind", "path", "rate", "speed", "loop", "limit", "seed"][..],
            super::x_api::KEYS,
        ]
        .concat(),
    )?;
    r.reject_unknown(
        "lake",
        &[
            "root",
            "local_dir",
            "roll_rows",
            "roll_bytes",
            "roll_seconds",
        ],
    )?;
    r.reject_unknown("log", &["dir", "level"])?;
    let pipeline = PipelineSettings {
        bus: r.choice(
            "pipeline",
            "bus",
            BusKind::Embedded,
            &[("embedded", BusKind::Embedded), ("kafka", BusKind::Kafka)],
        )?,
        store: r.choice(
            "pipeline",
            "store",
            StoreKind::Embedded,
            &[
                ("embedded", StoreKind::Embedded),
                ("postgres", StoreKind::Postgres),
            ],
        )?,
        partitions: r.parse(
            "pipeline",
            "partitions",
            3,
            "a whole number from 1 to 1024",
            |v| (1..=1024).contains(&v),
        )?,
        bus_capacity: r.parse(
            "pipeline",
            "bus_capacity",
            200_000,
            "a whole number of messages >= 1",
            |v| v >= 1,
        )?,
        bus_capacity_bytes: r.parse(
            "pipeline",
            "bus_capacity_bytes",
            128 << 20,
            "a whole number of bytes >= 65536",
            |v| v >= 65536,
        )?,
    };
    let source = parse_source(r)?;
    let root = r.string("lake", "root", "data/lake");
    let tables = super::LakeLocation::parse(&root).map_err(|e| {
        ConfigError::invalid(
            "lake.root",
            &root,
            format!("a folder path or s3://bucket/prefix ({e})"),
        )
    })?;
    let local = match tables.local_dir() {
        Some(_) => PathBuf::from(&root),
        None => PathBuf::from(r.string("lake", "local_dir", "data/lake")),
    };
    let lake = LakeSettings {
        root: local,
        tables,
        roll_rows: r.parse(
            "lake",
            "roll_rows",
            20_000,
            "a whole number of rows >= 1",
            |v| v >= 1,
        )?,
        roll_bytes: r.parse(
            "lake",
            "roll_bytes",
            64 << 20,
            "a whole number of bytes >= 1024",
            |v| v >= 1024,
        )?,
        roll_seconds: Duration::from_secs_f64(r.parse(
            "lake",
            "roll_seconds",
            5.0,
            "a number of seconds > 0 (e.g. 5 or 0.5)",
            |v: f64| v.is_finite() && v > 0.0 && v <= 86_400.0,
        )?),
    };
    if lake.root.as_os_str().is_empty() {
        return Err(ConfigError::invalid("lake.root", "", "a folder path"));
    }
    let kafka = super::kafka::parse(r)?;
    let postgresql = PostgresSettings {
        host: r.string("postgresql", "host", "localhost"),
        port: r.parse(
            "postgresql",
            "port",
            5432u16,
            "a port number from 1 to 65535",
            |v| v >= 1,
        )?,
        database: r.string("postgresql", "database", "sparkstreamingdb"),
        user: r.string("postgresql", "user", "sparkstreaming"),
        password: r.string("postgresql", "password", ""),
        url: super::store::url(r),
        schema: super::store::schema(r)?,
        ssl_mode: super::store::ssl_mode(r)?,
        ssl_root_cert: r
            .raw("postgresql", "sslrootcert")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from),
    };
    let level = r.string("log", "level", "info").to_ascii_lowercase();
    if !["error", "warn", "info", "debug", "trace"].contains(&level.as_str()) {
        return Err(ConfigError::invalid(
            "log.level",
            &level,
            "one of error | warn | info | debug | trace",
        ));
    }
    let log = LogSettings {
        dir: PathBuf::from(r.string("log", "dir", "data/logs")),
        level,
    };
    r.reject_unknown_sections(&[
        "pipeline",
        "source",
        "lake",
        "kafka",
        "postgresql",
        "trending",
        "tui",
        "status",
        "sql",
        "log",
        "ner",
        "learn",
        "keys",
    ])?;
    let commands = parse_commands(r)?;
    Ok(Settings {
        pipeline,
        source,
        lake,
        kafka,
        postgresql,
        trending: super::trending::parse(r)?,
        log,
        ner: super::ner::parse(r)?,
        learn: super::learn::parse(r)?,
        sql: super::sql::parse(r)?,
        keys: super::keys::parse(r)?,
        control: super::control::parse(
            r,
            &commands.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
        )?,
        commands,
        file: None,
    })
}

fn parse_source(r: &Reader) -> Result<SourceSettings, ConfigError> {
    let kind = r.choice(
        "source",
        "kind",
        SourceKind::Synthetic,
        &[
            ("synthetic", SourceKind::Synthetic),
            ("replay", SourceKind::Replay),
            ("x_api", SourceKind::XApi),
        ],
    )?;
    let path = r
        .raw("source", "path")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    if kind == SourceKind::Replay {
        match &path {
            None => {
                return Err(ConfigError::invalid(
                    "source.path",
                    "",
                    "a JSONL file or a folder of .json tweets (source.kind = replay)",
                ))
            }
            Some(p) if !p.exists() => {
                return Err(ConfigError::invalid(
                    "source.path",
                    &p.display().to_string(),
                    "an existing JSONL file or folder of .json tweets",
                ))
            }
            Some(_) => {}
        }
    }
    Ok(SourceSettings {
        kind,
        path,
        rate: r.parse(
            "source",
            "rate",
            100,
            "a whole number of tweets per second (0 = as fast as possible)",
            |_| true,
        )?,
        speed: parse_speed(r.raw("source", "speed"))?,
        looping: r.bool("source", "loop", false)?,
        limit: r.parse(
            "source",
            "limit",
            0,
            "a whole number of tweets (0 = no limit)",
            |_| true,
        )?,
        seed: r.parse("source", "seed", 42, "a whole number", |_| true)?,
        x_api: super::x_api::parse(r)?,
    })
}

fn parse_commands(r: &Reader) -> Result<Vec<CommandSettings>, ConfigError> {
    let mut out = Vec::new();
    for name in r.sections_with_prefix("stage.") {
        let section = format!("stage.{name}");
        r.reject_unknown(
            &section,
            &[
                "command",
                "cwd",
                "env",
                "restart",
                "depends_on",
                "stop_timeout",
                "max_restarts",
                "ready_http",
                "ready_exec",
                "ready_log",
            ],
        )?;
        if !valid_stage_name(&name) || BUILTIN_STAGES.contains(&name.as_str()) {
            return Err(ConfigError::invalid(
                &format!("[{section}]"),
                &name,
                "a stage name of letters, digits, - and _ that is not a built-in stage",
            ));
        }
        let command = r.string(&section, "command", "");
        if command.is_empty() {
            return Err(ConfigError::invalid(
                &format!("{section}.command"),
                "",
                "a shell command to run",
            ));
        }
        let env = split_list(&r.string(&section, "env", ""))
            .into_iter()
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => {
                    Ok((k.trim().to_string(), v.trim().to_string()))
                }
                _ => Err(ConfigError::invalid(
                    &format!("{section}.env"),
                    &pair,
                    "comma-separated NAME=value pairs",
                )),
            })
            .collect::<Result<_, _>>()?;
        let mut conditions = Vec::new();
        for item in split_list(&r.string(&section, "depends_on", "")) {
            let (dep, cond) = item.split_once(':').unwrap_or((&item, "started"));
            let cond = match cond.trim() {
                "started" => Condition::Started,
                "ready" => Condition::Ready,
                "completed" => Condition::Completed,
                _ => {
                    return Err(ConfigError::invalid(
                        &format!("{section}.depends_on"),
                        &item,
                        "stage names, each optionally with :started, :ready or :completed (e.g. bronze:ready, setup:completed)",
                    ))
                }
            };
            conditions.push((dep.trim().to_string(), cond));
        }
        out.push(CommandSettings {
            command,
            cwd: r
                .raw(&section, "cwd")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            env,
            restart: r.choice(&section, "restart", RestartPolicy::No, RESTART_CHOICES)?,
            depends_on: conditions.iter().map(|(n, _)| n.clone()).collect(),
            conditions,
            readiness: readiness(r, &section)?,
            max_restarts: match r.parse(
                &section,
                "max_restarts",
                0u32,
                "a whole number of restarts (0 = no limit)",
                |_| true,
            )? {
                0 => None,
                n => Some(n),
            },
            stop_timeout: Duration::from_secs_f64(r.parse(
                &section,
                "stop_timeout",
                5.0,
                "a number of seconds >= 0",
                |v: f64| v.is_finite() && v >= 0.0,
            )?),
            name,
        });
    }
    Ok(out)
}

/// `ready_http`, `ready_exec` or `ready_log` (at most one).
fn readiness(r: &Reader, section: &str) -> Result<Readiness, ConfigError> {
    let get = |k: &str| {
        r.raw(section, k)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let probes = [
        get("ready_http").map(Readiness::Http),
        get("ready_exec").map(Readiness::Exec),
        get("ready_log").map(Readiness::LogLine),
    ];
    let mut set = probes.into_iter().flatten();
    let first = set.next();
    if set.next().is_some() {
        return Err(ConfigError::invalid(
            &format!("{section}.ready_http"),
            "several probes",
            "one of ready_http, ready_exec or ready_log",
        ));
    }
    if let Some(Readiness::Http(url)) = &first {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::invalid(
                &format!("{section}.ready_http"),
                url,
                "an http(s) URL that answers 2xx once the command is ready",
            ));
        }
    }
    Ok(first.unwrap_or(Readiness::Started))
}

fn valid_stage_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Kafka's topic name rule.
pub fn valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 249
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}
