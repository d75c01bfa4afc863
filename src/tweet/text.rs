//! Pure text rules: newline normalisation, HTML clean-up and entity extraction from tweet text.

use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory as _};

/// A combining mark (general categories Mn, Mc, Me).
fn is_mark(c: char) -> bool {
    c.general_category_group() == GeneralCategoryGroup::Mark
}

/// Replaces each run of `\r` / `\n` characters with one space, then trims.
pub fn normalize_text(s: &str) -> String {
    let s = s.trim();
    if !s.bytes().any(|b| b == b'\r' || b == b'\n') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut in_run = false;
    for c in s.chars() {
        if c == '\r' || c == '\n' {
            if !in_run {
                out.push(' ');
            }
            in_run = true;
        } else {
            out.push(c);
            in_run = false;
        }
    }
    out
}

/// [`normalize_text`], then decodes `&amp;`, `&lt;`, `&gt;` (Twitter escapes them in v1.1 text).
pub fn clean_tweet_text(s: &str) -> String {
    let n = normalize_text(s);
    if n.contains('&') {
        decode_entities(&n, false)
    } else {
        n
    }
}

/// Removes HTML tags, decodes the common entities (`&amp; &lt; &gt; &quot; &#39; &apos; &nbsp;`
/// and numeric `&#N;` / `&#xH;`), then trims.
pub fn strip_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        match rest[lt..].find('>') {
            Some(gt) => rest = &rest[lt + gt + 1..],
            None => {
                // A lone '<' is text, not a tag.
                out.push('<');
                rest = &rest[lt + 1..];
            }
        }
    }
    out.push_str(rest);
    let decoded = if out.contains('&') {
        decode_entities(&out, true)
    } else {
        out
    };
    decoded.trim().to_owned()
}

/// Single-pass entity decoder; `full` enables the HTML set beyond `&amp; &lt; &gt;`.
fn decode_entities(s: &str, full: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let semi = rest.as_bytes().iter().take(10).position(|&b| b == b';');
        let decoded = semi.and_then(|semi| {
            let name = &rest[1..semi];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                _ if !full => None,
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => numeric_entity(name),
            };
            c.map(|c| (c, semi + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn numeric_entity(name: &str) -> Option<char> {
    let num = name.strip_prefix('#')?;
    let code = match num.strip_prefix(['x', 'X']) {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => num.parse().ok()?,
    };
    char::from_u32(code)
}

/// Letter, digit, `_` or combining mark.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || is_mark(c)
}

/// Hashtags per Twitter's rule: `#`/`＃` not preceded by a word char or `&`, followed by letters,
/// marks, digits or `_` with at least one letter or mark. Returned without the `#`.
pub fn extract_hashtags(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut prev: Option<char> = None;
    let mut it = text.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        let starts = (c == '#' || c == '＃') && !prev.is_some_and(|p| is_word(p) || p == '&');
        prev = Some(c);
        if !starts {
            continue;
        }
        let start = i + c.len_utf8();
        let mut end = start;
        let mut has_letter = false;
        while let Some(&(j, d)) = it.peek() {
            if !is_word(d) {
                break;
            }
            has_letter |= d.is_alphabetic() || is_mark(d);
            end = j + d.len_utf8();
            prev = Some(d);
            it.next();
        }
        if has_letter {
            out.push(text[start..end].to_owned());
        }
    }
    out
}

/// Mentions: `@`/`＠` not preceded by a word char, followed by 1..=15 of `[A-Za-z0-9_]` (a longer
/// run is not a screen name). Returned without the `@`.
pub fn extract_mentions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        let starts = (c == '@' || c == '＠') && !prev.is_some_and(is_word);
        prev = Some(c);
        if !starts {
            continue;
        }
        let start = i + c.len_utf8();
        let run = text.as_bytes()[start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        if (1..=15).contains(&run) {
            out.push(text[start..start + run].to_owned());
        }
    }
    out
}

/// `http://` / `https://` tokens (scheme not glued to a preceding letter or digit), up to whitespace.
pub fn extract_urls(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("http") {
        let start = i + pos;
        let rest = &bytes[start..];
        let scheme = [&b"https://"[..], &b"http://"[..]]
            .into_iter()
            .find(|p| rest.starts_with(p));
        let glued = start > 0 && bytes[start - 1].is_ascii_alphanumeric();
        match scheme {
            Some(p) if !glued => {
                let len = text[start..]
                    .find(char::is_whitespace)
                    .unwrap_or(text.len() - start);
                if len > p.len() {
                    out.push(text[start..start + len].to_owned());
                }
                i = start + len;
            }
            _ => i = start + 4,
        }
    }
    out
}

/// The original playground's rule: every whitespace-separated word containing `#`, verbatim.
pub fn seed_hashtags(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter(|w| w.contains('#'))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(s: &str) -> Vec<String> {
        extract_hashtags(s)
    }

    #[test]
    fn newline_rule() {
        assert_eq!(normalize_text("a\r\n\r\nb"), "a b");
        assert_eq!(normalize_text("  \n#AR\nCc\n "), "#AR Cc");
        assert_eq!(tags(&normalize_text("#AR\nCc")), ["AR"]);
        assert_eq!(
            clean_tweet_text("a &amp;lt; b &gt; c &amp; d &x;"),
            "a &lt; b > c & d &x;"
        );
    }

    #[test]
    fn hashtag_edge_cases() {
        assert!(tags("#2020").is_empty());
        assert_eq!(tags("#COVID19"), ["COVID19"]);
        assert!(tags("abc#def").is_empty());
        assert!(tags("it&#39;s").is_empty());
        assert_eq!(tags("#café au lait"), ["café"]);
        assert_eq!(tags("#日本語です"), ["日本語です"]);
        assert_eq!(tags("#a_b"), ["a_b"]);
        assert_eq!(tags("#AI, #ML."), ["AI", "ML"]);
        assert_eq!(tags("x ＃全角 #x#y"), ["全角", "x"]);
        assert_eq!(tags("#cafe\u{301}s #स्वच्छ"), ["cafe\u{301}s", "स्वच्छ"]);
        assert_eq!(tags("(#Rust) #_1 #_x #a #a"), ["Rust", "_x", "a", "a"]);
        assert!(tags("# #_ #").is_empty());
    }

    #[test]
    fn mentions_urls_seed() {
        assert_eq!(
            extract_mentions("@bob hi ＠Ann, mail a@b.com @this_name_is_too_long @"),
            ["bob", "Ann"]
        );
        assert_eq!(
            extract_urls("see https://t.co/abc, (http://x.y/z) xhttp://no https:// http://a.b"),
            ["https://t.co/abc,", "http://x.y/z)", "http://a.b"]
        );
        assert_eq!(
            seed_hashtags("dissent.#MangoMussolini is #AI, ok"),
            ["dissent.#MangoMussolini", "#AI,"]
        );
    }

    #[test]
    fn html() {
        let src =
            r#"<a href="http://twitter.com/download/iphone" rel="nofollow">Twitter for iPhone</a>"#;
        assert_eq!(strip_html(src), "Twitter for iPhone");
        assert_eq!(
            strip_html("<b>A &amp; B</b> &lt;i&gt; &quot;q&quot; it&#39;s &#x41; 1 < 2"),
            "A & B <i> \"q\" it's A 1 < 2"
        );
    }
}
