//! Rules for spans starting with a letter: date, time and number words, and capitalised
//! names looked up in the gazetteer.

use super::lexicon::{
    AMBIGUOUS_MONTHS, MONTHS, MONTH_ABBREVIATIONS, NUMBER_WORDS, ORDINAL_WORDS, PERIOD_LEADS,
    PERIOD_WORDS, RELATIVE_DAYS, TIME_WORDS, WEEKDAYS,
};
use super::numbers::{magnitude_end, number_end};
use super::{boundary_after, is_word, skip_spaces, take_while, word_at, RuleTagger, Scan};

impl RuleTagger {
    /// Date words, number words and gazetteer names starting with a letter.
    pub(super) fn word(&self, s: &mut Scan, i: usize) -> Option<usize> {
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
