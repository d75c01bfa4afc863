//! HTTP client for a spaCy NER service, speaking either API:
//!
//! - `spacy-seed` (the playground's Flask service, unchanged): `POST /text/ner/spacy` with
//!   `{"text": "..."}`, answered (status 201) with `{"res": "<Python dict as a string>"}`
//!   mapping label -> text, one entity per label (the last). Offsets are found by locating
//!   each text in the tweet (its last occurrence; `None` when absent).
//! - `ssp` (ours, batched): `POST /ner` with `{"texts": [...]}`, answered with
//!   `{"entities": [[{"text","label","start","end"}...]...]}`, one list per text.
//!
//! Every request has a total timeout (connect to last body byte) and a response size cap read
//! as a stream, so a slow or huge answer cannot hold the stage. [`NerClient::annotate`] adds
//! retries with exponential backoff and jitter on timeouts, 5xx / 408 / 429, invalid bodies
//! and broken connections; while the service cannot be *connected to* at all it waits (with
//! backoff, until cancelled) instead of spending the tweets' retries, so an outage delays
//! tweets but never turns them into errors.

use std::time::Duration;

use futures::StreamExt;

use super::entity::Entity;
pub use crate::config::NerApi;

mod health;
mod protocol;
mod retry;
#[cfg(test)]
mod tests;

pub use health::Health;
pub use protocol::{
    endpoints, parse_seed, parse_ssp, HEALTH_ROUTE, SEED_OLD_ROUTE, SEED_ROUTE, SSP_ROUTE,
};
pub use retry::{backoff_delay, Annotated, ClientObserver, NoObserver};

/// How the client talks to the service.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Service base URL (`http://127.0.0.1:5000`) or the exact endpoint
    /// (`http://host:5000/spacy/api/v0.1/ner`).
    pub url: String,
    pub api: NerApi,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Bodies larger than this are refused (and the connection dropped).
    pub max_response_bytes: usize,
    /// Further attempts after the first failed one.
    pub retries: u32,
    /// First retry delay; doubles per attempt up to `backoff_max`.
    pub backoff: Duration,
    pub backoff_max: Duration,
    /// Idle connections kept (set to the stage's concurrency).
    pub pool: usize,
}

impl ClientOptions {
    pub fn new(url: impl Into<String>, api: NerApi) -> Self {
        ClientOptions {
            url: url.into(),
            api,
            timeout: Duration::from_secs(10),
            max_response_bytes: 4 << 20,
            retries: 3,
            backoff: Duration::from_millis(250),
            backoff_max: Duration::from_secs(10),
            pool: 4,
        }
    }
}

/// One failed request, classified for retrying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NerError {
    #[error("bad NER url {url:?}: {why}")]
    BadUrl { url: String, why: String },
    /// Nothing accepted the connection: the service is down (or not up yet).
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("timed out after {0:.1?}")]
    Timeout(Duration),
    #[error("HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("response larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("invalid response: {0}")]
    Invalid(String),
    /// The connection broke after it was made (reset, closed mid-answer...).
    #[error("connection error: {0}")]
    Transport(String),
    #[error("cancelled")]
    Cancelled,
}

impl NerError {
    /// Worth sending again (a transient failure of the service or the network).
    pub fn retryable(&self) -> bool {
        match self {
            NerError::Status { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            NerError::Timeout(_)
            | NerError::TooLarge { .. }
            | NerError::Invalid(_)
            | NerError::Transport(_)
            | NerError::Connect(_) => true,
            NerError::BadUrl { .. } | NerError::Cancelled => false,
        }
    }

    /// The service cannot be reached at all (wait for it instead of failing tweets).
    pub fn is_down(&self) -> bool {
        matches!(self, NerError::Connect(_))
    }

    /// A short name for counters and the pane.
    pub fn kind(&self) -> &'static str {
        match self {
            NerError::BadUrl { .. } => "bad url",
            NerError::Connect(_) => "connect",
            NerError::Timeout(_) => "timeout",
            NerError::Status { .. } => "http status",
            NerError::TooLarge { .. } => "too large",
            NerError::Invalid(_) => "invalid",
            NerError::Transport(_) => "connection",
            NerError::Cancelled => "cancelled",
        }
    }
}

pub struct NerClient {
    http: reqwest::Client,
    opts: ClientOptions,
    endpoint: String,
    health_url: String,
}

impl NerClient {
    pub fn new(opts: ClientOptions) -> Result<NerClient, NerError> {
        let (endpoint, health_url) = endpoints(&opts.url, opts.api)?;
        let http = reqwest::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(opts.pool.max(1))
            .user_agent(concat!("ssp-tui/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NerError::BadUrl {
                url: opts.url.clone(),
                why: error_chain(&e),
            })?;
        Ok(NerClient {
            http,
            opts,
            endpoint,
            health_url,
        })
    }

    /// Where NER requests go.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn health_url(&self) -> &str {
        &self.health_url
    }

    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    /// One request for `texts`: one batched request (ssp), or one request for the single
    /// text (seed; `texts` must hold exactly one).
    pub async fn request(&self, texts: &[String]) -> Result<Vec<Vec<Entity>>, NerError> {
        match self.opts.api {
            NerApi::Ssp => self.request_ssp(texts).await,
            NerApi::SpacySeed => {
                let [text] = texts else {
                    return Err(NerError::Invalid(format!(
                        "the seed API takes one text per request, not {}",
                        texts.len()
                    )));
                };
                Ok(vec![self.request_seed(text).await?])
            }
        }
    }

    async fn post(&self, body: &serde_json::Value) -> Result<(u16, Vec<u8>), NerError> {
        let resp = self
            .http
            .post(&self.endpoint)
            .json(body)
            .send()
            .await
            .map_err(|e| classify(e, self.opts.timeout))?;
        let status = resp.status();
        if !status.is_success() {
            let body = read_capped(resp, 64 << 10, self.opts.timeout)
                .await
                .unwrap_or_default();
            let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            return Err(NerError::Status {
                status: status.as_u16(),
                body: text.trim().to_string(),
            });
        }
        let body = read_capped(resp, self.opts.max_response_bytes, self.opts.timeout).await?;
        Ok((status.as_u16(), body))
    }

    async fn request_ssp(&self, texts: &[String]) -> Result<Vec<Vec<Entity>>, NerError> {
        let (_, body) = self.post(&serde_json::json!({ "texts": texts })).await?;
        parse_ssp(&body, texts.len())
    }

    async fn request_seed(&self, text: &str) -> Result<Vec<Entity>, NerError> {
        let (_, body) = self.post(&serde_json::json!({ "text": text })).await?;
        parse_seed(&body, text)
    }
}

/// Reads a body up to `cap` bytes (else [`NerError::TooLarge`], dropping the connection).
async fn read_capped(
    resp: reqwest::Response,
    cap: usize,
    timeout: Duration,
) -> Result<Vec<u8>, NerError> {
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(NerError::TooLarge { limit: cap });
    }
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| classify(e, timeout))?;
        if body.len() + chunk.len() > cap {
            return Err(NerError::TooLarge { limit: cap });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn classify(e: reqwest::Error, timeout: Duration) -> NerError {
    if e.is_timeout() {
        NerError::Timeout(timeout)
    } else if e.is_connect() {
        NerError::Connect(error_chain(&e))
    } else {
        NerError::Transport(error_chain(&e))
    }
}

/// An error with its causes (`a: b: c`), without repeating the URL reqwest puts first.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}
