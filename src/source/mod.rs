//! Where tweets come from: generated (synthetic), replayed files, the X API.
//! Sources produce raw JSON records; parsing happens downstream so bad records reach the
//! dead-letter place with their bytes intact.

mod chunks;
pub mod key;
pub mod pacer;
pub mod replay;
pub mod x_api;

pub use key::tweet_key;
pub use pacer::{Pacer, TimedPacer};
pub use replay::Replay;
