//! When a member that does not get back to consuming is replaced (see [`Stuck`]).

use std::time::{Duration, Instant};

/// A member whose group has not settled, or that reads nothing while its partitions have
/// messages, for this long while a broker answers is replaced by a new consumer.
const STUCK: Duration = Duration::from_secs(60);

/// Decides when a member that does not get back to consuming is replaced: its group has not
/// settled, or it has read nothing while its partitions have messages, for [`STUCK`] while a
/// broker answers (librdkafka rejoins by itself in most cases; this is for the others).
#[derive(Debug, Default)]
pub(super) struct Stuck {
    unsettled: Option<Instant>,
    starved: Option<Instant>,
}

impl Stuck {
    /// One observation (after a poll); why to replace the member, when it is time to.
    pub(super) fn observe(
        &mut self,
        now: Instant,
        answers: bool,
        unsettled: bool,
        starving: bool,
    ) -> Option<String> {
        let since = |s: &mut Option<Instant>, on: bool| {
            *s = (on && answers).then(|| s.unwrap_or(now));
            s.map(|t| now - t).filter(|d| *d >= STUCK)
        };
        let unsettled = since(&mut self.unsettled, unsettled);
        let starved = since(&mut self.starved, starving);
        match (unsettled, starved) {
            (Some(d), _) => Some(format!("the group has not settled for {} s", d.as_secs())),
            (None, Some(d)) => Some(format!(
                "nothing read for {} s while its partitions have messages",
                d.as_secs()
            )),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_is_replaced_only_after_being_stuck_while_a_broker_answers() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut stuck = Stuck::default();
        // The broker is away for two minutes: waiting for it is not being stuck.
        for s in 0..120 {
            assert_eq!(stuck.observe(at(s), false, true, false), None);
        }
        // Back: librdkafka gets STUCK to rejoin by itself.
        assert_eq!(stuck.observe(at(120), true, true, false), None);
        assert_eq!(stuck.observe(at(179), true, true, false), None);
        assert_eq!(
            stuck.observe(at(180), true, true, false).as_deref(),
            Some("the group has not settled for 60 s")
        );
        // Settled and reading: nothing to do; reading nothing with messages waiting is.
        let mut stuck = Stuck::default();
        assert_eq!(stuck.observe(at(0), true, false, true), None);
        assert_eq!(stuck.observe(at(30), true, false, false), None, "it read");
        assert_eq!(stuck.observe(at(31), true, false, true), None);
        assert_eq!(
            stuck.observe(at(91), true, false, true).as_deref(),
            Some("nothing read for 60 s while its partitions have messages")
        );
    }
}
