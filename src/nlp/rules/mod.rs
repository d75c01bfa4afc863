//! The built-in NER fallback: rules and a small gazetteer, no model. Used when `[ner] url` is
//! empty, and always labelled "rules" so nobody mistakes it for spaCy.
//!
//! What it finds (labels follow spaCy's where one fits):
//! - `URL` (`http://`, `https://`, `www.`), `MENTION` (`@name`), `HASHTAG` (`#tag`);
//! - `DATE`: `20/11/2019`, `2019-11-20`, weekday and month names (`Friday`, `November 20, 2019`,
//!   `Nov 2019`, `20 November`), `today` / `tomorrow` / `yesterday`, `this|next|last week...`,
//!   years 1900-2099 standing alone;
//! - `TIME`: `10:30`, `10:30pm`, `5 pm`, `tonight`, `noon`, `midnight`;
//! - `MONEY` (`$20`, `€1.5m`, `20 dollars`), `PERCENT` (`12%`, `12 percent`), `ORDINAL`
//!   (`3rd`, `first`), `CARDINAL` (`1,000`, `3.5`, `3 million`, `two`);
//! - capitalised sequences that match the gazetteer (`assets/gazetteer.tsv`, plus an optional
//!   file of the same form): `ORG`, `PRODUCT`, `GPE`, `LOC`, `NORP`, `PERSON`...
//!
//! Spans never overlap; offsets are code points (see [`Entity`]).

use std::collections::HashMap;
use std::path::Path;

use super::entity::Entity;

mod lexicon;
mod numbers;
#[cfg(test)]
mod tests;
mod words;

use lexicon::{CURRENCY_SYMBOLS, URL_TRAILING};
use numbers::{magnitude_end, number_end};

/// The shipped gazetteer (`name<TAB>LABEL` per line).
pub const BUILTIN_GAZETTEER: &str = include_str!("../../../assets/gazetteer.tsv");

/// A rule- and gazetteer-based tagger; cheap to share (`&self` only).
#[derive(Debug, Clone)]
pub struct RuleTagger {
    /// Lower-cased name -> (name as listed, label).
    gazetteer: HashMap<String, (String, String)>,
    /// Most words in one gazetteer name.
    max_words: usize,
}

impl Default for RuleTagger {
    fn default() -> Self {
        Self::builtin()
    }
}

impl RuleTagger {
    /// The tagger with the shipped gazetteer.
    pub fn builtin() -> RuleTagger {
        let mut t = RuleTagger {
            gazetteer: HashMap::new(),
            max_words: 1,
        };
        t.add_gazetteer(BUILTIN_GAZETTEER);
        t
    }

    /// The shipped gazetteer plus the entries of `path` (same format).
    pub fn with_extra(path: &Path) -> std::io::Result<RuleTagger> {
        let extra = std::fs::read_to_string(path)?;
        let mut t = Self::builtin();
        t.add_gazetteer(&extra);
        Ok(t)
    }

    /// Adds `name<TAB>LABEL` lines (blank lines and `#` comments skipped; a later entry for
    /// the same name wins).
    pub fn add_gazetteer(&mut self, tsv: &str) {
        for line in tsv.lines() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, label)) = line.split_once('\t') else {
                continue;
            };
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            let label = label.trim();
            if name.is_empty() || label.is_empty() {
                continue;
            }
            self.max_words = self.max_words.max(name.split(' ').count());
            self.gazetteer
                .insert(name.to_lowercase(), (name, label.to_string()));
        }
    }

    pub fn gazetteer_len(&self) -> usize {
        self.gazetteer.len()
    }

    /// The entities of `text`, in order, without overlaps.
    pub fn tag(&self, text: &str) -> Vec<Entity> {
        let chars: Vec<char> = text.chars().collect();
        let mut s = Scan {
            c: &chars,
            out: Vec::new(),
        };
        let mut i = 0;
        while i < chars.len() {
            let boundary = i == 0 || !is_word(chars[i - 1]);
            let next = if boundary { self.at(&mut s, i) } else { None };
            i = next.unwrap_or(i + 1);
        }
        s.out
    }

    /// Tries every rule at a word boundary `i`; returns where scanning resumes on a match.
    fn at(&self, s: &mut Scan, i: usize) -> Option<usize> {
        let c = s.c[i];
        if c == 'h' || c == 'w' || c == 'H' || c == 'W' {
            if let Some(end) = url_end(s.c, i) {
                return Some(s.push(i, end, "URL"));
            }
        }
        if c == '@' {
            let end = take_while(s.c, i + 1, |c| c.is_ascii_alphanumeric() || c == '_');
            if end > i + 1 {
                return Some(s.push(i, end, "MENTION"));
            }
            return None;
        }
        if c == '#' {
            let end = take_while(s.c, i + 1, is_word);
            if end > i + 1 && s.c[i + 1..end].iter().any(|c| c.is_alphabetic()) {
                return Some(s.push(i, end, "HASHTAG"));
            }
            return Some(end); // `#123` is no hashtag, and no number either
        }
        if CURRENCY_SYMBOLS.contains(&c) {
            if let Some(end) = number_end(s.c, skip_spaces(s.c, i + 1, 1)) {
                let end = magnitude_end(s.c, end).unwrap_or(end);
                return Some(s.push(i, end, "MONEY"));
            }
            return None;
        }
        if c.is_ascii_digit() {
            return self.numeric(s, i);
        }
        if c.is_alphabetic() {
            return self.word(s, i);
        }
        None
    }
}

struct Scan<'a> {
    c: &'a [char],
    out: Vec<Entity>,
}

impl Scan<'_> {
    fn push(&mut self, start: usize, end: usize, label: &str) -> usize {
        let text: String = self.c[start..end].iter().collect();
        self.out
            .push(Entity::new(text, label, start as u32, end as u32));
        end
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn boundary_after(c: &[char], i: usize) -> bool {
    i >= c.len() || !is_word(c[i])
}

fn take_while(c: &[char], mut i: usize, f: impl Fn(char) -> bool) -> usize {
    while i < c.len() && f(c[i]) {
        i += 1;
    }
    i
}

/// Skips up to `max` spaces.
fn skip_spaces(c: &[char], mut i: usize, max: usize) -> usize {
    let start = i;
    while i < c.len() && c[i] == ' ' && i - start < max {
        i += 1;
    }
    i
}

/// The alphabetic word at `i` (letters, then an optional `.` for abbreviations like `Nov.`).
fn word_at(c: &[char], i: usize) -> Option<String> {
    if i >= c.len() || !c[i].is_alphabetic() {
        return None;
    }
    let end = take_while(c, i, char::is_alphabetic);
    Some(c[i..end].iter().collect())
}

fn url_end(c: &[char], i: usize) -> Option<usize> {
    let starts = |p: &str| {
        let n = p.chars().count();
        i + n <= c.len()
            && c[i..i + n]
                .iter()
                .zip(p.chars())
                .all(|(a, b)| a.to_ascii_lowercase() == b)
    };
    let prefix = if starts("https://") {
        8
    } else if starts("http://") {
        7
    } else if starts("www.") {
        4
    } else {
        return None;
    };
    let mut end = take_while(c, i + prefix, |c| !c.is_whitespace());
    while end > i + prefix && URL_TRAILING.contains(&c[end - 1]) {
        end -= 1;
    }
    (end > i + prefix).then_some(end)
}
