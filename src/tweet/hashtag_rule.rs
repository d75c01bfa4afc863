//! Which words of a tweet count as hashtags, and how they are grouped.
//!
//! * [`HashtagRule::Twitter`] (default): the bronze `hashtags` column, i.e. the tweet's own
//!   entities, else Twitter's rule on the text (`#` not glued to a word, then letters, digits,
//!   marks or `_` with at least one letter). Stored with a leading `#`: `#AI`.
//! * [`HashtagRule::Seed`]: the original playground's rule, for comparison: every
//!   whitespace-separated word of the text that contains a `#`, verbatim (`dissent.#Mango`,
//!   `#AI,`), and a tweet without any counts once as `no tags` (kept in the table, left out
//!   of the top lists, as the playground's dashboard did).
//!
//! Both rules group case-insensitively: the key is the lower-cased form, the display form is
//! the most frequent spelling (ties: the smallest in byte order).

use std::borrow::Cow;
use std::fmt;

/// The playground's row for tweets without any hashtag (seed rule only).
pub const NO_TAGS: &str = "no tags";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashtagRule {
    Twitter,
    Seed,
}

impl HashtagRule {
    pub fn name(self) -> &'static str {
        match self {
            HashtagRule::Twitter => "twitter",
            HashtagRule::Seed => "seed",
        }
    }

    /// The stored form of a tag as produced by the rule (`AI` -> `#AI` for Twitter's rule).
    pub fn stored(self, tag: &str) -> String {
        match self {
            HashtagRule::Twitter => format!("#{tag}"),
            HashtagRule::Seed => tag.to_string(),
        }
    }

    /// Calls `f` once per hashtag occurrence of one tweet (seed rule: `no tags` when none).
    /// `hashtags` is the tweet's hashtag list (Twitter rule); `text` its text (seed rule).
    #[inline]
    pub fn for_each_tag<'a, I>(self, hashtags: I, text: &'a str, mut f: impl FnMut(&'a str))
    where
        I: IntoIterator<Item = &'a str>,
    {
        match self {
            HashtagRule::Twitter => hashtags.into_iter().for_each(f),
            HashtagRule::Seed => {
                let mut any = false;
                for w in text.split_whitespace().filter(|w| w.contains('#')) {
                    any = true;
                    f(w);
                }
                if !any {
                    f(NO_TAGS);
                }
            }
        }
    }
}

impl fmt::Display for HashtagRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The grouping key: the lower-cased tag (borrowed when it already is).
#[inline]
pub fn tag_key(tag: &str) -> Cow<'_, str> {
    let b = tag.as_bytes();
    if b.is_ascii() {
        if b.iter().any(u8::is_ascii_uppercase) {
            Cow::Owned(tag.to_ascii_lowercase())
        } else {
            Cow::Borrowed(tag)
        }
    } else if tag.chars().any(changes_case) {
        Cow::Owned(tag.to_lowercase())
    } else {
        Cow::Borrowed(tag)
    }
}

/// True when lower-casing `c` gives anything but `c` itself (upper and title case letters).
#[inline]
fn changes_case(c: char) -> bool {
    let mut l = c.to_lowercase();
    !(l.next() == Some(c) && l.next().is_none())
}

/// Picks the display form from spelling counts: most frequent, then smallest in byte order.
pub fn display_form<'a>(spellings: impl IntoIterator<Item = (&'a str, u64)>) -> Option<&'a str> {
    spellings
        .into_iter()
        .max_by(|(a, ca), (b, cb)| ca.cmp(cb).then_with(|| b.as_bytes().cmp(a.as_bytes())))
        .map(|(s, _)| s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(rule: HashtagRule, hashtags: &[&str], text: &str) -> Vec<String> {
        let mut out = Vec::new();
        rule.for_each_tag(hashtags.iter().copied(), text, |t| out.push(t.to_string()));
        out
    }

    #[test]
    fn rules() {
        assert_eq!(
            tags(HashtagRule::Twitter, &["AI", "ai"], "whatever #x"),
            ["AI", "ai"]
        );
        assert!(tags(HashtagRule::Twitter, &[], "no tags here").is_empty());
        assert_eq!(
            tags(
                HashtagRule::Seed,
                &["MangoMussolini"],
                "dissent.#MangoMussolini is #AI, ok"
            ),
            ["dissent.#MangoMussolini", "#AI,"]
        );
        assert_eq!(tags(HashtagRule::Seed, &["x"], "plain words"), [NO_TAGS]);
        assert_eq!(HashtagRule::Twitter.stored("AI"), "#AI");
        assert_eq!(HashtagRule::Seed.stored("#AI,"), "#AI,");
    }

    #[test]
    fn keys_and_display() {
        assert_eq!(tag_key("rust"), "rust");
        assert!(matches!(tag_key("rust"), Cow::Borrowed(_)));
        assert_eq!(tag_key("RuSt"), "rust");
        assert_eq!(tag_key("CAFÉ"), "café");
        assert!(matches!(tag_key("日本語"), Cow::Borrowed(_)));
        assert_eq!(tag_key("ǅemal"), "ǆemal");
        assert_eq!(display_form([("ai", 2), ("AI", 3), ("Ai", 3)]), Some("AI"));
        assert_eq!(display_form([("b", 1), ("a", 1)]), Some("a"));
        assert_eq!(display_form(std::iter::empty()), None);
    }
}
