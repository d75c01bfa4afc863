//! SQL identifiers that come from configuration (schema and table names).
//!
//! Values always travel as query parameters; identifiers cannot, so every identifier that
//! reaches SQL text is one of these: validated against `^[a-z_][a-z0-9_]{0,62}$` (lower-case, so
//! PostgreSQL never folds it, and within its 63-byte limit) and still double-quoted when
//! rendered, so a reserved word such as `user` or `order` is a valid name too.

use std::fmt;

/// A validated, lower-case SQL identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ident(String);

/// Why a name is not accepted as an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} = {value:?}: expected a lower-case SQL identifier (^[a-z_][a-z0-9_]{{0,62}}$)")]
pub struct IdentError {
    pub what: String,
    pub value: String,
}

/// PostgreSQL's limit on identifier length, in bytes.
pub const MAX_IDENT_LEN: usize = 63;

/// True for `^[a-z_][a-z0-9_]{0,62}$`.
pub fn is_valid_ident(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_IDENT_LEN
        && (b[0].is_ascii_lowercase() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

impl Ident {
    /// Validates `value`; `what` names its origin (e.g. `trending.table`) for the error.
    pub fn new(what: &str, value: &str) -> Result<Ident, IdentError> {
        if is_valid_ident(value) {
            Ok(Ident(value.to_string()))
        } else {
            Err(IdentError {
                what: what.to_string(),
                value: value.to_string(),
            })
        }
    }

    /// This name plus `suffix` (e.g. `_files`), validated again (length!).
    pub fn with_suffix(&self, what: &str, suffix: &str) -> Result<Ident, IdentError> {
        Ident::new(what, &format!("{}{suffix}", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Rendered double-quoted, ready for SQL text.
impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0)
    }
}

/// `"schema"."name"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qualified {
    pub schema: Ident,
    pub name: Ident,
}

impl fmt::Display for Qualified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_plain_lower_case_identifiers() {
        for ok in [
            "trending_hashtags",
            "_x",
            "a",
            "t1",
            "user",
            &"a".repeat(63),
        ] {
            assert!(is_valid_ident(ok), "{ok}");
        }
        for bad in [
            "",
            "1abc",
            "Trending",
            "a-b",
            "a b",
            "a;drop table x",
            "x\"",
            "ümlaut",
            "a.b",
            &"a".repeat(64),
        ] {
            assert!(!is_valid_ident(bad), "{bad:?}");
        }
        let e = Ident::new("trending.table", "bad name").unwrap_err();
        assert_eq!(
            e.to_string(),
            "trending.table = \"bad name\": expected a lower-case SQL identifier (^[a-z_][a-z0-9_]{0,62}$)"
        );
    }

    #[test]
    fn renders_quoted_and_checks_suffix_length() {
        let t = Ident::new("t", "order").unwrap();
        assert_eq!(t.to_string(), "\"order\"");
        let q = Qualified {
            schema: Ident::new("s", "public").unwrap(),
            name: t,
        };
        assert_eq!(q.to_string(), "\"public\".\"order\"");
        let long = Ident::new("t", &"a".repeat(60)).unwrap();
        assert!(long.with_suffix("t", "_files").is_err());
        assert_eq!(
            Ident::new("t", "x")
                .unwrap()
                .with_suffix("t", "_files")
                .unwrap()
                .as_str(),
            "x_files"
        );
    }
}
