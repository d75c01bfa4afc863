//! The two wire formats: routes and endpoint URLs per API, and the parsers of an `ssp`
//! answer and of a seed answer (a Python dict as a string).

use serde::Deserialize;

use super::NerError;
use crate::config::NerApi;
use crate::nlp::entity::{locate, sort_entities, Entity};
use crate::nlp::pydict::parse_py_str_dict;

/// Routes the client knows; a URL ending in one of them is taken as the exact endpoint.
pub const SEED_ROUTE: &str = "/text/ner/spacy";
pub const SEED_OLD_ROUTE: &str = "/spacy/api/v0.1/ner";
pub const SSP_ROUTE: &str = "/ner";
pub const HEALTH_ROUTE: &str = "/health";

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
