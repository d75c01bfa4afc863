//! Failed X API calls sorted by what to do next, and how server answers are quoted in
//! messages: briefly, and never with the bearer token in them.

use serde::Deserialize;

use crate::config::x_api::Secret;
use crate::source::x_api::backoff::Failure;

/// Longest piece of a server answer quoted in a message.
const QUOTE_MAX: usize = 300;

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

pub(super) fn cut(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= QUOTE_MAX {
        return text.to_string();
    }
    let mut s: String = text.chars().take(QUOTE_MAX).collect();
    s.push_str(" [...]");
    s
}

/// ": <title>: <detail>" from an error body (RFC 7807 or an `errors` list), else the raw text.
pub(super) fn body_detail(body: &str) -> String {
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
}
