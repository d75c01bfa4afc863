//! The readiness probe: `GET /health` on the ssp API, a probe `POST` on the seed's.

use std::time::Instant;

use serde::Deserialize;

use super::{classify, read_capped, NerApi, NerClient, HEALTH_ROUTE};

/// What the readiness probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub ready: bool,
    /// e.g. `en_core_web_sm 3.8.0 (spaCy 3.8.18)`, or why it is not ready.
    pub detail: String,
}

impl NerClient {
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
}
