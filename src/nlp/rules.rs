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

/// The shipped gazetteer (`name<TAB>LABEL` per line).
pub const BUILTIN_GAZETTEER: &str = include_str!("../../assets/gazetteer.tsv");

const WEEKDAYS: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
/// Abbreviations, only taken next to a number (`Nov 20`, `20 Nov 2019`).
const MONTH_ABBREVIATIONS: &[&str] = &[
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
];
/// Month names that are also ordinary words: only taken next to a number.
const AMBIGUOUS_MONTHS: &[&str] = &["may", "march"];
const RELATIVE_DAYS: &[&str] = &["today", "tomorrow", "yesterday"];
const TIME_WORDS: &[&str] = &["tonight", "noon", "midnight"];
const PERIOD_WORDS: &[&str] = &["week", "month", "year", "weekend", "decade", "century"];
const PERIOD_LEADS: &[&str] = &["this", "next", "last"];
const NUMBER_WORDS: &[&str] = &[
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "hundred",
    "thousand",
    "million",
    "billion",
    "dozen",
    "dozens",
    "hundreds",
    "thousands",
    "millions",
    "billions",
];
const ORDINAL_WORDS: &[&str] = &[
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
];
const MAGNITUDES: &[&str] = &[
    "hundred", "thousand", "million", "billion", "trillion", "k", "m", "bn", "mn", "b",
];
const CURRENCY_WORDS: &[&str] = &[
    "dollars", "dollar", "usd", "eur", "euros", "euro", "gbp", "pounds", "inr", "rupees", "rupee",
    "yen", "bucks", "btc",
];
const CURRENCY_SYMBOLS: &[char] = &['$', '€', '£', '¥', '₹'];
/// Trailing characters never part of a URL.
const URL_TRAILING: &[char] = &['.', ',', ';', ':', '!', '?', ')', ']', '"', '\'', '…'];

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

    /// Dates, times, money, percentages, ordinals and cardinals starting with a digit.
    fn numeric(&self, s: &mut Scan, i: usize) -> Option<usize> {
        let c = s.c;
        if let Some(end) = numeric_date_end(c, i) {
            return Some(s.push(i, end, "DATE"));
        }
        if let Some(end) = clock_end(c, i) {
            return Some(s.push(i, end, "TIME"));
        }
        let end = number_end(c, i)?;
        // `20 November 2019`, `20 Nov`.
        if let Some(end) = day_month_end(c, i, end) {
            return Some(s.push(i, end, "DATE"));
        }
        let digits = end - i;
        if end < c.len() && c[end] == '%' {
            return Some(s.push(i, end + 1, "PERCENT"));
        }
        // Ordinals: 3rd, 21st.
        if let Some(sfx) = word_at(c, end) {
            let lower = sfx.to_lowercase();
            if ["st", "nd", "rd", "th"].contains(&lower.as_str()) {
                let e = end + sfx.chars().count();
                if boundary_after(c, e) {
                    return Some(s.push(i, e, "ORDINAL"));
                }
            }
            if lower == "am" || lower == "pm" {
                let e = end + 2;
                if boundary_after(c, e) && digits <= 2 {
                    return Some(s.push(i, e, "TIME"));
                }
            }
        }
        if let Some(e) = magnitude_end(c, end) {
            // `3 million dollars`, `20k`.
            let after = skip_spaces(c, e, 1);
            if let Some(w) = word_at(c, after) {
                let we = after + w.chars().count();
                if CURRENCY_WORDS.contains(&w.to_lowercase().as_str()) && boundary_after(c, we) {
                    return Some(s.push(i, we, "MONEY"));
                }
            }
            return Some(s.push(i, e, "CARDINAL"));
        }
        if !boundary_after(c, end) {
            // `4G`, `mp3`, `10x`...: not a number on its own.
            return Some(take_while(c, end, is_word));
        }
        let after = skip_spaces(c, end, 1);
        if let Some(w) = word_at(c, after) {
            let lower = w.to_lowercase();
            let e = after + w.chars().count();
            if lower == "percent" && boundary_after(c, e) {
                return Some(s.push(i, e, "PERCENT"));
            }
            if (lower == "am" || lower == "pm") && digits <= 2 && boundary_after(c, e) {
                return Some(s.push(i, e, "TIME"));
            }
            if CURRENCY_WORDS.contains(&lower.as_str()) && boundary_after(c, e) {
                return Some(s.push(i, e, "MONEY"));
            }
        }
        let plain = c[i..end].iter().all(|c| c.is_ascii_digit());
        if plain && digits == 4 && matches!(&c[i..i + 2], ['1', '9'] | ['2', '0']) {
            return Some(s.push(i, end, "DATE"));
        }
        Some(s.push(i, end, "CARDINAL"))
    }

    /// Date words, number words and gazetteer names starting with a letter.
    fn word(&self, s: &mut Scan, i: usize) -> Option<usize> {
        let c = s.c;
        let w = word_at(c, i)?;
        let wend = i + w.chars().count();
        let lower = w.to_lowercase();
        let l = lower.as_str();
        if !boundary_after(c, wend) {
            return Some(wend);
        }
        if WEEKDAYS.contains(&l) {
            return Some(s.push(i, wend, "DATE"));
        }
        let full_month = MONTHS.contains(&l);
        let abbrev = MONTH_ABBREVIATIONS.contains(&l)
            || (l.len() == 4 && l.ends_with('.') && MONTH_ABBREVIATIONS.contains(&&l[..3]));
        if full_month || abbrev {
            // `November 20, 2019`, `Nov 20`, `November 2019`.
            let mut end = None;
            let after = skip_spaces(c, wend, 1);
            if let Some(n) = number_end(c, after) {
                let digits = n - after;
                if c[after..n].iter().all(|c| c.is_ascii_digit()) && (1..=4).contains(&digits) {
                    let mut e = n;
                    // `20th`
                    if let Some(sfx) = word_at(c, e) {
                        if ["st", "nd", "rd", "th"].contains(&sfx.to_lowercase().as_str()) {
                            e += sfx.chars().count();
                        }
                    }
                    if boundary_after(c, e) {
                        end = Some(e);
                        if digits <= 2 {
                            // `, 2019` or ` 2019`
                            let mut j = e;
                            if j < c.len() && c[j] == ',' {
                                j += 1;
                            }
                            let y = skip_spaces(c, j, 1);
                            if let Some(ye) = number_end(c, y) {
                                if ye - y == 4
                                    && c[y..ye].iter().all(|c| c.is_ascii_digit())
                                    && boundary_after(c, ye)
                                {
                                    end = Some(ye);
                                }
                            }
                        }
                    }
                }
            }
            match end {
                Some(e) => return Some(s.push(i, e, "DATE")),
                None if full_month
                    && !AMBIGUOUS_MONTHS.contains(&l)
                    && w.starts_with(char::is_uppercase) =>
                {
                    return Some(s.push(i, wend, "DATE"))
                }
                None => {}
            }
        }
        if RELATIVE_DAYS.contains(&l) {
            return Some(s.push(i, wend, "DATE"));
        }
        if TIME_WORDS.contains(&l) {
            return Some(s.push(i, wend, "TIME"));
        }
        if PERIOD_LEADS.contains(&l) {
            let after = skip_spaces(c, wend, 1);
            if let Some(p) = word_at(c, after) {
                let pe = after + p.chars().count();
                if PERIOD_WORDS.contains(&p.to_lowercase().as_str()) && boundary_after(c, pe) {
                    return Some(s.push(i, pe, "DATE"));
                }
            }
        }
        if w.starts_with(char::is_uppercase) {
            if let Some((end, label)) = self.gazetteer_match(c, i) {
                return Some(s.push(i, end, &label));
            }
        }
        if NUMBER_WORDS.contains(&l) {
            let end = magnitude_end(c, wend).unwrap_or(wend);
            return Some(s.push(i, end, "CARDINAL"));
        }
        if ORDINAL_WORDS.contains(&l) {
            return Some(s.push(i, wend, "ORDINAL"));
        }
        Some(wend)
    }

    /// The longest gazetteer name starting at `i` (words separated by single spaces).
    fn gazetteer_match(&self, c: &[char], i: usize) -> Option<(usize, String)> {
        // Word ends of up to `max_words` words joined by one space each.
        let mut ends = Vec::new();
        let mut pos = i;
        while ends.len() < self.max_words {
            let Some(w) = gazetteer_word_at(c, pos) else {
                break;
            };
            let e = pos + w;
            ends.push(e);
            if e + 1 < c.len() && c[e] == ' ' && is_word(c[e + 1]) {
                pos = e + 1;
            } else {
                break;
            }
        }
        for &end in ends.iter().rev() {
            if !boundary_after(c, end) {
                continue;
            }
            let span: String = c[i..end].iter().collect();
            let Some((name, label)) = self.gazetteer.get(&span.to_lowercase()) else {
                continue;
            };
            // Exact spelling, or the name shouted in capitals (`GOOGLE`; four letters or
            // more, so `US` in a shouted sentence is no country).
            let shouted = span.chars().filter(|c| c.is_alphabetic()).count() >= 4
                && !span.chars().any(char::is_lowercase)
                && name.chars().any(char::is_lowercase);
            if *name == span || shouted {
                return Some((end, label.clone()));
            }
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

/// Length of a gazetteer word at `i`: letters and digits with inner `-`, `.`, `&`, `'`
/// (`Fei-Fei`, `U.S.`, `GPT-4`, `AT&T`).
fn gazetteer_word_at(c: &[char], i: usize) -> Option<usize> {
    if i >= c.len() || !is_word(c[i]) {
        return None;
    }
    let mut j = i;
    loop {
        j = take_while(c, j, is_word);
        if j + 1 < c.len() && matches!(c[j], '-' | '.' | '&' | '\'') && is_word(c[j + 1]) {
            j += 1;
            continue;
        }
        // A final `.` of an abbreviation (`U.S.`) when letters and dots alternate.
        if j < c.len() && c[j] == '.' && j >= i + 2 && c[j - 2] == '.' {
            j += 1;
        }
        return Some(j - i);
    }
}

/// A number at `i`: digits with `,` thousands groups and one `.` decimal part.
fn number_end(c: &[char], i: usize) -> Option<usize> {
    if i >= c.len() || !c[i].is_ascii_digit() {
        return None;
    }
    let mut j = take_while(c, i, |c| c.is_ascii_digit());
    // 1,000,000
    while j + 4 <= c.len()
        && c[j] == ','
        && c[j + 1..j + 4].iter().all(|c| c.is_ascii_digit())
        && (j + 4 == c.len() || !c[j + 4].is_ascii_digit())
    {
        j += 4;
    }
    if j + 1 < c.len() && c[j] == '.' && c[j + 1].is_ascii_digit() {
        j = take_while(c, j + 1, |c| c.is_ascii_digit());
    }
    Some(j)
}

/// `3 million`, `1.5m`, `20k`: the end of a magnitude word after a number ending at `end`.
fn magnitude_end(c: &[char], end: usize) -> Option<usize> {
    for gap in [0usize, 1] {
        let at = if gap == 0 {
            end
        } else {
            skip_spaces(c, end, 1)
        };
        if gap == 1 && at == end {
            continue;
        }
        if let Some(w) = word_at(c, at) {
            let lower = w.to_lowercase();
            let e = at + w.chars().count();
            // One-letter magnitudes (`k`, `m`, `b`) only glued to the number.
            let short = lower.chars().count() <= 2;
            if MAGNITUDES.contains(&lower.as_str()) && boundary_after(c, e) && !(short && gap == 1)
            {
                return Some(e);
            }
        }
    }
    None
}

fn digits_run(c: &[char], i: usize) -> usize {
    take_while(c, i, |c| c.is_ascii_digit()) - i
}

/// `20/11/2019`, `20-11-2019`, `20.11.2019`, `2019-11-20`, `11/20`.
fn numeric_date_end(c: &[char], i: usize) -> Option<usize> {
    let a = digits_run(c, i);
    let sep_at = i + a;
    if sep_at >= c.len() || !matches!(c[sep_at], '/' | '-' | '.') {
        return None;
    }
    let sep = c[sep_at];
    let b_at = sep_at + 1;
    let b = digits_run(c, b_at);
    if !(1..=2).contains(&b) {
        return None;
    }
    let sep2_at = b_at + b;
    let third = if sep2_at < c.len() && c[sep2_at] == sep {
        let d = digits_run(c, sep2_at + 1);
        (d > 0).then_some((sep2_at + 1, d))
    } else {
        None
    };
    match (a, third) {
        // yyyy-mm-dd
        (4, Some((d_at, 2))) if sep == '-' => {
            let end = d_at + 2;
            boundary_after(c, end).then_some(end)
        }
        // dd/mm/yyyy, mm/dd/yy
        (1..=2, Some((y_at, 2 | 4))) => {
            let end = y_at + digits_run(c, y_at);
            boundary_after(c, end).then_some(end)
        }
        // dd/mm (slashes only: `3-2` is a score, `3.5` a number)
        (1..=2, None) if sep == '/' => {
            let end = sep2_at;
            (boundary_after(c, end) && (end >= c.len() || c[end] != '/')).then_some(end)
        }
        _ => None,
    }
}

/// `10:30`, `10:30:15`, `10:30pm`, `10:30 PM`.
fn clock_end(c: &[char], i: usize) -> Option<usize> {
    let h = digits_run(c, i);
    if !(1..=2).contains(&h) || i + h >= c.len() || c[i + h] != ':' {
        return None;
    }
    let m_at = i + h + 1;
    if digits_run(c, m_at) != 2 {
        return None;
    }
    let mut end = m_at + 2;
    if end < c.len() && c[end] == ':' && digits_run(c, end + 1) == 2 {
        end += 3;
    }
    let ampm_at = skip_spaces(c, end, 1);
    if let Some(w) = word_at(c, ampm_at) {
        let lower = w.to_lowercase();
        if (lower == "am" || lower == "pm") && boundary_after(c, ampm_at + 2) {
            return Some(ampm_at + 2);
        }
    }
    boundary_after(c, end).then_some(end)
}

/// `20 November 2019`, `20th Nov`: a day number ending at `num_end` followed by a month.
fn day_month_end(c: &[char], i: usize, num_end: usize) -> Option<usize> {
    let digits = num_end - i;
    if !(1..=2).contains(&digits) || !c[i..num_end].iter().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut j = num_end;
    if let Some(sfx) = word_at(c, j) {
        if ["st", "nd", "rd", "th"].contains(&sfx.to_lowercase().as_str()) {
            j += sfx.chars().count();
        } else {
            return None;
        }
    }
    let m_at = skip_spaces(c, j, 1);
    if m_at == j {
        return None;
    }
    let m = word_at(c, m_at)?;
    let lower = m.to_lowercase();
    if !(MONTHS.contains(&lower.as_str()) || MONTH_ABBREVIATIONS.contains(&lower.as_str())) {
        return None;
    }
    let mut end = m_at + m.chars().count();
    if !boundary_after(c, end) {
        return None;
    }
    let y = skip_spaces(c, end, 1);
    if y > end && digits_run(c, y) == 4 && boundary_after(c, y + 4) {
        end = y + 4;
    }
    Some(end)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(text: &str) -> Vec<(String, &'static str, u32, u32)> {
        RuleTagger::builtin()
            .tag(text)
            .into_iter()
            .map(|e| {
                let label: &'static str = Box::leak(e.label.into_boxed_str());
                (e.text, label, e.start.unwrap(), e.end.unwrap())
            })
            .collect()
    }

    fn t(
        text: &str,
        label: &'static str,
        start: u32,
        end: u32,
    ) -> (String, &'static str, u32, u32) {
        (text.to_string(), label, start, end)
    }

    #[test]
    fn the_seed_sentence() {
        assert_eq!(
            tags("Ram read a book on Friday 20/11/2019"),
            vec![
                t("Ram", "PERSON", 0, 3),
                t("Friday", "DATE", 19, 25),
                t("20/11/2019", "DATE", 26, 36),
            ]
        );
    }

    #[test]
    fn twitter_things() {
        assert_eq!(
            tags("RT @data_bob: #AI rocks https://t.co/abc123. see www.x.org!"),
            vec![
                t("@data_bob", "MENTION", 3, 12),
                t("#AI", "HASHTAG", 14, 17),
                t("https://t.co/abc123", "URL", 24, 43),
                t("www.x.org", "URL", 49, 58),
            ]
        );
        assert!(
            tags("email a@b.com and #123").is_empty(),
            "{:?}",
            tags("email a@b.com and #123")
        );
    }

    #[test]
    fn numbers_money_percent_time() {
        assert_eq!(
            tags("Raised $1.5m, up 12% from 3 million in 2019 at 10:30pm"),
            vec![
                t("$1.5m", "MONEY", 7, 12),
                t("12%", "PERCENT", 17, 20),
                t("3 million", "CARDINAL", 26, 35),
                t("2019", "DATE", 39, 43),
                t("10:30pm", "TIME", 47, 54),
            ]
        );
        assert_eq!(
            tags("the 3rd of 1,000 cost 20 dollars, 5 pm"),
            vec![
                t("3rd", "ORDINAL", 4, 7),
                t("1,000", "CARDINAL", 11, 16),
                t("20 dollars", "MONEY", 22, 32),
                t("5 pm", "TIME", 34, 38),
            ]
        );
        assert!(tags("4G and mp3 and covid19").is_empty());
    }

    #[test]
    fn dates_in_words() {
        assert_eq!(
            tags("Due November 20, 2019 or 20 Nov, not in may. See you tomorrow, next week"),
            vec![
                t("November 20, 2019", "DATE", 4, 21),
                t("20 Nov", "DATE", 25, 31),
                t("tomorrow", "DATE", 53, 61),
                t("next week", "DATE", 63, 72),
            ]
        );
        assert_eq!(tags("2019-11-20"), vec![t("2019-11-20", "DATE", 0, 10)]);
    }

    #[test]
    fn gazetteer_longest_match_and_case() {
        assert_eq!(
            tags("Apache Spark and Kafka at Google in New York City, GOOGLE, google"),
            vec![
                t("Apache Spark", "PRODUCT", 0, 12),
                t("Kafka", "PRODUCT", 17, 22),
                t("Google", "ORG", 26, 32),
                t("New York City", "GPE", 36, 49),
                t("GOOGLE", "ORG", 51, 57),
            ]
        );
        assert_eq!(
            tags("Bank of America and Fei-Fei Li in the U.S."),
            vec![
                t("Bank of America", "ORG", 0, 15),
                t("Fei-Fei Li", "PERSON", 20, 30),
                t("U.S.", "GPE", 38, 42),
            ]
        );
    }

    #[test]
    fn code_point_offsets_and_extra_gazetteer() {
        let mut tagger = RuleTagger::builtin();
        tagger.add_gazetteer("Zoë Café\tORG\n# comment\nbad line\n");
        let e = tagger.tag("naïve 😀 Zoë Café in Paris");
        let got: Vec<_> = e
            .iter()
            .map(|e| (e.text.as_str(), e.label.as_str(), e.start, e.end))
            .collect();
        assert_eq!(
            got,
            vec![
                ("Zoë Café", "ORG", Some(8), Some(16)),
                ("Paris", "GPE", Some(20), Some(25))
            ]
        );
    }
}
