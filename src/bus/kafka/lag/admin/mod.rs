//! The consumer-group part of librdkafka's Admin API, for the Lag pane: ListConsumerGroups,
//! DescribeConsumerGroups and ListConsumerGroupOffsets.
//!
//! rdkafka 0.39 wraps none of the three, so this calls librdkafka through
//! `rdkafka::bindings`, as `topic_id.rs` does for DescribeTopics: requests are posted on the
//! caller's one client handle, answered as events on a queue of our own, and every native
//! object is owned by a guard that frees it on every path. What a result holds is copied
//! into Rust values before its event is destroyed.
//!
//! ListConsumerGroupOffsets takes exactly one group per call (librdkafka 2.12: "the current
//! implementation only supports one group per invocation"; it sends one OffsetFetch to the
//! group's coordinator), so many groups are asked concurrently on the same handle and queue,
//! at most [`IN_FLIGHT`] at a time. DescribeConsumerGroups takes any number of groups in one
//! call (librdkafka fans it out per coordinator and answers with one event).

mod native;
mod probe;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::bus::kafka::ffi::{text, Owned};
use native::{event_error, new_queue, options, poll, slice};
use rdkafka::bindings as rd;
use rdkafka::client::{Client, ClientContext};

pub use probe::probe;

/// Offset requests waiting for an answer at once (one client, one queue).
pub const IN_FLIGHT: usize = 32;
/// librdkafka's timeout for each admin request; it answers with an error event after it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A consumer group as the cluster lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub group: String,
    /// Has (or may have) members: not `Empty` and not `Dead`. Only those have assignments
    /// worth describing.
    pub active: bool,
}

/// Next offset to read per asked partition; `None` where the group never committed.
pub type Committed = BTreeMap<i32, Option<i64>>;

/// Who consumes each partition of the topic now (`client-id@host`).
pub type Members = BTreeMap<i32, String>;

/// What one round of requests returned.
#[derive(Debug, Default)]
pub struct Probe {
    /// Per group asked for offsets: its offsets, or why they could not be read.
    pub offsets: HashMap<String, Result<Committed, String>>,
    /// Per described group that has members on the topic.
    pub members: HashMap<String, Members>,
    /// Why describing failed (members are then unknown; offsets still count).
    pub describe_error: Option<String>,
    /// Offset requests the cluster did not answer (timed out, not sent, or refused by the
    /// client), as opposed to answers that carry an error.
    pub unanswered: usize,
}

/// Every consumer group the cluster knows (one ListGroups request per broker).
pub fn list_groups<C: ClientContext>(client: &Client<C>) -> Result<Vec<Listing>, String> {
    let rk = client.native_ptr();
    let queue = new_queue(rk)?;
    let opts = options(
        rk,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS,
    )?;
    // SAFETY: `rk`, `opts` and `queue` are live; librdkafka copies the options and posts the
    // result event to `queue`.
    unsafe { rd::rd_kafka_ListConsumerGroups(rk, opts.ptr(), queue.ptr()) };
    let event = poll(&queue, REQUEST_TIMEOUT + Duration::from_secs(2))
        .ok_or_else(|| "listing consumer groups: no answer".to_string())?;
    let ev = event.ptr();
    // SAFETY: `ev` is a live event owned by `event`; every pointer read below belongs to it
    // and is only used before it is dropped.
    unsafe {
        if let Some(e) = event_error(ev) {
            return Err(format!("listing consumer groups: {e}"));
        }
        if rd::rd_kafka_event_type(ev) != rd::RD_KAFKA_EVENT_LISTCONSUMERGROUPS_RESULT {
            return Err("listing consumer groups: unexpected event".into());
        }
        let result = rd::rd_kafka_event_ListConsumerGroups_result(ev);
        let mut n = 0;
        let valid = rd::rd_kafka_ListConsumerGroups_result_valid(result, &mut n);
        let mut out = Vec::with_capacity(n);
        for &g in slice(valid, n) {
            use rd::rd_kafka_consumer_group_state_t as S;
            let state = rd::rd_kafka_ConsumerGroupListing_state(g);
            out.push(Listing {
                group: text(rd::rd_kafka_ConsumerGroupListing_group_id(g)),
                active: !matches!(
                    state,
                    S::RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY | S::RD_KAFKA_CONSUMER_GROUP_STATE_DEAD
                ),
            });
        }
        // Errors are per broker: with some listings we go on (the next refresh asks again),
        // with none the cluster did not answer.
        let mut n_err = 0;
        let errors = rd::rd_kafka_ListConsumerGroups_result_errors(result, &mut n_err);
        if let Some(&first) = slice(errors, n_err).first() {
            let e = text(rd::rd_kafka_error_string(first));
            if out.is_empty() {
                return Err(format!("listing consumer groups: {e}"));
            }
            tracing::debug!(error = %e, "listing consumer groups: partial answer");
        }
        Ok(out)
    }
}

/// Serves the client's main queue, where librdkafka leaves its log lines and errors for the
/// application (rdkafka's `Client` routes logs there); returns the error-level ones, oldest
/// first. Without this they would pile up in memory while the broker is away.
pub fn drain_main_queue<C: ClientContext>(client: &Client<C>) -> Vec<String> {
    let rk = client.native_ptr();
    // SAFETY: `rk` is live; the handle returned is ours and freed by its guard.
    let Some(main) = Owned::new(
        unsafe { rd::rd_kafka_queue_get_main(rk) },
        rd::rd_kafka_queue_destroy,
    ) else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    // Bounded: a flood of events is served over several refreshes.
    for _ in 0..10_000 {
        let Some(event) = poll(&main, Duration::ZERO) else {
            break;
        };
        let ev = event.ptr();
        // SAFETY: `ev` is live while read; strings are copied out.
        unsafe {
            match rd::rd_kafka_event_type(ev) {
                rd::RD_KAFKA_EVENT_LOG => {
                    let (mut fac, mut msg, mut level) = (std::ptr::null(), std::ptr::null(), 0);
                    if rd::rd_kafka_event_log(ev, &mut fac, &mut msg, &mut level) == 0 {
                        let msg = text(msg);
                        tracing::debug!(target: "librdkafka", syslog_level = level, fac = %text(fac), "{msg}");
                        // syslog levels: 3 is "error" (librdkafka's connection failures).
                        if level <= 3 {
                            errors.push(msg);
                        }
                    }
                }
                rd::RD_KAFKA_EVENT_ERROR => errors.push(text(rd::rd_kafka_event_error_string(ev))),
                _ => {}
            }
        }
    }
    errors
}
