//! Small human-readable formatting helpers for panes.

use std::borrow::Cow;
use std::time::Duration;

use unicode_width::UnicodeWidthStr as _;

pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

pub fn count(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.2}M", n as f64 / 1e6),
    }
}

/// `s` as the screen shows it: with the code points whose width terminals disagree on
/// removed (variation selectors, zero-width joiners, skin-tone modifiers: `❤️` shows as `❤`,
/// `👩‍💻` as `👩💻`) and control characters as spaces, so every cell is exactly as wide for
/// the terminal (which adds up code points) as for ratatui (which measures graphemes) and no
/// stray character is left behind. Copies (`y`) keep the original text.
pub fn screen_text(s: &str) -> Cow<'_, str> {
    let unsure = |c: char| {
        matches!(
            c,
            '\u{FE0E}' | '\u{FE0F}' | '\u{200D}' | '\u{1F3FB}'..='\u{1F3FF}'
        )
    };
    if !s.chars().any(|c| unsure(c) || c.is_control()) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .filter(|c| !unsure(*c))
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect(),
    )
}

/// A line with [`screen_text`] applied to every span (styles kept).
pub fn screen_line(mut line: ratatui::text::Line<'static>) -> ratatui::text::Line<'static> {
    for span in &mut line.spans {
        if let Cow::Owned(clean) = screen_text(&span.content) {
            span.content = Cow::Owned(clean);
        }
    }
    line
}

/// `s` in exactly `width` columns: cut with `…` when longer; numbers right-aligned.
pub fn fit(s: &str, width: usize, right_align: bool) -> String {
    if width == 0 {
        return String::new();
    }
    let w = s.width();
    if w <= width {
        let pad = " ".repeat(width - w);
        return if right_align {
            format!("{pad}{s}")
        } else {
            format!("{s}{pad}")
        };
    }
    let mut out = String::new();
    let mut used = 0;
    for ch in s.chars() {
        let cw = unicode_width::UnicodeWidthChar::width(ch).unwrap_or(0);
        if used + cw > width - 1 {
            break;
        }
        out.push(ch);
        used += cw;
    }
    out.push('…');
    used += 1;
    out.push_str(&" ".repeat(width.saturating_sub(used)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KB");
        assert_eq!(duration(Duration::from_secs(75)), "1m15s");
        assert_eq!(duration(Duration::from_secs(7260)), "2h01m");
        assert_eq!(count(12_345), "12.3k");
        assert_eq!(count(2_500_000), "2.50M");
    }

    #[test]
    fn screen_text_drops_what_terminals_measure_differently() {
        assert_eq!(screen_text("plain #AI"), "plain #AI");
        assert!(matches!(screen_text("plain"), Cow::Borrowed(_)));
        assert_eq!(screen_text("❤️s"), "❤s");
        assert_eq!(screen_text("👩‍💻 👍🏽"), "👩💻 👍");
        assert_eq!(screen_text("a\tb\nc"), "a b c");
    }

    #[test]
    fn fits_exactly_in_terminal_columns() {
        use unicode_width::UnicodeWidthStr as _;
        assert_eq!(fit("abc", 5, false), "abc  ");
        assert_eq!(fit("42", 5, true), "   42");
        assert_eq!(fit("abcdef", 4, false), "abc…");
        assert_eq!(fit("#averyverylongtag", 6, false), "#aver…");
        assert_eq!(fit("#日本語です", 6, false), "#日本…");
        for s in ["日本語のテキスト", "emoji 😀😀😀", "plain"] {
            for w in 1..12 {
                assert_eq!(fit(s, w, false).width(), w, "{s:?} in {w}");
            }
        }
    }
}
