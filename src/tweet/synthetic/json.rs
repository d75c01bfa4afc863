//! The v1.1 JSON shapes written by the generator, and the text draft they are built from.

use serde::Serialize;
use std::borrow::Cow;

/// Longest plain `text`; longer drafts become `extended_tweet`s.
const MAX_TEXT: usize = 140;
/// Where a long tweet's `text` is cut (then "… " + link to the tweet).
const CUT_AT: usize = 113;

#[derive(Serialize)]
pub struct User {
    pub id: u64,
    pub id_str: String,
    pub name: String,
    pub screen_name: String,
    pub followers_count: u32,
    pub verified: bool,
}

pub struct Media {
    pub id: u64,
    pub url: String,
    pub media_url_https: String,
    pub expanded_url: String,
    pub indices: [usize; 2],
}

/// A tweet's full text plus its entities, indices in chars.
#[derive(Default)]
pub struct Draft {
    pub text: String,
    pub chars: usize,
    pub lang: &'static str,
    tags: Vec<(&'static str, [usize; 2])>,
    mentions: Vec<(usize, [usize; 2])>,
    urls: Vec<(String, String, [usize; 2])>,
    media: Vec<Media>,
}

impl Draft {
    pub fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.chars += s.chars().count();
    }
    pub fn hashtag(&mut self, tag: &'static str) {
        let start = self.chars;
        self.push("#");
        self.push(tag);
        self.tags.push((tag, [start, self.chars]));
    }
    pub fn mention(&mut self, user: usize, screen_name: &str) {
        let start = self.chars;
        self.push("@");
        self.push(screen_name);
        self.mentions.push((user, [start, self.chars]));
    }
    pub fn url(&mut self, url: String, expanded: String) {
        let start = self.chars;
        self.push(&url);
        self.urls.push((url, expanded, [start, self.chars]));
    }
    pub fn media(&mut self, mut m: Media) {
        let start = self.chars;
        self.push(&m.url);
        m.indices = [start, self.chars];
        self.media.push(m);
    }
}

#[derive(Serialize)]
pub struct JTweet<'a> {
    created_at: &'a str,
    id: u64,
    id_str: String,
    text: Cow<'a, str>,
    source: &'a str,
    truncated: bool,
    user: &'a User,
    #[serde(skip_serializing_if = "Option::is_none")]
    retweeted_status: Option<Box<JTweet<'a>>>,
    is_quote_status: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    extended_tweet: Option<JExtended<'a>>,
    entities: JEntities<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extended_entities: Option<JMediaList<'a>>,
    favorited: bool,
    retweeted: bool,
    filter_level: &'static str,
    lang: &'static str,
}

#[derive(Serialize)]
struct JExtended<'a> {
    full_text: &'a str,
    display_text_range: [usize; 2],
    entities: JEntities<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extended_entities: Option<JMediaList<'a>>,
}

#[derive(Serialize)]
struct JEntities<'a> {
    hashtags: Vec<JTag<'a>>,
    urls: Vec<JUrl<'a>>,
    user_mentions: Vec<JMention<'a>>,
    symbols: [u8; 0],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    media: Vec<JMedia<'a>>,
}

#[derive(Serialize)]
struct JTag<'a> {
    text: &'a str,
    indices: [usize; 2],
}

#[derive(Serialize)]
struct JUrl<'a> {
    url: &'a str,
    expanded_url: Cow<'a, str>,
    indices: [usize; 2],
}

#[derive(Serialize)]
struct JMention<'a> {
    screen_name: &'a str,
    name: &'a str,
    id: u64,
    id_str: &'a str,
    indices: [usize; 2],
}

#[derive(Serialize, Clone)]
struct JMedia<'a> {
    id: u64,
    indices: [usize; 2],
    media_url_https: &'a str,
    url: &'a str,
    expanded_url: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct JMediaList<'a> {
    media: Vec<JMedia<'a>>,
}

fn shifted(i: [usize; 2], shift: usize) -> [usize; 2] {
    [i[0] + shift, i[1] + shift]
}

fn byte_at(s: &str, chars: usize) -> usize {
    s.char_indices().nth(chars).map_or(s.len(), |(b, _)| b)
}

/// Serializes one tweet as a JSON line (no trailing newline).
pub fn to_vec(t: &JTweet) -> Vec<u8> {
    let mut buf = Vec::with_capacity(2048);
    // Invariant: plain structs with string keys; serialization into a Vec cannot fail.
    #[allow(clippy::expect_used)]
    serde_json::to_writer(&mut buf, t).expect("serializing a synthetic tweet cannot fail");
    buf
}

/// Borrowed context shared by the tweets of one `next_json` call.
pub struct Ctx<'a> {
    pub users: &'a [User],
    pub source: &'a str,
}

impl<'a> Ctx<'a> {
    fn mention(&self, user: usize, indices: [usize; 2]) -> JMention<'a> {
        let u = &self.users[user];
        JMention {
            screen_name: &u.screen_name,
            name: &u.name,
            id: u.id,
            id_str: &u.id_str,
            indices,
        }
    }

    /// The draft's entities ending at or before char `limit`, indices moved by `shift`.
    fn entities(&self, d: &'a Draft, shift: usize, limit: usize) -> JEntities<'a> {
        let fits = |i: &[usize; 2]| i[1] <= limit;
        JEntities {
            hashtags: (d.tags.iter().filter(|t| fits(&t.1)))
                .map(|t| JTag {
                    text: t.0,
                    indices: shifted(t.1, shift),
                })
                .collect(),
            urls: (d.urls.iter().filter(|u| fits(&u.2)))
                .map(|u| JUrl {
                    url: &u.0,
                    expanded_url: Cow::Borrowed(&u.1),
                    indices: shifted(u.2, shift),
                })
                .collect(),
            user_mentions: (d.mentions.iter().filter(|m| fits(&m.1)))
                .map(|m| self.mention(m.0, shifted(m.1, shift)))
                .collect(),
            symbols: [],
            media: (d.media.iter().filter(|m| fits(&m.indices)))
                .map(|m| JMedia {
                    id: m.id,
                    indices: shifted(m.indices, shift),
                    media_url_https: &m.media_url_https,
                    url: &m.url,
                    expanded_url: &m.expanded_url,
                    kind: "photo",
                })
                .collect(),
        }
    }

    fn base(
        &self,
        id: u64,
        created: &'a str,
        author: usize,
        text: Cow<'a, str>,
        ents: JEntities<'a>,
        lang: &'static str,
    ) -> JTweet<'a> {
        let extended_entities = (!ents.media.is_empty()).then(|| JMediaList {
            media: ents.media.clone(),
        });
        JTweet {
            created_at: created,
            id,
            id_str: id.to_string(),
            text,
            source: self.source,
            truncated: false,
            user: &self.users[author],
            retweeted_status: None,
            is_quote_status: false,
            extended_tweet: None,
            entities: ents,
            extended_entities,
            favorited: false,
            retweeted: false,
            filter_level: "low",
            lang,
        }
    }

    /// An original tweet; drafts over 140 chars get a cut `text` and an `extended_tweet`.
    pub fn tweet(
        &self,
        id: u64,
        created: &'a str,
        author: usize,
        d: &'a Draft,
        self_link: &'a str,
    ) -> JTweet<'a> {
        if d.chars <= MAX_TEXT {
            return self.base(
                id,
                created,
                author,
                Cow::Borrowed(&d.text),
                self.entities(d, 0, usize::MAX),
                d.lang,
            );
        }
        let head = &d.text[..byte_at(&d.text, CUT_AT)];
        let head = head.rfind(' ').map_or(head, |sp| &head[..sp]).trim_end();
        let head_chars = head.chars().count();
        let mut ents = self.entities(d, 0, head_chars);
        let link_at = head_chars + 2;
        ents.urls.push(JUrl {
            url: self_link,
            expanded_url: Cow::Owned(format!("https://twitter.com/i/web/status/{id}")),
            indices: [link_at, link_at + self_link.chars().count()],
        });
        let text = Cow::Owned(format!("{head}… {self_link}"));
        let mut t = self.base(id, created, author, text, ents, d.lang);
        let full = self.entities(d, 0, usize::MAX);
        let extended_entities = (!full.media.is_empty()).then(|| JMediaList {
            media: full.media.clone(),
        });
        t.truncated = true;
        t.extended_tweet = Some(JExtended {
            full_text: &d.text,
            display_text_range: [0, d.chars],
            entities: full,
            extended_entities,
        });
        t
    }

    /// A retweet by `author` of `orig` (whose draft is `d`, written by `orig_author`).
    pub fn retweet(
        &self,
        id: u64,
        created: &'a str,
        author: usize,
        orig_author: usize,
        d: &'a Draft,
        orig: JTweet<'a>,
    ) -> JTweet<'a> {
        let screen = &self.users[orig_author].screen_name;
        let prefix = format!("RT @{screen}: ");
        let p = prefix.chars().count();
        let (text, limit) = if p + d.chars <= MAX_TEXT {
            (prefix + &d.text, usize::MAX)
        } else {
            let limit = MAX_TEXT - 1 - p;
            (prefix + &d.text[..byte_at(&d.text, limit)] + "…", limit)
        };
        let mut ents = self.entities(d, p, limit);
        ents.user_mentions.insert(
            0,
            self.mention(orig_author, [3, 4 + screen.chars().count()]),
        );
        let mut t = self.base(id, created, author, Cow::Owned(text), ents, d.lang);
        t.retweeted_status = Some(Box::new(orig));
        t
    }
}
