//! A failed query, said once: the message, and where in the SQL text it went wrong when the
//! parser or planner knows (1-based line and column).

use deltalake::datafusion::error::DataFusionError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    pub message: String,
    /// 1-based (line, column) in the query text.
    pub position: Option<(u64, u64)>,
}

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.position {
            Some((line, col)) => write!(f, "{} (line {line}, column {col})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for SqlError {}

impl SqlError {
    pub fn new(message: impl Into<String>) -> SqlError {
        SqlError {
            message: message.into(),
            position: None,
        }
    }

    /// From DataFusion: the diagnostic's span when the planner attached one, else the
    /// parser's "at Line: L, Column: C".
    pub fn from_datafusion(e: &DataFusionError) -> SqlError {
        let mut message = match e.find_root() {
            DataFusionError::SQL(parser, _) => parser.to_string(),
            DataFusionError::Diagnostic(_, inner) => inner.message().to_string(),
            root => root.message().to_string(),
        };
        if let Some(rest) = message.strip_prefix("sql parser error: ") {
            message = rest.to_string();
        }
        let mut position = e
            .diagnostic()
            .and_then(|d| d.span)
            .map(|s| (s.start.line, s.start.column))
            .filter(|(l, c)| *l > 0 && *c > 0);
        if let Some((text, at)) = split_parser_position(&message) {
            position = position.or(Some(at));
            message = text;
        }
        SqlError { message, position }
    }

    /// The query with a caret under the error's column (for a terminal or the pane).
    pub fn pointer(&self, sql: &str) -> Option<(String, String)> {
        let (line, col) = self.position?;
        let text = sql.lines().nth(line.checked_sub(1)? as usize)?.to_string();
        let pad: String = text
            .chars()
            .take(col.saturating_sub(1) as usize)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        Some((text, format!("{pad}^")))
    }
}

/// "Expected: ..., found: x at Line: 1, Column: 8" -> ("Expected: ..., found: x", (1, 8)).
fn split_parser_position(message: &str) -> Option<(String, (u64, u64))> {
    let at = message.rfind(" at Line: ")?;
    let rest = &message[at + " at Line: ".len()..];
    let (line, rest) = rest.split_once(", Column: ")?;
    let col: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((
        message[..at].trim_end().to_string(),
        (line.trim().parse().ok()?, col.parse().ok()?),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_positions_are_split_off() {
        let (text, at) =
            split_parser_position("Expected: an expression, found: FROM at Line: 2, Column: 8")
                .unwrap();
        assert_eq!(text, "Expected: an expression, found: FROM");
        assert_eq!(at, (2, 8));
        assert!(split_parser_position("table 'x' not found").is_none());
    }

    #[test]
    fn pointer_marks_the_column() {
        let e = SqlError {
            message: "bad".into(),
            position: Some((2, 4)),
        };
        let (line, caret) = e.pointer("select 1\nfrom x").unwrap();
        assert_eq!(line, "from x");
        assert_eq!(caret, "   ^");
    }
}
