//! The Feed pane's state: a bounded history of the newest tweets, a pause point and a filter.

use std::collections::VecDeque;

use crate::tweet::Tweet;

/// Tweets kept for the view (older ones are dropped: the lake has them all).
pub const FEED_HISTORY: usize = 1000;

pub struct FeedState {
    items: VecDeque<(u64, Tweet)>,
    next_seq: u64,
    /// While paused, only tweets up to this sequence number are shown.
    paused_at: Option<u64>,
    filter: Option<String>,
    /// Rows scrolled away from the newest (only while paused).
    pub scroll: usize,
    /// Tweets received in total.
    pub received: u64,
}

impl Default for FeedState {
    fn default() -> Self {
        FeedState {
            items: VecDeque::with_capacity(FEED_HISTORY),
            next_seq: 0,
            paused_at: None,
            filter: None,
            scroll: 0,
            received: 0,
        }
    }
}

impl FeedState {
    pub fn push(&mut self, tweet: Tweet) {
        if self.items.len() == FEED_HISTORY {
            self.items.pop_front();
        }
        self.items.push_back((self.next_seq, tweet));
        self.next_seq += 1;
        self.received += 1;
    }

    /// Tweets that arrived since the view was paused (0 when not paused).
    pub fn new_since_pause(&self) -> u64 {
        self.paused_at
            .map_or(0, |at| self.next_seq.saturating_sub(at))
    }

    pub fn paused(&self) -> bool {
        self.paused_at.is_some()
    }

    pub fn toggle_pause(&mut self) {
        self.paused_at = match self.paused_at {
            Some(_) => None,
            None => Some(self.next_seq),
        };
        self.scroll = 0;
    }

    pub fn filter(&self) -> Option<&str> {
        self.filter.as_deref()
    }

    pub fn set_filter(&mut self, filter: Option<String>) {
        self.filter = filter
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty());
        self.scroll = 0;
    }

    pub fn scroll_by(&mut self, delta: isize) {
        if !self.paused() {
            return;
        }
        let max = self.matching().count().saturating_sub(1);
        self.scroll = (self.scroll as isize + delta).clamp(0, max as isize) as usize;
    }

    fn matching(&self) -> impl Iterator<Item = &Tweet> {
        let limit = self.paused_at.unwrap_or(u64::MAX);
        let filter = self.filter.as_deref().map(Filter::new);
        self.items
            .iter()
            .rev()
            .filter(move |(seq, _)| *seq < limit)
            .map(|(_, t)| t)
            .filter(move |t| filter.as_ref().is_none_or(|f| f.matches(t)))
    }

    /// Up to `n` tweets to show, newest first, after the filter, pause point and scroll.
    pub fn visible(&self, n: usize) -> Vec<&Tweet> {
        self.matching().skip(self.scroll).take(n).collect()
    }

    pub fn matching_count(&self) -> usize {
        self.matching().count()
    }
}

/// `#tag` matches a hashtag (case-insensitive); anything else is a substring of the text or
/// the author (case-insensitive).
struct Filter {
    tag: Option<String>,
    needle: String,
}

impl Filter {
    fn new(f: &str) -> Filter {
        let needle = f.to_lowercase();
        Filter {
            tag: needle.strip_prefix('#').map(str::to_string),
            needle,
        }
    }

    fn matches(&self, t: &Tweet) -> bool {
        if let Some(tag) = &self.tag {
            return t.hashtags.iter().any(|h| h.to_lowercase() == *tag);
        }
        t.text.to_lowercase().contains(&self.needle)
            || t.author
                .as_deref()
                .is_some_and(|a| a.to_lowercase().contains(&self.needle))
    }
}
