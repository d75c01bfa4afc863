//! The X API v2 filtered-stream endpoints over `reqwest`: list / add / delete rules
//! (`GET`/`POST /2/tweets/search/stream/rules`) and open the stream
//! (`GET /2/tweets/search/stream`), with failures sorted by what the caller should do.
//!
//! The bearer token only ever goes into the `Authorization` header (marked sensitive); every
//! message built from a server answer passes through [`redact`] first.

mod error;

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::rules::{Rule, RuleSpec};
use crate::config::x_api::Secret;
use error::{body_detail, cut};

pub use error::{error_chain, redact, ApiError};

pub const RULES_PATH: &str = "/2/tweets/search/stream/rules";
pub const STREAM_PATH: &str = "/2/tweets/search/stream";
/// The fields the bronze stage reads: text, time, entities (hashtags / mentions / URLs),
/// author (expanded to the user's username and name), language, retweet / quote references.
pub const STREAM_QUERY: &str = "tweet.fields=created_at,entities,author_id,lang,referenced_tweets\
                                &expansions=author_id&user.fields=username,name";
/// Waiting for a connection, and for the answer headers of any request.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Rules per POST.
const ADD_BATCH: usize = 100;

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
    fn stream_url_asks_for_the_fields_bronze_reads() {
        let c = XClient::new("http://127.0.0.1:1/", Secret::new("t")).unwrap();
        assert_eq!(
            c.stream_url(),
            "http://127.0.0.1:1/2/tweets/search/stream?tweet.fields=created_at,entities,\
             author_id,lang,referenced_tweets&expansions=author_id&user.fields=username,name"
        );
    }
}
