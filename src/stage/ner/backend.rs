//! Where entities come from: the built-in rules tagger, or a spaCy service over HTTP (either
//! API), asked with bounded concurrency; and waiting for that service to be ready.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::config::{NerApi, NerSettings};
use crate::nlp::{ClientOptions, Entity, NerClient, RuleTagger};
use crate::stage::ner::status::StatusTracker;

/// Tweets tagged per step by the rules backend.
const RULES_CHUNK: usize = 2048;

/// The entities of each text, or the error it is recorded with.
pub(super) type Outcome = Result<Vec<Entity>, String>;

enum Kind {
    Rules(Arc<RuleTagger>),
    Http(Arc<NerClient>),
}

pub(super) struct Backend {
    kind: Kind,
    settings: NerSettings,
    tracker: Arc<StatusTracker>,
}

impl Backend {
    pub(super) fn build(s: &NerSettings, tracker: Arc<StatusTracker>) -> anyhow::Result<Backend> {
        let kind = match &s.url {
            None => {
                let tagger = match &s.gazetteer {
                    Some(p) => RuleTagger::with_extra(p)
                        .with_context(|| format!("reading the gazetteer {}", p.display()))?,
                    None => RuleTagger::builtin(),
                };
                Kind::Rules(Arc::new(tagger))
            }
            Some(url) => {
                let opts = ClientOptions {
                    url: url.clone(),
                    api: s.api,
                    timeout: s.timeout,
                    max_response_bytes: s.max_response_bytes,
                    retries: s.retries,
                    backoff: s.backoff,
                    backoff_max: s.backoff_max,
                    pool: s.concurrency,
                };
                Kind::Http(Arc::new(NerClient::new(opts)?))
            }
        };
        Ok(Backend {
            kind,
            settings: s.clone(),
            tracker,
        })
    }

    /// One line for the stage's log.
    pub(super) fn describe(&self) -> String {
        match &self.kind {
            Kind::Rules(t) => format!(
                "rules (built-in tagger, {} gazetteer names; not a model)",
                t.gazetteer_len()
            ),
            Kind::Http(c) => format!(
                "spaCy service {} ({} API, {} in flight, batch {})",
                c.endpoint(),
                self.settings.api,
                self.settings.concurrency,
                self.settings.batch_size
            ),
        }
    }

    /// Texts handed to [`annotate`](Self::annotate) at once.
    pub(super) fn chunk(&self) -> usize {
        match &self.kind {
            Kind::Rules(_) => RULES_CHUNK,
            Kind::Http(_) => match self.settings.api {
                NerApi::Ssp => self.settings.batch_size * self.settings.concurrency * 2,
                NerApi::SpacySeed => self.settings.concurrency * 4,
            },
        }
        .max(1)
    }

    /// The outcome per text, or `None` when cancelled.
    pub(super) async fn annotate(
        &self,
        texts: Vec<String>,
        cancel: &CancellationToken,
    ) -> Option<Vec<Outcome>> {
        match &self.kind {
            Kind::Rules(tagger) => {
                let tagger = tagger.clone();
                let tagged = tokio::task::spawn_blocking(move || {
                    texts.iter().map(|t| tagger.tag(t)).collect::<Vec<_>>()
                })
                .await
                .ok()?;
                Some(tagged.into_iter().map(Ok).collect())
            }
            Kind::Http(client) => {
                let per_request = match self.settings.api {
                    NerApi::Ssp => self.settings.batch_size,
                    NerApi::SpacySeed => 1,
                };
                let mut out = self.send(client, &texts, per_request, cancel).await?;
                // A batch the service refused outright (a 4xx, e.g. 413): find the culprit
                // by sending its texts one by one, so its neighbours are not failed with it.
                if per_request > 1 {
                    let singles: Vec<usize> = out
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| matches!(r, Err((true, _))))
                        .map(|(i, _)| i)
                        .collect();
                    if !singles.is_empty() {
                        let texts: Vec<String> =
                            singles.iter().map(|i| texts[*i].clone()).collect();
                        let again = self.send(client, &texts, 1, cancel).await?;
                        for (i, r) in singles.into_iter().zip(again) {
                            out[i] = r;
                        }
                    }
                }
                Some(out.into_iter().map(|r| r.map_err(|(_, e)| e)).collect())
            }
        }
    }

    /// Sends `texts` in requests of `per_request`, `concurrency` at a time; per text its
    /// entities, or (refused by the service outright, error).
    async fn send(
        &self,
        client: &Arc<NerClient>,
        texts: &[String],
        per_request: usize,
        cancel: &CancellationToken,
    ) -> Option<Vec<Result<Vec<Entity>, (bool, String)>>> {
        let requests: Vec<Vec<String>> = texts
            .chunks(per_request.max(1))
            .map(<[String]>::to_vec)
            .collect();
        let answers: Vec<(usize, crate::nlp::Annotated)> = futures::stream::iter(requests)
            .map(|req| {
                let client = client.clone();
                let cancel = cancel.clone();
                let tracker = self.tracker.clone();
                async move {
                    let a = client.annotate(&req, &cancel, tracker.as_ref()).await;
                    (req.len(), a)
                }
            })
            .buffered(self.settings.concurrency.max(1))
            .collect()
            .await;
        let mut out = Vec::with_capacity(texts.len());
        for (n, a) in answers {
            match a.results {
                Ok(lists) => out.extend(lists.into_iter().map(Ok)),
                Err(crate::nlp::NerError::Cancelled) => return None,
                Err(e) => {
                    let refused = !e.retryable() && n > 1;
                    let msg = format!(
                        "{} after {} attempt{}: {e}",
                        e.kind(),
                        a.attempts,
                        if a.attempts == 1 { "" } else { "s" }
                    );
                    out.extend((0..n).map(|_| Err((refused, msg.clone()))));
                }
            }
        }
        if cancel.is_cancelled() {
            return None;
        }
        Some(out)
    }

    /// Waits until the service answers its readiness probe (logging once to `log`); false
    /// when cancelled first.
    pub(super) async fn wait_ready(
        &self,
        cancel: &CancellationToken,
        log: &crate::stage::LogBuffer,
    ) -> bool {
        let Kind::Http(client) = &self.kind else {
            self.tracker.set_health(true, "ready");
            return true;
        };
        let mut attempt = 0u32;
        let mut logged = false;
        loop {
            let h = tokio::select! {
                h = client.health() => h,
                _ = cancel.cancelled() => return false,
            };
            if h.ready {
                self.tracker
                    .set_health(true, format!("ready: {}", h.detail));
                log.event(format!(
                    "NER service ready: {} ({})",
                    client.health_url(),
                    h.detail
                ));
                return true;
            }
            let delay = crate::nlp::ner_client::backoff_delay(client.options(), attempt)
                .max(Duration::from_millis(200));
            attempt = attempt.saturating_add(1);
            self.tracker.set_health(
                false,
                format!("waiting for {}: {}", client.health_url(), h.detail),
            );
            if !logged {
                log.event(format!(
                    "waiting for the NER service at {}: {}",
                    client.health_url(),
                    h.detail
                ));
                logged = true;
            }
            tokio::select! {
                _ = cancel.cancelled() => return false,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }
}
