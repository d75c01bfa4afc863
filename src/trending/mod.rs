//! Trending hashtags: counting hashtag occurrences all-time and over a sliding window, grouped
//! case-insensitively with a display form (the most frequent spelling), under Twitter's rule or
//! the original playground's (`seed`) rule. See [`rule`] for both rules.
//!
//! * [`counter`]: the hot path (a [`Counter`] is the delta of one flush);
//! * [`lake`]: counting bronze data files (projected columns, parallel files);
//! * [`gold`]: the `gold/trending_hashtags` Delta table (snapshots of the store's table);
//! * [`window`]: the committed window state and building store batches.
//!
//! The stage that runs this is [`crate::stage::trending`]; the tables live in
//! [`crate::store`].

pub mod counter;
pub mod gold;
pub mod lake;
pub use crate::tweet::hashtag_rule as rule;
pub mod watch;
pub mod window;

pub use counter::{Counter, Entry, Slot};
pub use lake::{count_file, count_files, CountError, FileBytes, FileCount};
pub use rule::{display_form, tag_key, HashtagRule, NO_TAGS};
pub use watch::TrendingView;
pub use window::{Window, WindowSpec};
