//! Parses the seed service's answer: a Python `dict` of `str -> str` printed with `str()`,
//! e.g. `{'DATE': 'Friday', 'PERSON': "Ram's"}`.
//!
//! Python's `repr` of a string uses single quotes unless the string holds a `'` and no `"`;
//! it escapes `\\`, the quote in use, `\n`, `\r`, `\t`, and non-printable characters as
//! `\xhh`, `\uhhhh` or `\Uhhhhhhhh`. Printable non-ASCII characters stay as they are.

/// Why a `res` string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Python dict of strings at character {at}: {what}")]
pub struct PyDictError {
    pub at: usize,
    pub what: String,
}

/// The `(key, value)` pairs in order of appearance.
pub fn parse_py_str_dict(s: &str) -> Result<Vec<(String, String)>, PyDictError> {
    let chars: Vec<char> = s.chars().collect();
    let mut p = Parser { c: &chars, i: 0 };
    p.ws();
    p.expect('{')?;
    let mut out = Vec::new();
    p.ws();
    if p.peek() == Some('}') {
        p.i += 1;
    } else {
        loop {
            p.ws();
            let k = p.string()?;
            p.ws();
            p.expect(':')?;
            p.ws();
            let v = p.string()?;
            out.push((k, v));
            p.ws();
            match p.next() {
                Some(',') => {
                    p.ws();
                    // A trailing comma is valid Python.
                    if p.peek() == Some('}') {
                        p.i += 1;
                        break;
                    }
                }
                Some('}') => break,
                _ => return Err(p.err("expected , or }")),
            }
        }
    }
    p.ws();
    if p.i != chars.len() {
        return Err(p.err("text after the closing }"));
    }
    Ok(out)
}

struct Parser<'a> {
    c: &'a [char],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> PyDictError {
        PyDictError {
            at: self.i,
            what: what.to_string(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.c.get(self.i).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.i += 1;
        c
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += 1;
        }
    }

    fn expect(&mut self, want: char) -> Result<(), PyDictError> {
        if self.peek() == Some(want) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected {want:?}")))
        }
    }

    fn hex(&mut self, n: usize) -> Result<char, PyDictError> {
        let start = self.i;
        let digits: String = self.c.get(start..start + n).unwrap_or(&[]).iter().collect();
        if digits.chars().count() != n {
            return Err(self.err("short escape"));
        }
        let v = u32::from_str_radix(&digits, 16).map_err(|_| self.err("bad hex escape"))?;
        self.i += n;
        char::from_u32(v).ok_or_else(|| self.err("escape is not a character"))
    }

    fn string(&mut self) -> Result<String, PyDictError> {
        // Python may prefix a string literal (never `str()` itself, but be lenient).
        if matches!(self.peek(), Some('u' | 'U')) {
            self.i += 1;
        }
        let quote = match self.next() {
            Some(q @ ('\'' | '"')) => q,
            _ => {
                self.i -= 1;
                return Err(self.err("expected a quoted string"));
            }
        };
        let mut out = String::new();
        loop {
            match self.next() {
                None => return Err(self.err("unterminated string")),
                Some(c) if c == quote => return Ok(out),
                Some('\\') => {
                    let e = self.next().ok_or_else(|| self.err("unterminated escape"))?;
                    match e {
                        '\\' | '\'' | '"' => out.push(e),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'a' => out.push('\u{7}'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'v' => out.push('\u{b}'),
                        '0' => out.push('\0'),
                        'x' => out.push(self.hex(2)?),
                        'u' => out.push(self.hex(4)?),
                        'U' => out.push(self.hex(8)?),
                        '\n' => {} // line continuation
                        other => {
                            // Python keeps unknown escapes verbatim.
                            out.push('\\');
                            out.push(other);
                        }
                    }
                }
                Some(c) => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn reads_what_python_prints() {
        assert_eq!(
            parse_py_str_dict("{'DATE': 'Friday'}").unwrap(),
            pairs(&[("DATE", "Friday")])
        );
        assert_eq!(parse_py_str_dict("{}").unwrap(), vec![]);
        assert_eq!(parse_py_str_dict(" { } ").unwrap(), vec![]);
        // str({'PERSON': "Ram's", 'ORG': 'say "hi"', 'X': 'both \' and "'})
        assert_eq!(
            parse_py_str_dict(r#"{'PERSON': "Ram's", 'ORG': 'say "hi"', 'X': 'both \' and "'}"#)
                .unwrap(),
            pairs(&[
                ("PERSON", "Ram's"),
                ("ORG", "say \"hi\""),
                ("X", "both ' and \"")
            ])
        );
        // str({'GPE': 'Zoë\\n\x07', 'E': '😀 \u2028'})
        assert_eq!(
            parse_py_str_dict(r"{'GPE': 'Zoë\\n\x07', 'E': '😀 \u2028', 'F': '\U0001f600',}")
                .unwrap(),
            pairs(&[("GPE", "Zoë\\n\u{7}"), ("E", "😀 \u{2028}"), ("F", "😀")])
        );
    }

    #[test]
    fn rejects_what_is_not_a_dict_of_strings() {
        for bad in [
            "",
            "[]",
            "{'a': 1}",
            "{'a': 'b'",
            "{'a' 'b'}",
            "{'a': 'b'} x",
            "{'a': 'b\\x4'}",
            "{'a': 'unterminated}",
            "None",
        ] {
            assert!(parse_py_str_dict(bad).is_err(), "{bad:?} should fail");
        }
    }
}
