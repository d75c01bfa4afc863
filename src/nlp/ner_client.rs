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

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::entity::{locate, sort_entities, Entity};
use super::pydict::parse_py_str_dict;
pub use crate::config::NerApi;

/// Routes the client knows; a URL ending in one of them is taken as the exact endpoint.
pub const SEED_ROUTE: &str = "/text/ner/spacy";
pub const SEED_OLD_ROUTE: &str = "/spacy/api/v0.1/ner";
pub const SSP_ROUTE: &str = "/ner";
pub const HEALTH_ROUTE: &str = "/health";

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

/// What the readiness probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub ready: bool,
    /// e.g. `en_core_web_sm 3.8.0 (spaCy 3.8.18)`, or why it is not ready.
    pub detail: String,
}

/// What happens inside [`NerClient::annotate`], for health counters.
pub trait ClientObserver: Send + Sync {
    /// One HTTP request finished (`Ok` or the error), after `latency`, carrying `texts` texts.
    fn request(&self, _latency: Duration, _texts: usize, _result: Result<(), &NerError>) {}
    /// A failed request will be sent again after `delay`.
    fn retry(&self, _error: &NerError, _delay: Duration) {}
    /// The service is unreachable; the client waits `delay` before trying again.
    fn down(&self, _error: &NerError, _delay: Duration) {}
}

/// Observes nothing.
pub struct NoObserver;
impl ClientObserver for NoObserver {}

/// The outcome of [`NerClient::annotate`] for one request's texts.
#[derive(Debug, Clone)]
pub struct Annotated {
    /// One entry per text: its entities, or the error of the last attempt.
    pub results: Result<Vec<Vec<Entity>>, NerError>,
    /// Requests sent (outage waits not counted).
    pub attempts: u32,
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

    /// Readiness. The ssp API: `GET <base>/health`; a 2xx is ready, a 404 / 405 too (a
    /// service without the route that answers at all has loaded its model); anything else, or
    /// no answer, is not ready. The seed's API has no health route and may answer nothing
    /// but `POST`: a probe `POST` of an empty text to its NER route, where any HTTP answer
    /// means up.
    pub async fn health(&self) -> Health {
        if self.opts.api == NerApi::SpacySeed {
            return self.probe_post().await;
        }
        let started = Instant::now();
        let resp = match self.http.get(&self.health_url).send().await {
            Ok(r) => r,
            Err(e) => {
                return Health {
                    ready: false,
                    detail: classify(e, self.opts.timeout).to_string(),
                }
            }
        };
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND
            || status == reqwest::StatusCode::METHOD_NOT_ALLOWED
        {
            return Health {
                ready: true,
                detail: format!("up (no {HEALTH_ROUTE} route: HTTP {})", status.as_u16()),
            };
        }
        if !status.is_success() {
            return Health {
                ready: false,
                detail: format!("{HEALTH_ROUTE}: HTTP {}", status.as_u16()),
            };
        }
        let body = read_capped(resp, 64 << 10, self.opts.timeout)
            .await
            .unwrap_or_default();
        #[derive(Deserialize)]
        struct H {
            model: Option<String>,
            model_version: Option<String>,
            spacy: Option<String>,
        }
        let detail = match serde_json::from_slice::<H>(&body) {
            Ok(H {
                model: Some(m),
                model_version,
                spacy,
            }) => {
                let mut d = m;
                if let Some(v) = model_version {
                    d.push_str(&format!(" {v}"));
                }
                if let Some(s) = spacy {
                    d.push_str(&format!(" (spaCy {s})"));
                }
                d
            }
            _ => format!("up ({} ms)", started.elapsed().as_millis()),
        };
        Health {
            ready: true,
            detail,
        }
    }

    /// The seed API's readiness: any HTTP answer to a `POST` of an empty text.
    async fn probe_post(&self) -> Health {
        let started = Instant::now();
        let sent = self
            .http
            .post(&self.endpoint)
            .json(&serde_json::json!({ "text": "" }))
            .send()
            .await;
        match sent {
            Ok(resp) => Health {
                ready: true,
                detail: format!(
                    "up (probe POST {}: HTTP {}, {} ms)",
                    self.endpoint,
                    resp.status().as_u16(),
                    started.elapsed().as_millis()
                ),
            },
            Err(e) => Health {
                ready: false,
                detail: classify(e, self.opts.timeout).to_string(),
            },
        }
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

    /// [`request`](Self::request) with retries: transient failures are retried up to
    /// `retries` times with exponential backoff and jitter; an unreachable service is
    /// waited for (until `cancel`) without using up attempts.
    pub async fn annotate(
        &self,
        texts: &[String],
        cancel: &CancellationToken,
        observer: &dyn ClientObserver,
    ) -> Annotated {
        let mut attempts = 0u32;
        let mut failures = 0u32;
        let mut outage = 0u32;
        loop {
            if cancel.is_cancelled() {
                return Annotated {
                    results: Err(NerError::Cancelled),
                    attempts,
                };
            }
            attempts += 1;
            let started = Instant::now();
            let result = tokio::select! {
                r = self.request(texts) => r,
                _ = cancel.cancelled() => Err(NerError::Cancelled),
            };
            if result.as_ref().err() == Some(&NerError::Cancelled) {
                return Annotated {
                    results: result,
                    attempts,
                };
            }
            observer.request(started.elapsed(), texts.len(), result.as_ref().map(|_| ()));
            let error = match result {
                Ok(v) => {
                    return Annotated {
                        results: Ok(v),
                        attempts,
                    }
                }
                Err(e) => e,
            };
            let delay = if error.is_down() {
                attempts -= 1;
                outage += 1;
                let d = backoff_delay(&self.opts, outage - 1);
                observer.down(&error, d);
                d
            } else {
                outage = 0;
                failures += 1;
                if !error.retryable() || failures > self.opts.retries {
                    return Annotated {
                        results: Err(error),
                        attempts,
                    };
                }
                let d = backoff_delay(&self.opts, failures - 1);
                observer.retry(&error, d);
                d
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = cancel.cancelled() => {}
            }
        }
    }
}

/// `backoff * 2^n`, capped, with jitter in [50%, 100%].
pub fn backoff_delay(opts: &ClientOptions, n: u32) -> Duration {
    let base = crate::backoff::Backoff::doubling(opts.backoff, opts.backoff_max).delay(n);
    base.mul_f64(0.5 + rand::random::<f64>() * 0.5)
}

/// (NER endpoint, health URL) for a configured URL.
pub fn endpoints(url: &str, api: NerApi) -> Result<(String, String), NerError> {
    let bad = |why: &str| NerError::BadUrl {
        url: url.to_string(),
        why: why.to_string(),
    };
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("expected http:// or https://"));
    }
    if parsed.host_str().is_none() {
        return Err(bad("no host"));
    }
    let mut base = parsed.clone();
    base.set_query(None);
    base.set_fragment(None);
    let path = base.path().trim_end_matches('/').to_string();
    let known = [SEED_ROUTE, SEED_OLD_ROUTE, SSP_ROUTE]
        .into_iter()
        .find(|r| path.ends_with(r));
    let (prefix, endpoint_path) = match known {
        Some(route) => (path[..path.len() - route.len()].to_string(), path.clone()),
        None => {
            let route = match api {
                NerApi::Ssp => SSP_ROUTE,
                NerApi::SpacySeed => SEED_ROUTE,
            };
            (path.clone(), format!("{path}{route}"))
        }
    };
    let mut endpoint = base.clone();
    endpoint.set_path(&endpoint_path);
    let mut health = base;
    health.set_path(&format!("{prefix}{HEALTH_ROUTE}"));
    Ok((endpoint.to_string(), health.to_string()))
}

/// Parses an `ssp` answer for `n` texts.
pub fn parse_ssp(body: &[u8], n: usize) -> Result<Vec<Vec<Entity>>, NerError> {
    #[derive(Deserialize)]
    struct Answer {
        entities: Vec<Vec<Entity>>,
    }
    let answer: Answer =
        serde_json::from_slice(body).map_err(|e| NerError::Invalid(format!("JSON: {e}")))?;
    if answer.entities.len() != n {
        return Err(NerError::Invalid(format!(
            "{} entity lists for {n} texts",
            answer.entities.len()
        )));
    }
    let mut out = answer.entities;
    for list in &mut out {
        for e in list.iter() {
            if let (Some(s), Some(end)) = (e.start, e.end) {
                if end < s {
                    return Err(NerError::Invalid(format!(
                        "entity {:?} ends ({end}) before it starts ({s})",
                        e.text
                    )));
                }
            }
        }
        sort_entities(list);
    }
    Ok(out)
}

/// Parses a seed answer (`{"res": "<python dict>"}`) for `text`, placing each entity.
pub fn parse_seed(body: &[u8], text: &str) -> Result<Vec<Entity>, NerError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| NerError::Invalid(format!("JSON: {e}")))?;
    let res = value
        .get("res")
        .ok_or_else(|| NerError::Invalid("no \"res\" in the answer".into()))?;
    let pairs: Vec<(String, String)> = match res {
        serde_json::Value::String(s) => {
            parse_py_str_dict(s).map_err(|e| NerError::Invalid(e.to_string()))?
        }
        // A service that returns a real JSON object instead of its printed form.
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(NerError::Invalid(format!("res[{k:?}] is not a string"))),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(NerError::Invalid(
                "\"res\" is neither a string nor an object".into(),
            ))
        }
    };
    let mut out: Vec<Entity> = pairs
        .into_iter()
        .map(|(label, t)| match locate(text, &t) {
            Some((s, e)) => Entity::new(t, label, s, e),
            None => Entity::unplaced(t, label),
        })
        .collect();
    sort_entities(&mut out);
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_from_base_or_exact_url() {
        let e = |u, a| endpoints(u, a).unwrap();
        assert_eq!(
            e("http://127.0.0.1:5000", NerApi::Ssp),
            (
                "http://127.0.0.1:5000/ner".to_string(),
                "http://127.0.0.1:5000/health".to_string()
            )
        );
        assert_eq!(
            e("http://h:5000/", NerApi::SpacySeed).0,
            "http://h:5000/text/ner/spacy"
        );
        assert_eq!(
            e("http://h:30123/spacy/api/v0.1/ner", NerApi::SpacySeed),
            (
                "http://h:30123/spacy/api/v0.1/ner".to_string(),
                "http://h:30123/health".to_string()
            )
        );
        assert_eq!(
            e("https://h/prefix", NerApi::Ssp),
            (
                "https://h/prefix/ner".to_string(),
                "https://h/prefix/health".to_string()
            )
        );
        assert!(endpoints("localhost:5000", NerApi::Ssp).is_err());
        assert!(endpoints("ftp://h", NerApi::Ssp).is_err());
        assert!(endpoints("", NerApi::Ssp).is_err());
    }

    #[test]
    fn seed_answers_are_placed_in_the_text() {
        let text = "Ram read a book on Friday 20/11/2019";
        let body = br#"{"res": "{'DATE': 'Friday', 'PERSON': 'Sita'}"}"#;
        let got = parse_seed(body, text).unwrap();
        assert_eq!(
            got,
            vec![
                Entity::new("Friday", "DATE", 19, 25),
                Entity::unplaced("Sita", "PERSON")
            ]
        );
        let obj = br#"{"res": {"DATE": "Friday"}}"#;
        assert_eq!(parse_seed(obj, text).unwrap().len(), 1);
        assert!(matches!(
            parse_seed(b"{\"res\": \"{'DATE': 1}\"}", text),
            Err(NerError::Invalid(_))
        ));
        assert!(matches!(
            parse_seed(b"<html>", text),
            Err(NerError::Invalid(_))
        ));
        assert!(matches!(parse_seed(b"{}", text), Err(NerError::Invalid(_))));
    }

    #[test]
    fn ssp_answers_must_match_the_batch() {
        let body = br#"{"entities": [[{"text":"Friday","label":"DATE","start":19,"end":25}], []]}"#;
        let got = parse_ssp(body, 2).unwrap();
        assert_eq!(got[0], vec![Entity::new("Friday", "DATE", 19, 25)]);
        assert!(got[1].is_empty());
        assert!(parse_ssp(body, 3).is_err());
        assert!(parse_ssp(b"{\"entities\": 5}", 1).is_err());
        let backwards = br#"{"entities": [[{"text":"x","label":"X","start":5,"end":2}]]}"#;
        assert!(parse_ssp(backwards, 1).is_err());
    }

    #[test]
    fn retry_classes() {
        let s = |status| NerError::Status {
            status,
            body: String::new(),
        };
        assert!(s(500).retryable() && s(503).retryable() && s(429).retryable());
        assert!(!s(400).retryable() && !s(404).retryable());
        assert!(NerError::Timeout(Duration::from_secs(1)).retryable());
        assert!(NerError::Connect("refused".into()).is_down());
        assert!(!NerError::Transport("reset".into()).is_down());
        let opts = ClientOptions::new("http://h", NerApi::Ssp);
        for n in 0..40 {
            let d = backoff_delay(&opts, n);
            assert!(d <= opts.backoff_max, "{d:?}");
        }
        assert!(backoff_delay(&opts, 0) >= opts.backoff / 2);
    }
}
