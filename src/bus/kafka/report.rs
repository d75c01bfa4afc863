//! What this process's Kafka clients could not do (yet), for the stages and for exit:
//!
//! - messages producers took and the broker has not acknowledged, counted from `send` until
//!   the broker's acknowledgement; a producer closed with some still unacknowledged adds them
//!   to the lost count ([`undelivered`] is what quitting reports, never dropped silently);
//! - producer incidents (a fatal error recovered from, messages refused) not yet shown on the
//!   stage that owns the producer ([`take_producer_errors`]);
//! - consumer groups that cannot reach their coordinator ([`consumer_waiting`]).
//!
//! The `Producer` / `Consumer` traits do not carry these; the registries here are keyed by
//! topic (and group), which the stages know.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// Messages of closed producers that were never acknowledged.
static LOST: AtomicU64 = AtomicU64::new(0);
static PRODUCERS: Mutex<Vec<Weak<Ledger>>> = Mutex::new(Vec::new());
static CONSUMERS: Mutex<Vec<Weak<GroupWatch>>> = Mutex::new(Vec::new());

fn live<T>(list: &Mutex<Vec<Weak<T>>>) -> Vec<Arc<T>> {
    let mut l = list.lock().unwrap_or_else(|p| p.into_inner());
    l.retain(|w| w.strong_count() > 0);
    l.iter().filter_map(Weak::upgrade).collect()
}

/// Messages taken by producers of this process and not acknowledged by the broker: still
/// queued or in flight, failed and waiting to be sent again, or lost with a closed producer.
pub fn undelivered() -> u64 {
    let open: u64 = live(&PRODUCERS)
        .iter()
        .filter(|l| !l.closed.load(Ordering::SeqCst))
        .map(|l| l.pending())
        .sum();
    open + LOST.load(Ordering::SeqCst)
}

/// Producer incidents on `topic` not taken yet (each one is logged when it happens).
pub fn take_producer_errors(topic: &str) -> Vec<String> {
    live(&PRODUCERS)
        .iter()
        .filter(|l| l.topic == topic)
        .flat_map(|l| std::mem::take(&mut *l.incidents.lock().unwrap_or_else(|p| p.into_inner())))
        .collect()
}

/// Why the consumer of `group` on `topic` cannot consume right now (its coordinator or broker
/// is unreachable), if it cannot.
pub fn consumer_waiting(group: &str, topic: &str) -> Option<String> {
    live(&CONSUMERS)
        .iter()
        .filter(|w| w.group == group && w.topic == topic)
        .find_map(|w| w.why.lock().unwrap_or_else(|p| p.into_inner()).clone())
}

/// One producer's account.
pub(super) struct Ledger {
    topic: String,
    pending: AtomicU64,
    incidents: Mutex<Vec<String>>,
    closed: AtomicBool,
}

impl Ledger {
    pub fn register(topic: &str) -> Arc<Ledger> {
        let l = Arc::new(Ledger {
            topic: topic.to_string(),
            pending: AtomicU64::new(0),
            incidents: Mutex::default(),
            closed: AtomicBool::new(false),
        });
        PRODUCERS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::downgrade(&l));
        l
    }

    /// A message taken.
    pub fn taken(&self) {
        self.pending.fetch_add(1, Ordering::SeqCst);
    }

    /// A message acknowledged by the broker.
    pub fn acknowledged(&self) {
        self.pending.fetch_sub(1, Ordering::SeqCst);
    }

    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::SeqCst)
    }

    /// Something the stage should show (as an error) and has not yet.
    pub fn incident(&self, what: String) {
        self.incidents
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(what);
    }

    /// The producer is closing: what it still holds is lost; returns how many.
    pub fn close(&self) -> u64 {
        if self.closed.swap(true, Ordering::SeqCst) {
            return 0;
        }
        let n = self.pending();
        LOST.fetch_add(n, Ordering::SeqCst);
        n
    }
}

/// One consumer's reachability, as its statistics show it.
pub(super) struct GroupWatch {
    group: String,
    topic: String,
    why: Mutex<Option<String>>,
}

impl GroupWatch {
    pub fn register(group: &str, topic: &str) -> Arc<GroupWatch> {
        let w = Arc::new(GroupWatch {
            group: group.to_string(),
            topic: topic.to_string(),
            why: Mutex::default(),
        });
        CONSUMERS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::downgrade(&w));
        w
    }

    pub fn set(&self, why: Option<String>) {
        *self.why.lock().unwrap_or_else(|p| p.into_inner()) = why;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_producer_adds_what_it_held_to_the_lost_count() {
        let before = undelivered();
        let l = Ledger::register("report-test-topic");
        l.taken();
        l.taken();
        l.taken();
        l.acknowledged();
        assert_eq!(undelivered(), before + 2);
        assert_eq!(l.close(), 2);
        assert_eq!(l.close(), 0, "counted once");
        drop(l);
        assert_eq!(undelivered(), before + 2, "lost, not forgotten");
    }

    #[test]
    fn incidents_are_taken_once_per_topic() {
        let a = Ledger::register("report-incidents-a");
        let _b = Ledger::register("report-incidents-b");
        a.incident("fatal".into());
        assert_eq!(
            take_producer_errors("report-incidents-b"),
            Vec::<String>::new()
        );
        assert_eq!(take_producer_errors("report-incidents-a"), vec!["fatal"]);
        assert!(take_producer_errors("report-incidents-a").is_empty());
    }

    #[test]
    fn a_consumer_says_why_it_waits_while_it_lives() {
        let w = GroupWatch::register("g-report", "t-report");
        assert_eq!(consumer_waiting("g-report", "t-report"), None);
        w.set(Some("coordinator unreachable".into()));
        assert_eq!(
            consumer_waiting("g-report", "t-report").as_deref(),
            Some("coordinator unreachable")
        );
        assert_eq!(consumer_waiting("other", "t-report"), None);
        drop(w);
        assert_eq!(consumer_waiting("g-report", "t-report"), None);
    }
}
