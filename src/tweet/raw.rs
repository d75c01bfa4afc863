//! Borrowing serde views of the v1.1 and v2 tweet JSON: only the fields we read are named,
//! everything else is skipped by serde without being materialised.

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// A JSON string, borrowed from the input when it holds no escapes.
#[derive(Debug, Default, Clone)]
pub struct Str<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(PhantomData))
    }
}

/// `Some(inner)` whenever the key is present, so `"id_str": null` differs from a missing key.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Top level: v1.1 tweet fields plus the v2 envelope (`data`, `includes`, `errors`).
#[derive(Deserialize, Default)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct RawTweet<'a> {
    #[serde(default, deserialize_with = "present")]
    pub id_str: Option<Option<Str<'a>>>,
    pub id: Option<u64>,
    pub created_at: Option<Str<'a>>,
    pub text: Option<Str<'a>>,
    pub full_text: Option<Str<'a>>,
    pub source: Option<Str<'a>>,
    pub lang: Option<Str<'a>>,
    pub user: Option<RawUser<'a>>,
    pub entities: Option<RawEntities<'a>>,
    pub extended_entities: Option<RawEntities<'a>>,
    pub extended_tweet: Option<RawExtended<'a>>,
    pub retweeted_status: Option<Box<RawRetweeted<'a>>>,
    pub data: Option<DataField<'a>>,
    pub includes: Option<RawIncludes<'a>>,
    pub errors: Option<IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct RawUser<'a> {
    pub screen_name: Option<Str<'a>>,
}

/// `extended_tweet` (v1.1) or `note_tweet` (v2, which names its text `text`).
#[derive(Deserialize, Default)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct RawExtended<'a> {
    pub full_text: Option<Str<'a>>,
    pub text: Option<Str<'a>>,
    pub entities: Option<RawEntities<'a>>,
    pub extended_entities: Option<RawEntities<'a>>,
}

/// The retweeted tweet: only its extended text matters to us.
#[derive(Deserialize, Default)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct RawRetweeted<'a> {
    pub extended_tweet: Option<RawExtended<'a>>,
}

/// v1.1 and v2 entities (v1.1 `hashtags[].text` / `user_mentions`, v2 `hashtags[].tag` / `mentions`).
#[derive(Deserialize, Default)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct RawEntities<'a> {
    pub hashtags: Option<Vec<RawTag<'a>>>,
    pub user_mentions: Option<Vec<RawMention<'a>>>,
    pub mentions: Option<Vec<RawMention<'a>>>,
    pub urls: Option<Vec<RawUrl<'a>>>,
    pub media: Option<Vec<RawMedia<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct RawTag<'a> {
    pub text: Option<Str<'a>>,
    pub tag: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct RawMention<'a> {
    pub screen_name: Option<Str<'a>>,
    pub username: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct RawUrl<'a> {
    pub expanded_url: Option<Str<'a>>,
    pub url: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct RawMedia<'a> {
    pub media_url_https: Option<Str<'a>>,
    pub media_url: Option<Str<'a>>,
}

/// v2 `data`: a tweet when it is an object, anything else (e.g. a lookup array) is `Other`.
pub enum DataField<'a> {
    Object(Box<RawV2Data<'a>>),
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for DataField<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = DataField<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let data = RawV2Data::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(DataField::Object(Box::new(data)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(DataField::Other)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(DataField::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(DataField::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(DataField::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(DataField::Other)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(DataField::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(DataField::Other)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

#[derive(Deserialize, Default)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct RawV2Data<'a> {
    pub id: Option<Str<'a>>,
    pub text: Option<Str<'a>>,
    pub created_at: Option<Str<'a>>,
    pub author_id: Option<Str<'a>>,
    pub source: Option<Str<'a>>,
    pub lang: Option<Str<'a>>,
    pub entities: Option<RawEntities<'a>>,
    pub note_tweet: Option<RawExtended<'a>>,
    pub referenced_tweets: Option<Vec<RawRef<'a>>>,
    pub attachments: Option<RawAttachments<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct RawRef<'a> {
    #[serde(rename = "type")]
    pub kind: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct RawAttachments<'a> {
    pub media_keys: Option<Vec<Str<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct RawIncludes<'a> {
    pub users: Option<Vec<RawV2User<'a>>>,
    pub media: Option<Vec<RawV2Media<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct RawV2User<'a> {
    pub id: Option<Str<'a>>,
    pub username: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct RawV2Media<'a> {
    pub media_key: Option<Str<'a>>,
    pub url: Option<Str<'a>>,
    pub preview_image_url: Option<Str<'a>>,
}
