//! The message key of a raw tweet (its id), found without parsing the tweet: the key only
//! spreads tweets over partitions (the same id always lands on the same one), so a fast scan
//! is enough; the full parse happens once, downstream.

/// The tweet id: the first `"id_str":"…"` (v1.1, where the tweet's own id comes before the
/// nested user's) or `"id":"…"` (v2 `data.id`, a string there); None when neither is found.
pub fn tweet_key(json: &[u8]) -> Option<String> {
    find_string_value(json, b"\"id_str\":\"").or_else(|| find_string_value(json, b"\"id\":\""))
}

fn find_string_value(json: &[u8], needle: &[u8]) -> Option<String> {
    let start = json.windows(needle.len()).position(|w| w == needle)? + needle.len();
    let len = json[start..].iter().take(32).position(|b| *b == b'"')?;
    let id = &json[start..start + len];
    (!id.is_empty() && id.iter().all(u8::is_ascii_digit))
        .then(|| String::from_utf8_lossy(id).into_owned())
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
        assert_eq!(tweet_key(br#"{"id_str":"12abc"}"#), None);
    }
}
