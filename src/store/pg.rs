//! The one PostgreSQL connection layer, for every store that keeps data there (trending
//! counts, label events, `ai_tweets`): connection settings, a client connected on first use
//! and dropped after connection trouble, readable errors (never the password), the shared
//! start of every migration.

use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, NoTls, Socket};

use super::StoreError;
use crate::config::ident::Ident;
use crate::config::{PostgresSettings, SslMode};

/// A connection attempt gives up after this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

type PgResult<T> = Result<T, tokio_postgres::Error>;

/// The connection settings (URL if given, else host / port / database / user / password).
pub fn pg_config(s: &PostgresSettings) -> Result<tokio_postgres::Config, StoreError> {
    let mut config = match s.url.as_deref().filter(|u| !u.trim().is_empty()) {
        // The URL holds the password: never echo it back in the error.
        Some(url) => url.trim().parse::<tokio_postgres::Config>().map_err(|_| {
            StoreError::Config(
                "config error: postgresql.url: expected postgres://user:password@host:port/database"
                    .into(),
            )
        })?,
        None => {
            let mut c = tokio_postgres::Config::new();
            c.host(&s.host)
                .port(s.port)
                .dbname(&s.database)
                .user(&s.user)
                .password(s.password.as_bytes());
            c
        }
    };
    // The URL's own `sslmode` stands unless the key asks for more than the default.
    let url_mode = s.url.as_deref().is_some_and(|u| u.contains("sslmode="));
    if !(url_mode && s.ssl_mode == SslMode::Prefer) {
        config.ssl_mode(match s.ssl_mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
        });
    }
    config
        .connect_timeout(CONNECT_TIMEOUT)
        .application_name("ssp-tui")
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30));
    Ok(config)
}

pub fn describe_target(c: &tokio_postgres::Config) -> String {
    let host = c
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = c.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{host}:{port}/{}",
        c.get_user().unwrap_or("?"),
        c.get_dbname().unwrap_or("?")
    )
}

/// A readable message for a driver error (server message and cause; never the password).
pub fn pg_message(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut m = format!("{}: {}", db.severity(), db.message());
        if let Some(d) = db.detail() {
            m.push_str(&format!(" ({d})"));
        }
        return m;
    }
    let mut m = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let text = s.to_string();
        if !m.contains(&text) {
            m.push_str(&format!(": {text}"));
        }
        src = s.source();
    }
    m
}

/// Connection-level trouble (or a login refused): retry later with a fresh connection.
pub fn is_connection_error(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        None => true,
        Some(code) => {
            let c = code.code();
            // 08 connection exception, 28 invalid authorization, 57P0x shutdown / cannot connect now,
            // 3D000 database does not exist (yet), 53 insufficient resources.
            c.starts_with("08")
                || c.starts_with("28")
                || c.starts_with("57P")
                || c == "3D000"
                || c.starts_with("53")
        }
    }
}

pub fn is_missing_table(e: &tokio_postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| *c == SqlState::UNDEFINED_TABLE || *c == SqlState::INVALID_SCHEMA_NAME)
}

/// The start of every migration, in its transaction: a transaction-scoped advisory lock named
/// `lock` (two processes starting together must not race on CREATE TABLE), then `schema`
/// created when missing.
pub async fn begin_migration(
    tx: &tokio_postgres::Transaction<'_>,
    lock: &str,
    schema: &Ident,
) -> PgResult<()> {
    tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&lock])
        .await?;
    let exists = tx
        .query_opt(
            "SELECT 1 FROM pg_namespace WHERE nspname = $1",
            &[&schema.as_str()],
        )
        .await?
        .is_some();
    if !exists {
        tx.batch_execute(&format!("CREATE SCHEMA {schema}")).await?;
    }
    Ok(())
}

/// A client connected on first use, connected again after it was dropped (by [`Self::drop_client`]
/// after connection trouble, or found closed).
pub struct LazyClient {
    config: tokio_postgres::Config,
    /// `None`: `sslmode = disable`.
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    target: String,
    client: Mutex<Option<Client>>,
}

impl LazyClient {
    /// The client for `s` (not connected yet); `Err` for settings that cannot work.
    pub fn new(s: &PostgresSettings) -> Result<LazyClient, StoreError> {
        let config = pg_config(s)?;
        let tls = super::pg_tls::connector(s).map_err(StoreError::Config)?;
        Ok(LazyClient {
            target: describe_target(&config),
            config,
            tls,
            client: Mutex::new(None),
        })
    }

    /// `user@host:port/database` (no password).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The client (connecting first when there is none); `Err` says why it cannot connect.
    pub async fn get(&self) -> Result<MutexGuard<'_, Option<Client>>, String> {
        let mut guard = self.client.lock().await;
        if guard.as_ref().is_some_and(Client::is_closed) {
            *guard = None;
        }
        if guard.is_none() {
            let client = match &self.tls {
                Some(tls) => connect(&self.config, tls.clone(), &self.target).await?,
                None => connect(&self.config, NoTls, &self.target).await?,
            };
            tracing::info!(target = %self.target, "connected to PostgreSQL");
            *guard = Some(client);
        }
        Ok(guard)
    }
}

/// Connects through `tls` (or `NoTls`) within [`CONNECT_TIMEOUT`] and drives the connection on
/// a task of its own; `Err` says why it could not.
async fn connect<T>(config: &tokio_postgres::Config, tls: T, target: &str) -> Result<Client, String>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, config.connect(tls))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| pg_message(&e))?;
    let target = target.to_string();
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(target = %target, error = %pg_message(&e), "PostgreSQL connection ended");
        }
    });
    Ok(client)
}
