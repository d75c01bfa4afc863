//! A named entity: its text, label and where it sits in the tweet.
//!
//! Offsets count Unicode code points (as Python and spaCy do), `end` exclusive, so a span
//! found by spaCy and one found by the built-in tagger compare equal for the same text.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entity {
    pub text: String,
    pub label: String,
    /// Code-point offset of the first character; `None` when the backend gave no offset and
    /// the text could not be found in the tweet (seed API).
    pub start: Option<u32>,
    /// Code-point offset one past the last character.
    pub end: Option<u32>,
}

impl Entity {
    pub fn new(text: impl Into<String>, label: impl Into<String>, start: u32, end: u32) -> Self {
        Entity {
            text: text.into(),
            label: label.into(),
            start: Some(start),
            end: Some(end),
        }
    }

    /// An entity without a known position.
    pub fn unplaced(text: impl Into<String>, label: impl Into<String>) -> Self {
        Entity {
            text: text.into(),
            label: label.into(),
            start: None,
            end: None,
        }
    }
}

/// Orders entities by position (unplaced ones last, then by label and text).
pub fn sort_entities(entities: &mut [Entity]) {
    entities.sort_by(|a, b| {
        (a.start.is_none(), a.start, a.end, &a.label, &a.text).cmp(&(
            b.start.is_none(),
            b.start,
            b.end,
            &b.label,
            &b.text,
        ))
    });
}

/// Code-point offset of byte offset `byte` in `text` (which must be a char boundary).
pub fn char_offset(text: &str, byte: usize) -> u32 {
    text[..byte].chars().count() as u32
}

/// Places an entity text in `tweet` for the seed API, whose answer carries no offsets: the
/// *last* occurrence, since the seed's service keeps the last entity of each label. `None`
/// when the text does not occur at all.
pub fn locate(tweet: &str, entity_text: &str) -> Option<(u32, u32)> {
    if entity_text.is_empty() {
        return None;
    }
    let byte = tweet.rfind(entity_text)?;
    let start = char_offset(tweet, byte);
    Some((start, start + entity_text.chars().count() as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_counts_code_points_and_takes_the_last_occurrence() {
        assert_eq!(
            locate("Ram read a book on Friday", "Friday"),
            Some((19, 25))
        );
        assert_eq!(locate("café Paris and Paris", "Paris"), Some((15, 20)));
        assert_eq!(locate("naïve Zoë met Zoë", "Zoë"), Some((14, 17)));
        assert_eq!(locate("nothing here", "Friday"), None);
        assert_eq!(locate("x", ""), None);
    }

    #[test]
    fn sorting_puts_unplaced_last() {
        let mut v = vec![
            Entity::unplaced("b", "X"),
            Entity::new("a", "Y", 5, 6),
            Entity::new("c", "Z", 1, 2),
        ];
        sort_entities(&mut v);
        assert_eq!(v[0].text, "c");
        assert_eq!(v[1].text, "a");
        assert_eq!(v[2].text, "b");
    }
}
