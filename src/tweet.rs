//! Tweet model: fast parsing of Twitter API v1.1 / v2 JSON into one flat [`Tweet`].
//!
//! Parsing deserializes borrowing views that name only the fields we need ([`raw`]); the text
//! rules live in [`text`] and a deterministic generator of realistic tweets in [`synthetic`].

pub mod hashtag_rule;
mod parse;
mod raw;
pub mod synthetic;
#[cfg(test)]
mod tests;
pub mod text;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

pub use synthetic::SyntheticTweets;

/// One tweet, normalised across API versions.
#[derive(Debug, Clone, PartialEq)]
pub struct Tweet {
    /// v1.1 `id_str` (fallback: numeric `id`); v2 `data.id`.
    pub id: String,
    /// v1.1 `"Sun Apr 05 10:46:44 +0000 2020"` or v2 RFC 3339; `None` if absent or unparsable.
    pub created_at: Option<DateTime<Utc>>,
    /// v1.1 `user.screen_name`; v2 the included user's `username` (else `author_id`).
    pub author: Option<String>,
    /// Client name, HTML removed (`Twitter for iPhone`).
    pub source: Option<String>,
    /// Full text (extended / retweeted extended / plain), newline runs -> one space, trimmed,
    /// `&amp; &lt; &gt;` decoded.
    pub text: String,
    /// Expanded URLs.
    pub urls: Vec<String>,
    /// Media URLs (`media_url_https`).
    pub media: Vec<String>,
    /// Hashtags without `#`, in order, duplicates kept.
    pub hashtags: Vec<String>,
    /// Mentioned screen names without `@`.
    pub mentions: Vec<String>,
    pub lang: Option<String>,
    pub is_retweet: bool,
}

/// Why a line is not a usable tweet.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum TweetError {
    /// Empty or whitespace-only input (e.g. a stream keep-alive).
    #[error("empty input")]
    Empty,
    /// Not valid JSON.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// Valid JSON but not an object.
    #[error("not a JSON object")]
    NotAnObject,
    /// An object whose field has the wrong type (e.g. `"id_str": 5`).
    #[error("wrong field type: {0}")]
    WrongType(String),
    /// A tweet-like object with a missing, null or empty id.
    #[error("missing tweet id")]
    MissingId,
    /// An object that is not a tweet (v2 `errors` message, v1.1 `delete` / `limit` notice, ...).
    #[error("not a tweet: {0}")]
    NotATweet(&'static str),
}

impl Tweet {
    /// Parses one v1.1 or v2 tweet JSON document. Never panics, whatever the bytes.
    pub fn parse(json: &[u8]) -> Result<Tweet, TweetError> {
        parse::parse(json)
    }

    /// Lowercase hex SHA-256 of `text`.
    pub fn text_hash(&self) -> String {
        hex::encode(Sha256::digest(self.text.as_bytes()))
    }
}
