//! Tab completion in the SQL editor: the identifier before the cursor, completed from the
//! table and column names (and SQL keywords).

use super::highlight::KEYWORDS;

/// What Tab does with `prefix`: the text to insert, and the candidates when it is ambiguous.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub insert: String,
    pub candidates: Vec<String>,
}

/// The identifier that ends at the end of `line_before_cursor`.
pub fn word_before(line_before_cursor: &str) -> &str {
    let start = line_before_cursor
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_')
        .last()
        .map_or(line_before_cursor.len(), |(i, _)| i);
    &line_before_cursor[start..]
}

/// Completes `prefix` from `names` (tables, columns); keywords complete in upper case.
pub fn complete(prefix: &str, names: &[String]) -> Option<Completion> {
    if prefix.is_empty() {
        return None;
    }
    let lower = prefix.to_lowercase();
    let mut candidates: Vec<String> = names
        .iter()
        .filter(|n| n.to_lowercase().starts_with(&lower))
        .cloned()
        .collect();
    candidates.extend(
        KEYWORDS
            .iter()
            .filter(|k| k.to_lowercase().starts_with(&lower))
            .map(|k| k.to_string()),
    );
    candidates.sort();
    candidates.dedup();
    let first = candidates.first()?;
    // The longest prefix all candidates share (case-insensitively), in the first's spelling.
    let mut common = first.chars().count();
    for c in &candidates[1..] {
        common = common.min(
            first
                .chars()
                .zip(c.chars())
                .take_while(|(a, b)| a.eq_ignore_ascii_case(b))
                .count(),
        );
    }
    let done = prefix.chars().count();
    let insert: String = first
        .chars()
        .skip(done)
        .take(common.saturating_sub(done))
        .collect();
    Some(Completion {
        insert,
        candidates: if candidates.len() > 1 {
            candidates
        } else {
            Vec::new()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["bronze", "silver_ner", "hashtags", "hashtag_count", "text"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn completes_a_unique_name() {
        let c = complete("bro", &names()).unwrap();
        assert_eq!(c.insert, "nze");
        assert!(c.candidates.is_empty());
    }

    #[test]
    fn completes_the_shared_part_and_lists_the_rest() {
        let c = complete("hash", &names()).unwrap();
        assert_eq!(c.insert, "tag");
        assert_eq!(c.candidates, ["hashtag_count", "hashtags"]);
    }

    #[test]
    fn keywords_and_nothing() {
        assert_eq!(complete("sele", &names()).unwrap().insert, "CT");
        assert!(complete("zzz", &names()).is_none());
        assert!(complete("", &names()).is_none());
        assert_eq!(word_before("select count(*) from bro"), "bro");
        assert_eq!(word_before("select "), "");
    }
}
