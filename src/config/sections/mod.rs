//! One typed struct per config section, and the validation that builds them.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::reader::Reader;
use super::{ConfigError, Settings};

mod commands;
mod source;

use commands::parse_commands;
use source::parse_source;

pub use commands::{
    CommandSettings, Condition, Readiness, RestartPolicy, BUILTIN_STAGES, RESTART_CHOICES,
};
pub use source::{SourceKind, SourceSettings};

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
        bus_capacity: r.at_least("pipeline", "bus_capacity", 200_000, 1, "messages")?,
        bus_capacity_bytes: r.at_least(
            "pipeline",
            "bus_capacity_bytes",
            128 << 20,
            65536,
            "bytes",
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
        roll_rows: r.at_least("lake", "roll_rows", 20_000, 1, "rows")?,
        roll_bytes: r.at_least("lake", "roll_bytes", 64 << 20, 1024, "bytes")?,
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

/// Kafka's topic name rule.
pub fn valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 249
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}
