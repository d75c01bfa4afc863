//! Bounded per-stage log: external command output, stage events and errors.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
    Event,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    pub stream: LogStream,
    pub text: String,
}

/// Cheap to clone; keeps the newest `capacity` lines.
#[derive(Debug, Clone)]
pub struct LogBuffer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    capacity: usize,
    lines: Mutex<VecDeque<LogLine>>,
    /// Lines ever pushed: lets readers see whether anything changed.
    pushed: AtomicU64,
}

/// Longest line kept; longer output lines are cut (with a marker).
pub const MAX_LINE: usize = 4096;

impl LogBuffer {
    pub fn new(capacity: usize) -> Self {
        LogBuffer {
            inner: Arc::new(Inner {
                capacity: capacity.max(1),
                lines: Mutex::new(VecDeque::new()),
                pushed: AtomicU64::new(0),
            }),
        }
    }

    pub fn push(&self, stream: LogStream, text: impl Into<String>) {
        let mut text: String = text.into();
        if text.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str(" [...]");
        }
        let mut lines = self.inner.lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == self.inner.capacity {
            lines.pop_front();
        }
        lines.push_back(LogLine {
            at: Utc::now(),
            stream,
            text,
        });
        self.inner.pushed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn event(&self, text: impl Into<String>) {
        self.push(LogStream::Event, text);
    }

    pub fn pushed(&self) -> u64 {
        self.inner.pushed.load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> Vec<LogLine> {
        let lines = self.inner.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_lines_and_cuts_long_ones() {
        let log = LogBuffer::new(3);
        for i in 0..5 {
            log.event(format!("line {i}"));
        }
        let texts: Vec<String> = log.snapshot().into_iter().map(|l| l.text).collect();
        assert_eq!(texts, vec!["line 2", "line 3", "line 4"]);
        assert_eq!(log.pushed(), 5);
        log.push(LogStream::Stdout, "é".repeat(MAX_LINE));
        let last = log.snapshot().pop().unwrap();
        assert!(last.text.len() <= MAX_LINE + 6 && last.text.ends_with("[...]"));
    }
}
