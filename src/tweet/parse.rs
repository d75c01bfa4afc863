//! Turns the raw serde views into a [`Tweet`]: text choice, entity choice, v1.1 / v2 differences.

use super::raw::{DataField, RawEntities, RawIncludes, RawTweet, RawV2Data, Str};
use super::text::{clean_tweet_text, extract_hashtags, extract_mentions, extract_urls, strip_html};
use super::{Tweet, TweetError};
use chrono::{DateTime, Utc};

/// Parses one v1.1 or v2 tweet JSON document.
pub fn parse(json: &[u8]) -> Result<Tweet, TweetError> {
    let json = json.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(json);
    let Some(first) = json.iter().find(|b| !b.is_ascii_whitespace()) else {
        return Err(TweetError::Empty);
    };
    // serde's derived structs also accept arrays (fields by position): only objects are tweets.
    if *first != b'{' {
        return match serde_json::from_slice::<serde::de::IgnoredAny>(json) {
            Ok(_) => Err(TweetError::NotAnObject),
            Err(e) => Err(TweetError::InvalidJson(e.to_string())),
        };
    }
    let raw: RawTweet = serde_json::from_slice(json).map_err(|e| {
        let first = json.iter().find(|b| !b.is_ascii_whitespace());
        match e.classify() {
            serde_json::error::Category::Data if first != Some(&b'{') => TweetError::NotAnObject,
            serde_json::error::Category::Data => TweetError::WrongType(e.to_string()),
            _ => TweetError::InvalidJson(e.to_string()),
        }
    })?;
    match raw.data {
        Some(DataField::Object(ref data)) => from_v2(data, raw.includes.as_ref()),
        _ => from_v1(raw),
    }
}

fn s<'b>(v: &'b Option<Str>) -> Option<&'b str> {
    v.as_ref().map(|s| s.0.as_ref())
}

fn owned(v: &Option<Str>) -> Option<String> {
    s(v).map(str::to_owned)
}

/// v1.1 `"Sun Apr 05 10:46:44 +0000 2020"` or RFC 3339; unparsable dates give `None`.
fn parse_date(v: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(v, "%a %b %d %H:%M:%S %z %Y")
        .or_else(|_| DateTime::parse_from_rfc3339(v))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn list<T>(v: &Option<Vec<T>>) -> &[T] {
    v.as_deref().unwrap_or(&[])
}

/// Fills hashtags / mentions / urls / media from the chosen entities, or from the text if absent.
fn fill_entities(t: &mut Tweet, ents: Option<&RawEntities>, media: Option<&RawEntities>) {
    match ents {
        Some(e) => {
            t.hashtags = list(&e.hashtags)
                .iter()
                .filter_map(|h| owned(&h.tag).or_else(|| owned(&h.text)))
                .collect();
            t.mentions = list(&e.user_mentions)
                .iter()
                .chain(list(&e.mentions))
                .filter_map(|m| owned(&m.screen_name).or_else(|| owned(&m.username)))
                .collect();
            t.urls = list(&e.urls)
                .iter()
                .filter_map(|u| owned(&u.expanded_url).or_else(|| owned(&u.url)))
                .collect();
        }
        None => {
            t.hashtags = extract_hashtags(&t.text);
            t.mentions = extract_mentions(&t.text);
            t.urls = extract_urls(&t.text);
        }
    }
    let with_media = media.filter(|m| !list(&m.media).is_empty()).or(ents);
    if let Some(m) = with_media {
        t.media = list(&m.media)
            .iter()
            .filter_map(|m| owned(&m.media_url_https).or_else(|| owned(&m.media_url)))
            .collect();
    }
}

fn empty_tweet(id: String) -> Tweet {
    Tweet {
        id,
        created_at: None,
        author: None,
        source: None,
        text: String::new(),
        urls: Vec::new(),
        media: Vec::new(),
        hashtags: Vec::new(),
        mentions: Vec::new(),
        lang: None,
        is_retweet: false,
    }
}

fn from_v1(raw: RawTweet) -> Result<Tweet, TweetError> {
    let id_str = raw
        .id_str
        .as_ref()
        .and_then(|v| s(v))
        .filter(|v| !v.is_empty());
    let id = match (id_str, raw.id) {
        (Some(v), _) => v.to_owned(),
        (None, Some(n)) => n.to_string(),
        (None, None) => {
            let tweetish = raw.id_str.is_some()
                || raw.text.is_some()
                || raw.full_text.is_some()
                || raw.user.is_some()
                || raw.created_at.is_some();
            return Err(
                match (tweetish, raw.errors.is_some() || raw.data.is_some()) {
                    (true, _) => TweetError::MissingId,
                    (false, true) => TweetError::NotATweet("API error or non-tweet data message"),
                    (false, false) => TweetError::NotATweet("no tweet fields"),
                },
            );
        }
    };
    let mut t = empty_tweet(id);
    t.created_at = s(&raw.created_at).and_then(parse_date);
    t.author = raw.user.as_ref().and_then(|u| owned(&u.screen_name));
    t.source = s(&raw.source).map(strip_html);
    t.lang = owned(&raw.lang);
    t.is_retweet = raw.retweeted_status.is_some();

    let own_ext = raw
        .extended_tweet
        .as_ref()
        .filter(|e| e.full_text.is_some());
    let rt_ext = raw
        .retweeted_status
        .as_ref()
        .and_then(|r| r.extended_tweet.as_ref())
        .filter(|e| e.full_text.is_some());
    let (text, ents, ext_ents) = match own_ext.or(rt_ext) {
        Some(e) => (
            s(&e.full_text),
            e.entities.as_ref(),
            e.extended_entities.as_ref(),
        ),
        None => (
            s(&raw.full_text).or(s(&raw.text)),
            raw.entities.as_ref(),
            raw.extended_entities.as_ref(),
        ),
    };
    t.text = clean_tweet_text(text.unwrap_or(""));
    fill_entities(&mut t, ents, ext_ents);
    Ok(t)
}

fn from_v2(d: &RawV2Data, includes: Option<&RawIncludes>) -> Result<Tweet, TweetError> {
    let id = s(&d.id)
        .filter(|v| !v.is_empty())
        .ok_or(TweetError::MissingId)?;
    let mut t = empty_tweet(id.to_owned());
    t.created_at = s(&d.created_at).and_then(parse_date);
    let author_id = s(&d.author_id);
    let users = includes.map(|i| list(&i.users)).unwrap_or(&[]);
    t.author = author_id.map(|aid| {
        users
            .iter()
            .find(|u| s(&u.id) == Some(aid))
            .and_then(|u| s(&u.username))
            .unwrap_or(aid)
            .to_owned()
    });
    t.source = s(&d.source).map(strip_html);
    t.lang = owned(&d.lang);
    t.is_retweet = list(&d.referenced_tweets)
        .iter()
        .any(|r| s(&r.kind) == Some("retweeted"));

    let note = d.note_tweet.as_ref().filter(|n| n.text.is_some());
    let (text, ents) = match note {
        Some(n) => (s(&n.text), n.entities.as_ref()),
        None => (s(&d.text), d.entities.as_ref()),
    };
    t.text = clean_tweet_text(text.unwrap_or(""));
    fill_entities(&mut t, ents, None);

    let keys = d
        .attachments
        .as_ref()
        .map(|a| list(&a.media_keys))
        .unwrap_or(&[]);
    let media = includes.map(|i| list(&i.media)).unwrap_or(&[]);
    t.media.extend(keys.iter().filter_map(|k| {
        let m = media
            .iter()
            .find(|m| s(&m.media_key) == Some(k.0.as_ref()))?;
        owned(&m.url).or_else(|| owned(&m.preview_image_url))
    }));
    Ok(t)
}
