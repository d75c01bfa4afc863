//! The X API v2 filtered-stream endpoints over `reqwest`: list / add / delete rules
//! (`GET`/`POST /2/tweets/search/stream/rules`) and open the stream
//! (`GET /2/tweets/search/stream`), with failures sorted by what the caller should do.
//!
//! The bearer token only ever goes into the `Authorization` header (marked sensitive); every
//! message built from a server answer passes through [`redact`] first.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::backoff::Failure;
use super::rules::{Rule, RuleSpec};
use crate::config::x_api::Secret;

pub const RULES_PATH: &str = "/2/tweets/search/stream/rules";
pub const STREAM_PATH: &str = "/2/tweets/search/stream";
/// The fields the bronze stage reads: text, time, entities (hashtags / mentions / URLs),
/// author (expanded to the user's username and name), language, retweet / quote references.
pub const STREAM_QUERY: &str = "tweet.fields=created_at,entities,author_id,lang,referenced_tweets\
                                &expansions=author_id&user.fields=username,name";
/// Waiting for a connection, and for the answer headers of any request.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest piece of a server answer quoted in a message.
const QUOTE_MAX: usize = 300;
/// Rules per POST.
const ADD_BATCH: usize = 100;

/// A failed call, sorted by what to do next (see [`ApiError::failure`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("network error: {0}")]
    Network(String),
    #[error("bad token: X answered HTTP 401 Unauthorized{0}; check SSP_X_BEARER_TOKEN (an app-only bearer token)")]
    Unauthorized(String),
    #[error("no access: X answered HTTP 403 Forbidden{0}; the filtered stream needs an app inside a Project with an access level that includes it (Pro or Enterprise)")]
    Forbidden(String),
    #[error("rate limited: HTTP 429{detail}")]
    RateLimited {
        reset_at: Option<u64>,
        detail: String,
    },
    #[error("HTTP {status}{detail}")]
    Http { status: u16, detail: String },
    #[error("rules rejected by X: {0}")]
    Rejected(String),
    #[error("unreadable answer: {0}")]
    Protocol(String),
}

impl ApiError {
    /// How to wait before trying again; None: trying again cannot help (stop the stage).
    pub fn failure(&self) -> Option<Failure> {
        match self {
            ApiError::Network(_) => Some(Failure::Network),
            ApiError::Http { .. } | ApiError::Protocol(_) => Some(Failure::Http),
            ApiError::RateLimited { reset_at, .. } => Some(Failure::RateLimit {
                reset_at: *reset_at,
            }),
            ApiError::Unauthorized(_) | ApiError::Forbidden(_) | ApiError::Rejected(_) => None,
        }
    }
}

/// Replaces every occurrence of the token in `text` with `***`.
pub fn redact(text: &str, token: &Secret) -> String {
    let t = token.expose();
    if t.is_empty() {
        text.to_string()
    } else {
        text.replace(t, "***")
    }
}

/// An error and its sources, one line.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        cur = s.source();
    }
    out
}

fn cut(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= QUOTE_MAX {
        return text.to_string();
    }
    let mut s: String = text.chars().take(QUOTE_MAX).collect();
    s.push_str(" [...]");
    s
}

/// ": <title>: <detail>" from an error body (RFC 7807 or an `errors` list), else the raw text.
fn body_detail(body: &str) -> String {
    #[derive(Deserialize)]
    struct Problem {
        title: Option<String>,
        detail: Option<String>,
        #[serde(default)]
        errors: Vec<Problem>,
        message: Option<String>,
    }
    let text = match serde_json::from_str::<Problem>(body) {
        Ok(p) => {
            let one = |p: &Problem| {
                [
                    p.title.as_deref(),
                    p.detail.as_deref(),
                    p.message.as_deref(),
                ]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(": ")
            };
            let mut parts = vec![one(&p)];
            parts.extend(p.errors.iter().map(one));
            parts.retain(|s| !s.is_empty());
            parts.join("; ")
        }
        Err(_) => body.to_string(),
    };
    let text = cut(&text);
    if text.is_empty() {
        String::new()
    } else {
        format!(" ({text})")
    }
}

/// Rules the server already had (`DuplicateRule`) are not an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Added {
    pub created: Vec<Rule>,
    pub duplicates: Vec<String>,
}

pub struct XClient {
    http: reqwest::Client,
    base: String,
    token: Secret,
}

impl XClient {
    pub fn new(base_url: &str, token: Secret) -> anyhow::Result<XClient> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("ssp-tui/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(XClient {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            token,
        })
    }

    pub fn stream_url(&self) -> String {
        format!("{}{STREAM_PATH}?{STREAM_QUERY}", self.base)
    }

    fn rules_url(&self) -> String {
        format!("{}{RULES_PATH}", self.base)
    }

    fn network(&self, e: &reqwest::Error) -> ApiError {
        ApiError::Network(redact(&error_chain(e), &self.token))
    }

    /// Sends a request, waiting at most [`REQUEST_TIMEOUT`] for the answer headers; a status
    /// other than 2xx becomes the matching error.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ApiError> {
        let req = req.bearer_auth(self.token.expose());
        let resp = match tokio::time::timeout(REQUEST_TIMEOUT, req.send()).await {
            Err(_) => {
                return Err(ApiError::Network(format!(
                    "no answer within {} s",
                    REQUEST_TIMEOUT.as_secs()
                )))
            }
            Ok(Err(e)) => return Err(self.network(&e)),
            Ok(Ok(resp)) => resp,
        };
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let reset_at = resp
            .headers()
            .get("x-rate-limit-reset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body = tokio::time::timeout(REQUEST_TIMEOUT, resp.text())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let detail = redact(&body_detail(&body), &self.token);
        Err(match status.as_u16() {
            401 => ApiError::Unauthorized(detail),
            403 => ApiError::Forbidden(detail),
            429 => ApiError::RateLimited { reset_at, detail },
            code => ApiError::Http {
                status: code,
                detail,
            },
        })
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ApiError> {
        let resp = self.send(req.timeout(REQUEST_TIMEOUT)).await?;
        let bytes = resp.bytes().await.map_err(|e| self.network(&e))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::Protocol(redact(
                &format!("{e} in {:?}", cut(&String::from_utf8_lossy(&bytes))),
                &self.token,
            ))
        })
    }

    /// Every rule on the stream (follows `next_token` pages).
    pub async fn list_rules(&self) -> Result<Vec<Rule>, ApiError> {
        #[derive(Deserialize)]
        struct Meta {
            next_token: Option<String>,
        }
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            data: Vec<Rule>,
            meta: Option<Meta>,
        }
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = self
                .http
                .get(self.rules_url())
                .query(&[("max_results", "1000")]);
            if let Some(t) = &token {
                req = req.query(&[("pagination_token", t)]);
            }
            let page: Page = self.json(req).await?;
            out.extend(page.data);
            token = page.meta.and_then(|m| m.next_token);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    /// Adds rules; an invalid rule fails the whole call with [`ApiError::Rejected`].
    pub async fn add_rules(&self, rules: &[RuleSpec]) -> Result<Added, ApiError> {
        #[derive(Deserialize)]
        struct Problem {
            #[serde(default)]
            title: String,
            value: Option<String>,
            detail: Option<String>,
            #[serde(default)]
            details: Vec<String>,
        }
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            data: Vec<Rule>,
            #[serde(default)]
            errors: Vec<Problem>,
        }
        let mut out = Added::default();
        for batch in rules.chunks(ADD_BATCH) {
            let body = json!({ "add": batch });
            let answer: Answer = self
                .json(self.http.post(self.rules_url()).json(&body))
                .await?;
            out.created.extend(answer.data);
            let mut rejected = Vec::new();
            for p in answer.errors {
                let value = p.value.unwrap_or_default();
                if p.title == "DuplicateRule" {
                    out.duplicates.push(value);
                    continue;
                }
                let value = if value.chars().count() > 40 {
                    format!("{}...", value.chars().take(40).collect::<String>())
                } else {
                    value
                };
                let mut why = vec![p.title];
                why.extend(p.detail);
                why.extend(p.details);
                why.retain(|s| !s.is_empty());
                rejected.push(format!("{value:?}: {}", why.join("; ")));
            }
            if !rejected.is_empty() {
                return Err(ApiError::Rejected(redact(
                    &cut(&rejected.join(" | ")),
                    &self.token,
                )));
            }
        }
        Ok(out)
    }

    /// Deletes rules by id; ids the server no longer has are not an error.
    pub async fn delete_rules(&self, ids: &[String]) -> Result<(), ApiError> {
        if ids.is_empty() {
            return Ok(());
        }
        let body = json!({ "delete": { "ids": ids } });
        let _: serde_json::Value = self
            .json(self.http.post(self.rules_url()).json(&body))
            .await?;
        Ok(())
    }

    /// Opens the stream: the answer once its headers say 200 (read its body with
    /// `bytes_stream`; no overall timeout, the caller watches for stalls).
    pub async fn connect(&self) -> Result<reqwest::Response, ApiError> {
        self.send(self.http.get(self.stream_url())).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_each_error_asks_for() {
        assert_eq!(
            ApiError::Network("x".into()).failure(),
            Some(Failure::Network)
        );
        assert_eq!(
            ApiError::Http {
                status: 503,
                detail: String::new()
            }
            .failure(),
            Some(Failure::Http)
        );
        assert_eq!(
            ApiError::RateLimited {
                reset_at: Some(5),
                detail: String::new()
            }
            .failure(),
            Some(Failure::RateLimit { reset_at: Some(5) })
        );
        for fatal in [
            ApiError::Unauthorized(String::new()),
            ApiError::Forbidden(String::new()),
            ApiError::Rejected(String::new()),
        ] {
            assert_eq!(fatal.failure(), None, "{fatal}");
        }
        let e = ApiError::Unauthorized(body_detail(
            r#"{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}"#,
        ));
        assert_eq!(
            e.to_string(),
            "bad token: X answered HTTP 401 Unauthorized (Unauthorized: Unauthorized); \
             check SSP_X_BEARER_TOKEN (an app-only bearer token)"
        );
        assert!(ApiError::Forbidden(String::new())
            .to_string()
            .starts_with("no access: X answered HTTP 403 Forbidden;"));
    }

    #[test]
    fn quotes_server_answers_briefly_and_without_the_token() {
        let token = Secret::new("AAAA-secret-token");
        let body =
            r#"{"errors":[{"title":"ConnectionException","detail":"too many connections"}]}"#;
        assert_eq!(
            body_detail(body),
            " (ConnectionException: too many connections)"
        );
        assert_eq!(body_detail(""), "");
        assert_eq!(body_detail("<html>oops</html>"), " (<html>oops</html>)");
        let long = "x".repeat(1000);
        assert!(body_detail(&long).len() < 400);
        let echoed = format!("you sent Bearer {}", token.expose());
        assert_eq!(redact(&echoed, &token), "you sent Bearer ***");
    }

    #[test]
    fn stream_url_asks_for_the_fields_bronze_reads() {
        let c = XClient::new("http://127.0.0.1:1/", Secret::new("t")).unwrap();
        assert_eq!(
            c.stream_url(),
            "http://127.0.0.1:1/2/tweets/search/stream?tweet.fields=created_at,entities,\
             author_id,lang,referenced_tweets&expansions=author_id&user.fields=username,name"
        );
    }
}
