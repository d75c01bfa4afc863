//! The X API v2 filtered stream as a source (`[source] kind = x_api`).
//!
//! On start the server's rules are made equal to the configured ones (built from the keyword
//! groups in `assets/keywords`, see [`rules`]); then the stream is read line by line and every
//! tweet line (`{"data":..., "includes":..., "matching_rules":...}`) is handed on as it is, for
//! the bronze stage to parse. Keep-alives and operational messages are handled here. Failures
//! are retried with X's backoff ([`backoff`]); 401 / 403 (and rules X rejects) stop the stage
//! with a [`Fatal`] error instead.
//!
//! Status (the stage's detail line): `connecting`, `connected`,
//! `reconnecting (next attempt in N s)`, `stopped: <reason>`.

pub mod backoff;
pub mod client;

pub mod rules;
pub mod stream;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;

use crate::config::x_api::{Secret, XApiSettings};
use crate::nlp::keywords::KeywordGroups;
use crate::report::Fatal;
use crate::report::{LogBuffer, StageMetrics};
use backoff::{Backoff, Clock, Failure, SystemClock};
use client::{ApiError, XClient};
use rules::RuleSpec;
use stream::{Line, Lines};

type Body = BoxStream<'static, reqwest::Result<Bytes>>;

/// Builds the configured rules (keyword files, streams, filter, length limit).
pub fn configured_rules(settings: &XApiSettings) -> anyhow::Result<Vec<RuleSpec>> {
    let groups = match &settings.keywords_dir {
        Some(dir) => KeywordGroups::load(dir)?,
        None => KeywordGroups::builtin(),
    };
    Ok(rules::build(
        &settings.streams,
        &groups,
        &settings.rule_filter,
        settings.rule_max_len,
    )?)
}

/// The filtered stream, one tweet record at a time.
pub struct XApiSource {
    client: XClient,
    token: Secret,
    base_url: String,
    wanted: Vec<RuleSpec>,
    sync_rules: bool,
    rules_ready: bool,
    stall: Duration,
    clock: Arc<dyn Clock>,
    metrics: Arc<StageMetrics>,
    log: LogBuffer,
    backoff: Backoff,
    /// Why the last attempt failed: wait before the next one.
    pending: Option<Failure>,
    body: Option<Body>,
    lines: Lines,
    /// The current connection has not delivered a complete line yet.
    fresh: bool,
    stopped: bool,
}

impl XApiSource {
    pub fn new(
        settings: &XApiSettings,
        metrics: Arc<StageMetrics>,
        log: LogBuffer,
    ) -> anyhow::Result<XApiSource> {
        Self::with_clock(settings, metrics, log, Arc::new(SystemClock))
    }

    /// As [`XApiSource::new`], waiting on `clock` (tests record the waits instead).
    /// Configuration problems come back as [`Fatal`] errors.
    pub fn with_clock(
        settings: &XApiSettings,
        metrics: Arc<StageMetrics>,
        log: LogBuffer,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<XApiSource> {
        let fatal = |msg: String| {
            metrics.set_detail(format!("stopped: {msg}"));
            log.event(format!("stopped: {msg}"));
            anyhow::Error::new(Fatal(msg))
        };
        let Some(token) = settings.bearer_token.clone() else {
            return Err(fatal(format!(
                "no bearer token: set {}",
                crate::config::x_api::TOKEN_ENV
            )));
        };
        let wanted = configured_rules(settings).map_err(|e| fatal(format!("rules: {e:#}")))?;
        let client = XClient::new(&settings.base_url, token.clone())
            .map_err(|e| fatal(format!("HTTP client: {e:#}")))?;
        log.event(format!(
            "X API source: {}, bearer token {}, streams {}, {} rules{}",
            settings.base_url,
            settings.token_status(),
            settings.streams.join(", "),
            wanted.len(),
            if settings.sync_rules {
                ""
            } else {
                " (not synced: source.x_sync_rules = false)"
            },
        ));
        tracing::info!(
            base_url = %settings.base_url,
            token = %settings.token_status(),
            rules = wanted.len(),
            "X API source"
        );
        metrics.set_detail(format!("connecting to {}", settings.base_url));
        Ok(XApiSource {
            client,
            token,
            base_url: settings.base_url.clone(),
            wanted,
            sync_rules: settings.sync_rules,
            rules_ready: false,
            stall: settings.stall_timeout,
            clock,
            metrics,
            log,
            backoff: Backoff::default(),
            pending: None,
            body: None,
            lines: Lines::default(),
            fresh: false,
            stopped: false,
        })
    }

    /// The rules this source syncs the server to.
    pub fn wanted_rules(&self) -> &[RuleSpec] {
        &self.wanted
    }

    /// Waits for the next tweet and puts its JSON line in `buf`. Reconnects as needed; an
    /// error is always [`Fatal`] (bad token, no access, rejected rules).
    pub async fn next(&mut self, buf: &mut Vec<u8>) -> anyhow::Result<()> {
        loop {
            if let Some(line) = self.lines.next_line() {
                let kind = stream::classify(line);
                let mut other = String::new();
                match kind {
                    Line::Tweet | Line::Unreadable => {
                        buf.clear();
                        buf.extend_from_slice(line);
                    }
                    Line::Other => {
                        other = String::from_utf8_lossy(line).chars().take(200).collect()
                    }
                    Line::KeepAlive | Line::Errors(_) => {}
                }
                match kind {
                    Line::Tweet | Line::Unreadable => {
                        self.delivered();
                        return Ok(());
                    }
                    Line::KeepAlive => self.delivered(),
                    Line::Errors(errors) => {
                        for e in &errors {
                            let text = client::redact(&e.describe(), &self.token);
                            self.note(&format!("X says: {text}"));
                        }
                        if errors.iter().any(|e| e.is_disconnect()) {
                            self.drop_connection("operational disconnect", Failure::Network);
                        }
                    }
                    Line::Other => {
                        let text = client::redact(&other, &self.token);
                        self.note(&format!("skipped a message that is not a tweet: {text}"));
                    }
                }
                continue;
            }
            let Some(body) = self.body.as_mut() else {
                self.open().await?;
                continue;
            };
            match tokio::time::timeout(self.stall, body.next()).await {
                Err(_) => {
                    let why = format!(
                        "stalled: no data (not even a keep-alive) for {}",
                        backoff::show(self.stall)
                    );
                    self.drop_connection(&why, Failure::Network);
                }
                Ok(None) => self.drop_connection("the server closed the stream", Failure::Network),
                Ok(Some(Err(e))) => {
                    let why = format!(
                        "connection lost: {}",
                        client::redact(&client::error_chain(&e), &self.token)
                    );
                    self.drop_connection(&why, Failure::Network);
                }
                Ok(Some(Ok(chunk))) => {
                    if let Err(e) = self.lines.push(&chunk) {
                        self.drop_connection(&e.to_string(), Failure::Network);
                    }
                }
            }
        }
    }

    /// Waits out the backoff, syncs the rules once, connects.
    async fn open(&mut self) -> anyhow::Result<()> {
        if let Some(failure) = self.pending.take() {
            let delay = self.backoff.next(failure, self.clock.now());
            self.wait(delay).await;
        }
        self.metrics
            .set_detail(format!("connecting to {}", self.base_url));
        if !self.rules_ready {
            if self.sync_rules {
                if let Err(e) = self.sync().await {
                    return self.failed("syncing rules", e);
                }
            }
            self.rules_ready = true;
        }
        match self.client.connect().await {
            Ok(resp) => {
                self.body = Some(resp.bytes_stream().boxed());
                self.lines.clear();
                self.fresh = true;
                self.metrics.set_detail("connected");
                self.log.event("connected to the filtered stream");
                tracing::info!("X API: connected");
                Ok(())
            }
            Err(e) => self.failed("connecting", e),
        }
    }

    /// Makes the server's rules equal to the wanted ones.
    async fn sync(&mut self) -> Result<(), ApiError> {
        let have = self.client.list_rules().await?;
        let plan = rules::plan(&have, &self.wanted);
        self.client.delete_rules(&plan.delete).await?;
        let added = self.client.add_rules(&plan.add).await?;
        let mut msg = format!(
            "rules: {} kept, {} added, {} deleted",
            plan.keep.len(),
            added.created.len(),
            plan.delete.len()
        );
        if !added.duplicates.is_empty() {
            msg.push_str(&format!(
                ", {} already there (DuplicateRule)",
                added.duplicates.len()
            ));
        }
        self.log.event(msg.clone());
        tracing::info!("X API: {msg}");
        Ok(())
    }

    /// A failed call: stop on fatal errors, else remember how to wait.
    fn failed(&mut self, doing: &str, e: ApiError) -> anyhow::Result<()> {
        let msg = client::redact(&e.to_string(), &self.token);
        match e.failure() {
            None => {
                self.stopped = true;
                self.metrics.set_detail(format!("stopped: {msg}"));
                self.log.event(format!("stopped: {msg}"));
                tracing::error!("X API: {doing}: {msg}");
                Err(anyhow::Error::new(Fatal(msg)))
            }
            Some(failure) => {
                self.metrics.error(format!("{doing}: {msg}"));
                self.log.event(format!("{doing} failed: {msg}"));
                tracing::warn!("X API: {doing} failed: {msg}");
                self.pending = Some(failure);
                Ok(())
            }
        }
    }

    fn drop_connection(&mut self, why: &str, failure: Failure) {
        let cut = self.lines.pending();
        self.body = None;
        self.lines.clear();
        let mut msg = format!("disconnected: {why}");
        if cut > 0 {
            msg.push_str(&format!(" ({cut} bytes of an unfinished line dropped)"));
        }
        self.metrics.error(msg.clone());
        self.log.event(msg.clone());
        tracing::warn!("X API: {msg}");
        self.pending = Some(failure);
    }

    /// A complete line arrived: the connection works, so the backoff starts over.
    fn delivered(&mut self) {
        if self.fresh {
            self.fresh = false;
            self.backoff.reset();
        }
    }

    fn note(&self, msg: &str) {
        self.log.event(msg.to_string());
        tracing::info!("X API: {msg}");
    }

    /// Sleeps `delay` on the clock, counting down in the status line meanwhile.
    async fn wait(&mut self, delay: Duration) {
        self.log
            .event(format!("reconnecting in {}", backoff::show(delay)));
        let deadline = tokio::time::Instant::now() + delay;
        let show =
            |left: Duration| format!("reconnecting (next attempt in {})", backoff::show(left));
        self.metrics.set_detail(show(delay));
        let sleep = self.clock.sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if !left.is_zero() {
                self.metrics.set_detail(show(left));
            }
        }
    }
}

impl Drop for XApiSource {
    fn drop(&mut self) {
        if !self.stopped {
            self.metrics.set_detail("stopped");
        }
    }
}
