//! The shape of a config file, checked before the `config` crate reads it, so mistakes are
//! named with the file, the line and what was expected in plain words: an unclosed
//! `[section`, a line that is not `key = value`, a key given twice in a section, a section
//! given twice. (The crate itself reports such lines with a parser's debug output, or takes
//! the last of two values silently.)

use std::collections::BTreeMap;
use std::path::Path;

use super::ConfigError;

pub fn check(path: &Path, text: &str) -> Result<(), ConfigError> {
    let err = |line: usize, what: String| {
        ConfigError::Load(format!("{}, line {line}: {what}", path.display()))
    };
    let mut sections: BTreeMap<String, usize> = BTreeMap::new();
    let mut keys: BTreeMap<String, usize> = BTreeMap::new();
    let mut section: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                return Err(err(
                    n,
                    format!("a section header must end with `]`, found `{line}`"),
                ));
            };
            let name = name.trim().to_lowercase();
            if name.is_empty() {
                return Err(err(n, "an empty section name `[]`".into()));
            }
            if let Some(first) = sections.insert(name.clone(), n) {
                return Err(err(
                    n,
                    format!("section [{name}] again (first on line {first}): merge the two"),
                ));
            }
            section = Some(name);
            keys.clear();
            continue;
        }
        let Some((key, _)) = line.split_once(['=', ':']) else {
            return Err(err(
                n,
                format!("expected `key = value` or a `[section]` header, found `{line}`"),
            ));
        };
        let key = key.trim().to_lowercase();
        let Some(sec) = &section else {
            return Err(err(
                n,
                format!("`{key}` comes before any [section]: put it under one"),
            ));
        };
        if key.is_empty() {
            return Err(err(n, format!("a value without a key: `{line}`")));
        }
        if let Some(first) = keys.insert(key.clone(), n) {
            return Err(err(
                n,
                format!("{sec}.{key} is set twice (first on line {first}): keep one"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(text: &str) -> String {
        check(Path::new("my.ini"), text).unwrap_err().to_string()
    }

    #[test]
    fn names_file_line_and_what_was_expected() {
        assert!(check(
            Path::new("a.ini"),
            "; c\n[lake]\nroot = x\n\n[log]\nlevel=info\n"
        )
        .is_ok());
        assert_eq!(
            msg("[lake]\n[source"),
            "config error: my.ini, line 2: a section header must end with `]`, found `[source`"
        );
        assert!(msg("[lake]\nroot x").contains("line 2: expected `key = value`"));
        assert!(msg("root = x").contains("line 1: `root` comes before any [section]"));
        assert!(msg("[lake]\nroot = a\nroot = b")
            .contains("line 3: lake.root is set twice (first on line 2)"));
        assert!(
            msg("[lake]\n[log]\n[Lake]").contains("line 3: section [lake] again (first on line 1)")
        );
    }
}
