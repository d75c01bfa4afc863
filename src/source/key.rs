//! The message key of a raw tweet (its id), read without building the whole tweet.

use serde::Deserialize;

#[derive(Deserialize)]
struct V1Id<'a> {
    #[serde(borrow)]
    id_str: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    data: Option<V2Id<'a>>,
}

#[derive(Deserialize)]
struct V2Id<'a> {
    #[serde(borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
}

/// The tweet id (v1.1 `id_str`, v2 `data.id`) or None when the record is not a readable tweet.
pub fn tweet_key(json: &[u8]) -> Option<String> {
    let parsed: V1Id = serde_json::from_slice(json).ok()?;
    parsed
        .id_str
        .or_else(|| parsed.data.and_then(|d| d.id))
        .map(|c| c.into_owned())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_v1_and_v2_ids_and_rejects_junk() {
        assert_eq!(
            tweet_key(br#"{"id":1,"id_str":"17","user":{"id_str":"9"}}"#).as_deref(),
            Some("17")
        );
        assert_eq!(
            tweet_key(br#"{"data":{"id":"42","text":"x"},"includes":{}}"#).as_deref(),
            Some("42")
        );
        assert_eq!(tweet_key(b"{not json"), None);
        assert_eq!(tweet_key(b""), None);
        assert_eq!(tweet_key(br#"{"text":"no id"}"#), None);
    }
}
