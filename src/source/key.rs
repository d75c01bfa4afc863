//! The message key of a raw tweet (its id), found without parsing the tweet: the key only
//! spreads tweets over partitions (the same id always lands on the same one), so a fast scan
//! is enough; the full parse happens once, downstream.

use std::sync::OnceLock;

use memchr::memmem::Finder;

/// The tweet id: the first `"id_str":"…"` (v1.1, where the tweet's own id comes before the
/// nested user's) or `"id":"…"` (v2 `data.id`, a string there); None when neither is found.
pub fn tweet_key(json: &[u8]) -> Option<String> {
    static ID_STR: OnceLock<Finder<'static>> = OnceLock::new();
    static ID: OnceLock<Finder<'static>> = OnceLock::new();
    let id_str = ID_STR.get_or_init(|| Finder::new(b"\"id_str\""));
    let id = ID.get_or_init(|| Finder::new(b"\"id\""));
    find_string_value(json, id_str).or_else(|| find_string_value(json, id))
}

/// The digits of the string value after the first `key` (JSON whitespace allowed around `:`).
fn find_string_value(json: &[u8], key: &Finder) -> Option<String> {
    let mut from = 0;
    while let Some(at) = key.find(&json[from..]) {
        let mut i = from + at + key.needle().len();
        from = i;
        let skip_ws = |i: &mut usize| {
            while json
                .get(*i)
                .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            {
                *i += 1;
            }
        };
        skip_ws(&mut i);
        if json.get(i) != Some(&b':') {
            continue;
        }
        i += 1;
        skip_ws(&mut i);
        if json.get(i) != Some(&b'"') {
            continue;
        }
        let start = i + 1;
        let len = json[start..].iter().take(32).position(|b| *b == b'"')?;
        let id = &json[start..start + len];
        return (!id.is_empty() && id.iter().all(u8::is_ascii_digit))
            .then(|| String::from_utf8_lossy(id).into_owned());
    }
    None
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
        assert_eq!(
            tweet_key(br#"{"id": 1, "id_str": "18", "user": {"id_str": "9"}}"#).as_deref(),
            Some("18"),
            "spaces after : and ,"
        );
        assert_eq!(
            tweet_key(br#"{"data": {"id" : "43"}}"#).as_deref(),
            Some("43")
        );
    }
}
