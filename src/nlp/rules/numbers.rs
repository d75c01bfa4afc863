//! Rules for spans starting with a digit: numbers, money, percentages, ordinals, numeric
//! dates (`20/11/2019`), clock times (`10:30pm`) and day-month dates (`20 November`).

use super::lexicon::{CURRENCY_WORDS, MAGNITUDES, MONTHS, MONTH_ABBREVIATIONS};
use super::{boundary_after, is_word, skip_spaces, take_while, word_at, RuleTagger, Scan};

impl RuleTagger {
    /// Dates, times, money, percentages, ordinals and cardinals starting with a digit.
    pub(super) fn numeric(&self, s: &mut Scan, i: usize) -> Option<usize> {
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
}

/// A number at `i`: digits with `,` thousands groups and one `.` decimal part.
pub(super) fn number_end(c: &[char], i: usize) -> Option<usize> {
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
pub(super) fn magnitude_end(c: &[char], end: usize) -> Option<usize> {
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
