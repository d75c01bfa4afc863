//! The filtered stream's body: newline-delimited JSON, cut into lines whatever the chunking,
//! with keep-alive `\r\n` lines in between; and what each line is (a tweet, a keep-alive, an
//! operational message).

use serde::de::IgnoredAny;
use serde::Deserialize;

/// The longest line kept while waiting for its end; longer means a broken stream.
pub const MAX_LINE: usize = 16 << 20;

/// Splits bytes into lines on `\n` (a `\r` before it is dropped). Bytes after the last `\n`
/// wait for the next chunk; a line cut by a disconnect is never returned.
#[derive(Debug, Default)]
pub struct Lines {
    buf: Vec<u8>,
    /// Where the unread part of `buf` starts.
    start: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a stream line grew past {MAX_LINE} bytes without a newline")]
pub struct LineTooLong;

impl Lines {
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), LineTooLong> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(chunk);
        if self.buf.len() > MAX_LINE && !self.buf.contains(&b'\n') {
            return Err(LineTooLong);
        }
        Ok(())
    }

    /// The next complete line without its `\r\n` / `\n` (an empty line is a keep-alive).
    pub fn next_line(&mut self) -> Option<&[u8]> {
        let rest = &self.buf[self.start..];
        let end = rest.iter().position(|b| *b == b'\n')?;
        let line_start = self.start;
        self.start += end + 1;
        let mut line = &self.buf[line_start..line_start + end];
        if let [head @ .., b'\r'] = line {
            line = head;
        }
        Some(line)
    }

    /// Bytes of an unfinished line (dropped by [`Lines::clear`] on a disconnect).
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
    }
}

/// One entry of an `errors` array (RFC 7807-ish, plus the stream's own fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct StreamError {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub detail: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub disconnect_type: Option<String>,
    #[serde(default)]
    pub connection_issue: Option<String>,
}

impl StreamError {
    /// "operational-disconnect: This stream has been ... (UpstreamOperationalDisconnect)".
    pub fn describe(&self) -> String {
        let mut s = if self.title.is_empty() {
            "error".to_string()
        } else {
            self.title.clone()
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        if let Some(extra) = self
            .disconnect_type
            .as_ref()
            .or(self.connection_issue.as_ref())
        {
            s.push_str(&format!(" ({extra})"));
        }
        s
    }

    /// The server is about to close (or has given up on) this connection.
    pub fn is_disconnect(&self) -> bool {
        self.title == "operational-disconnect"
            || self.disconnect_type.is_some()
            || self.kind.ends_with("/operational-disconnect")
    }
}

/// What one stream line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// An empty line: the server's "still here".
    KeepAlive,
    /// A `{"data": {...}, "includes": ..., "matching_rules": ...}` object (possibly with
    /// partial `errors` about its expansions): goes to the bus as it is.
    Tweet,
    /// An operational message (`{"errors": [...]}` without `data`): logged and handled here.
    Errors(Vec<StreamError>),
    /// A JSON object that is neither: logged and skipped.
    Other,
    /// Not a JSON object: passed on, so the bronze stage dead-letters it with its bytes.
    Unreadable,
}

#[derive(Deserialize)]
struct Probe {
    data: Option<IgnoredAny>,
    errors: Option<Vec<StreamError>>,
}

pub fn classify(line: &[u8]) -> Line {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Line::KeepAlive;
    }
    match serde_json::from_slice::<Probe>(line) {
        Ok(Probe { data: Some(_), .. }) => Line::Tweet,
        Ok(Probe {
            errors: Some(errors),
            ..
        }) => Line::Errors(errors),
        Ok(_) => Line::Other,
        Err(_) => Line::Unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(lines: &mut Lines) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(l) = lines.next_line() {
            out.push(String::from_utf8(l.to_vec()).unwrap());
        }
        out
    }

    #[test]
    fn splits_lines_and_keep_alives_across_any_chunking() {
        let body =
            "{\"data\":{\"id\":\"1\",\"text\":\"é ✓\"}}\r\n\r\n\r\n{\"data\":{\"id\":\"2\"}}\n\n";
        let want = vec![
            "{\"data\":{\"id\":\"1\",\"text\":\"é ✓\"}}",
            "",
            "",
            "{\"data\":{\"id\":\"2\"}}",
            "",
        ];
        let bytes = body.as_bytes();
        // Every chunk size, including cuts inside `\r\n` and inside multi-byte characters.
        for size in 1..=bytes.len() {
            let mut lines = Lines::default();
            let mut got = Vec::new();
            for chunk in bytes.chunks(size) {
                lines.push(chunk).unwrap();
                got.extend(all(&mut lines));
            }
            assert_eq!(got, want, "chunk size {size}");
            assert_eq!(lines.pending(), 0);
        }
    }

    #[test]
    fn a_line_cut_by_a_disconnect_is_never_returned() {
        let mut lines = Lines::default();
        lines
            .push(b"{\"data\":{\"id\":\"1\"}}\r\n{\"data\":{\"id\"")
            .unwrap();
        assert_eq!(all(&mut lines), ["{\"data\":{\"id\":\"1\"}}"]);
        assert_eq!(lines.pending(), 13);
        lines.clear();
        lines.push(b"{\"data\":{\"id\":\"2\"}}\r\n").unwrap();
        assert_eq!(all(&mut lines), ["{\"data\":{\"id\":\"2\"}}"]);
    }

    #[test]
    fn a_runaway_line_is_an_error() {
        let mut lines = Lines::default();
        let chunk = vec![b'x'; 1 << 20];
        let mut result = Ok(());
        for _ in 0..17 {
            result = lines.push(&chunk);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(LineTooLong));
    }

    #[test]
    fn classifies_tweets_keep_alives_and_operational_messages() {
        assert_eq!(classify(b""), Line::KeepAlive);
        assert_eq!(classify(b"\r"), Line::KeepAlive);
        assert_eq!(
            classify(
                br#"{"data":{"id":"1","text":"hi"},"matching_rules":[{"id":"9","tag":"ai"}]}"#
            ),
            Line::Tweet
        );
        // A tweet whose expansion failed still is a tweet.
        assert_eq!(
            classify(br#"{"data":{"id":"1"},"errors":[{"title":"Not Found Error"}]}"#),
            Line::Tweet
        );
        let Line::Errors(errors) = classify(
            br#"{"errors":[{"title":"operational-disconnect","disconnect_type":"UpstreamOperationalDisconnect","detail":"This stream has been disconnected upstream for operational reasons.","type":"https://api.twitter.com/2/problems/operational-disconnect"}]}"#,
        ) else {
            panic!("not an errors message");
        };
        assert!(errors[0].is_disconnect());
        assert_eq!(
            errors[0].describe(),
            "operational-disconnect: This stream has been disconnected upstream for \
             operational reasons. (UpstreamOperationalDisconnect)"
        );
        let Line::Errors(errors) =
            classify(br#"{"errors":[{"title":"Invalid Request","detail":"x"}]}"#)
        else {
            panic!("not an errors message");
        };
        assert!(!errors[0].is_disconnect());
        assert_eq!(classify(br#"{"meta":{"sent":"now"}}"#), Line::Other);
        assert_eq!(classify(b"not json"), Line::Unreadable);
        assert_eq!(classify(b"[1,2]"), Line::Unreadable);
    }
}
