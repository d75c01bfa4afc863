//! SQL keywords: highlighted in the editor (as tui-textarea's search pattern) and offered by
//! completion.

pub const KEYWORDS: &[&str] = &[
    "AND",
    "AS",
    "ASC",
    "BETWEEN",
    "BY",
    "CASE",
    "CAST",
    "COUNT",
    "DESC",
    "DISTINCT",
    "ELSE",
    "END",
    "EXISTS",
    "EXPLAIN",
    "FALSE",
    "FROM",
    "FULL",
    "GROUP",
    "HAVING",
    "IN",
    "INNER",
    "INTERVAL",
    "IS",
    "JOIN",
    "LEFT",
    "LIKE",
    "ILIKE",
    "LIMIT",
    "NOT",
    "NULL",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "OVER",
    "PARTITION",
    "RIGHT",
    "SELECT",
    "SHOW",
    "TABLES",
    "THEN",
    "TRUE",
    "UNION",
    "UNNEST",
    "USING",
    "WHEN",
    "WHERE",
    "WITH",
];

/// A case-insensitive regex matching any keyword as a whole word.
pub fn keyword_pattern() -> String {
    format!(r"(?i)\b({})\b", KEYWORDS.join("|"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pattern_matches_whole_keywords_only() {
        let re = regex::Regex::new(&super::keyword_pattern()).unwrap();
        let hits: Vec<&str> = re
            .find_iter("select fromage from bronze Where x")
            .map(|m| m.as_str())
            .collect();
        assert_eq!(hits, ["select", "from", "Where"]);
    }
}
