//! Tweet JSON builders (Twitter API v1.1 and v2). Each generated tweet carries what bronze must
//! hold for it, written as literals next to the JSON it is built from (not derived by a copy
//! of the code under test), and SHA-256 from the `sha2` crate.

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// What a generated tweet must look like in bronze.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub id: String,
    /// The text bronze keeps: the right one of the tweet's texts, each run of `\r` / `\n` one
    /// space, trimmed (written out by hand per shape).
    pub text: String,
    pub author: Option<String>,
    /// Client name as shown to people (HTML removed).
    pub source: Option<String>,
    pub hashtags: Vec<String>,
    pub created_at_ms: i64,
    pub is_retweet: bool,
}

#[derive(Debug, Clone)]
pub struct Sample {
    pub json: Value,
    pub expect: Expect,
}

fn at(i: u64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2020, 4, 5, 10, 46, 44).unwrap() + chrono::Duration::seconds(i as i64)
}

fn v1_date(t: DateTime<Utc>) -> String {
    t.format("%a %b %d %H:%M:%S +0000 %Y").to_string()
}

fn anchor(client: &str, html_client: &str) -> String {
    format!(
        r#"<a href="https://mobile.twitter.com/{}" rel="nofollow">{html_client}</a>"#,
        client.replace(' ', "-").to_lowercase()
    )
}

fn tags(list: &[&str]) -> Value {
    Value::Array(
        list.iter()
            .map(|t| json!({"text": t, "indices": [0, 1]}))
            .collect(),
    )
}

/// A Twitter API v1.1 tweet with the usual top-level fields.
pub fn v1_tweet(id: u64, text: &str, screen_name: &str, created: DateTime<Utc>) -> Value {
    json!({
        "created_at": v1_date(created),
        "id": id,
        "id_str": id.to_string(),
        "text": text,
        "truncated": false,
        "user": {"id": 7, "id_str": "7", "screen_name": screen_name, "name": "Some One"},
        "lang": "en",
        "entities": {"hashtags": [], "user_mentions": [], "urls": []},
    })
}

/// A Twitter API v2 tweet (`data` + `includes.users`).
pub fn v2_tweet(
    id: u64,
    text: &str,
    author_id: &str,
    username: &str,
    created: DateTime<Utc>,
    hashtags: &[&str],
) -> Value {
    json!({
        "data": {
            "id": id.to_string(),
            "text": text,
            "created_at": created.format("%Y-%m-%dT%H:%M:%S.000Z").to_string(),
            "author_id": author_id,
            "lang": "en",
            "entities": {"hashtags": hashtags.iter().map(|t| json!({"start": 0, "end": 1, "tag": t})).collect::<Vec<_>>()},
        },
        "includes": {"users": [
            {"id": "1", "username": "not_the_author", "name": "Decoy"},
            {"id": author_id, "username": username, "name": "Author"},
        ]},
    })
}

/// Tweet number `i` of a deterministic mix of shapes (ids are `base + i`).
pub fn mixed_tweet(base: u64, i: u64) -> Sample {
    let id = base + i;
    let created = at(i);
    let user = format!("user{}", i % 97);
    let (json, text, source, hashtags, is_retweet, author) = match i % 6 {
        // v1.1 plain, newlines inside and around, entities give the hashtags.
        0 => {
            let lead = if i.is_multiple_of(12) { "\n\n" } else { "" };
            let text =
                format!("{lead}Plain tweet {i} line one\nline two\n\n\nline three #Tag{i} ✓\n");
            let mut t = v1_tweet(id, &text, &user, created);
            t["source"] = anchor("iphone", "Twitter for iPhone").into();
            let tag = format!("Tag{i}");
            t["entities"]["hashtags"] = tags(&[&tag]);
            (
                t,
                format!("Plain tweet {i} line one line two line three #Tag{i} ✓"),
                Some("Twitter for iPhone".to_string()),
                vec![tag],
                false,
                Some(user),
            )
        }
        // v1.1 truncated with extended_tweet.full_text (the long text and its entities win).
        1 => {
            let mut t = v1_tweet(
                id,
                &format!("Short {i} #Cut… https://t.co/x"),
                &user,
                created,
            );
            t["truncated"] = true.into();
            t["entities"]["hashtags"] = tags(&["Cut"]);
            let full = format!(
                "Long text {i}\r\n\r\nwith #Full{i} and #Rust, which goes on and on well past the \
                 old limit of one hundred and forty characters so that it must be truncated {}",
                "…".repeat(3)
            );
            let full_tag = format!("Full{i}");
            t["extended_tweet"] = json!({
                "full_text": full,
                "display_text_range": [0, 200],
                "entities": {"hashtags": tags(&[&full_tag, "Rust"]), "user_mentions": [], "urls": []},
            });
            t["source"] = anchor("web", "Twitter Web App").into();
            (
                t,
                format!(
                    "Long text {i} with #Full{i} and #Rust, which goes on and on well past the \
                     old limit of one hundred and forty characters so that it must be truncated \
                     ………"
                ),
                Some("Twitter Web App".to_string()),
                vec![full_tag, "Rust".into()],
                false,
                Some(user),
            )
        }
        // v1.1 retweet whose retweeted_status.extended_tweet.full_text holds the long text.
        2 => {
            let mut t = v1_tweet(
                id,
                &format!("RT @orig{i}: the start of a long… #Start"),
                &user,
                created,
            );
            t["entities"]["hashtags"] = tags(&["Start"]);
            let story = format!("Story{i}");
            t["retweeted_status"] = json!({
                "id": id - 1_000_000,
                "id_str": (id - 1_000_000).to_string(),
                "text": "the start of a long…",
                "truncated": true,
                "user": {"screen_name": format!("orig{i}")},
                "extended_tweet": {
                    "full_text": format!("the start of a long story {i}\n\n\n#{story} ends\rhere"),
                    "entities": {"hashtags": tags(&[&story])},
                },
            });
            t["source"] = anchor("deck", "TweetDeck").into();
            (
                t,
                format!("the start of a long story {i} #{story} ends here"),
                Some("TweetDeck".to_string()),
                vec![story],
                true,
                Some(user),
            )
        }
        // v2 with included users and hashtags (no source field in v2 by default).
        3 => {
            let tag = format!("V2Tag{i}");
            let author_id = format!("9{i}");
            let username = format!("v2user{i}");
            let t = v2_tweet(
                id,
                &format!("v2 tweet {i}\nwith #{tag} and #二つ目\r\n"),
                &author_id,
                &username,
                created,
                &[&tag, "二つ目"],
            );
            (
                t,
                format!("v2 tweet {i} with #{tag} and #二つ目"),
                None,
                vec![tag, "二つ目".to_string()],
                false,
                Some(username),
            )
        }
        // v1.1 retweet without extended text: the top-level text stays; HTML entity in source.
        4 => {
            let mut t = v1_tweet(
                id,
                &format!("RT @bob: plain retweet {i}\n#One #Two"),
                &user,
                created,
            );
            t["entities"]["hashtags"] = tags(&["One", "Two"]);
            t["retweeted_status"] =
                json!({"id_str": "5", "text": format!("plain retweet {i}\n#One #Two")});
            t["source"] = anchor("foo", "Foo &amp; Bar <b>Client</b>").into();
            (
                t,
                format!("RT @bob: plain retweet {i} #One #Two"),
                Some("Foo & Bar Client".to_string()),
                vec!["One".into(), "Two".into()],
                true,
                Some(user),
            )
        }
        // v1.1 with its own extended_tweet AND a retweeted extended text: its own wins.
        _ => {
            let mut t = v1_tweet(id, &format!("Own short {i}…"), &user, created);
            let own = format!("Own{i}");
            t["extended_tweet"] = json!({
                "full_text": format!("  Own long text {i}\n\r\n#{own}  "),
                "entities": {"hashtags": tags(&[&own])},
            });
            t["retweeted_status"] = json!({
                "id_str": "6",
                "extended_tweet": {"full_text": "NOT THIS ONE #Wrong", "entities": {"hashtags": tags(&["Wrong"])}},
            });
            t["source"] = "Plain Client".into();
            (
                t,
                format!("Own long text {i} #{own}"),
                Some("Plain Client".to_string()),
                vec![own],
                true,
                Some(user),
            )
        }
    };
    Sample {
        expect: Expect {
            id: id.to_string(),
            text,
            author,
            source,
            hashtags,
            created_at_ms: created.timestamp_millis(),
            is_retweet,
        },
        json,
    }
}

pub fn mixed_tweets(base: u64, n: u64) -> Vec<Sample> {
    (0..n).map(|i| mixed_tweet(base, i)).collect()
}

/// A small v1.1 tweet (for bulk files where the shape does not matter).
pub fn small_tweet(id: u64) -> Value {
    let mut t = v1_tweet(
        id,
        &format!("bulk tweet {id} #Bulk"),
        "bulk",
        at(id % 100_000),
    );
    t["entities"]["hashtags"] = tags(&["Bulk"]);
    t
}

/// The id a v1.1 or v2 tweet JSON carries.
pub fn tweet_id(v: &Value) -> String {
    v.pointer("/data/id")
        .or_else(|| v.get("id_str"))
        .and_then(Value::as_str)
        .expect("tweet has an id")
        .to_string()
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One compact JSON document per line.
pub fn write_jsonl(path: &Path, tweets: impl IntoIterator<Item = Value>) {
    let mut out = String::new();
    for t in tweets {
        out.push_str(&serde_json::to_string(&t).unwrap());
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}
