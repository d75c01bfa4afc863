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

use std::collections::{BTreeMap, HashMap};
use std::ffi::{c_void, CString};
use std::os::raw::c_char;
use std::time::{Duration, Instant};

use crate::bus::kafka::ffi::{text, Owned};
use rdkafka::bindings as rd;
use rdkafka::client::{Client, ClientContext};

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

/// Committed offsets on `topic`'s `partitions` of every group in `offsets_of`, and the members
/// on `topic` of every group in `describe`, all through the one client of `client`.
///
/// Gives up waiting after `limit`: groups not answered by then have an error.
pub fn probe<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    partitions: &[i32],
    offsets_of: &[String],
    describe: &[String],
    limit: Duration,
) -> Result<Probe, String> {
    let deadline = Instant::now() + limit;
    let rk = client.native_ptr();
    let topic_c = CString::new(topic).map_err(|_| format!("topic {topic:?} holds a NUL byte"))?;
    let queue = new_queue(rk)?;
    let offsets_opts = options(
        rk,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
    )?;
    let mut out = Probe::default();

    // The partitions to ask about, built once; librdkafka copies it into every request.
    // SAFETY: a new list of the given capacity, freed by its guard.
    let tpl = Owned::new(
        unsafe { rd::rd_kafka_topic_partition_list_new(partitions.len() as i32) },
        rd::rd_kafka_topic_partition_list_destroy,
    )
    .ok_or("could not create a partition list")?;
    for p in partitions {
        // SAFETY: `tpl` is live and `topic_c` a valid C string (copied by librdkafka).
        unsafe { rd::rd_kafka_topic_partition_list_add(tpl.ptr(), topic_c.as_ptr(), *p) };
    }

    let mut describing = false;
    let names: Vec<CString> = describe
        .iter()
        .filter_map(|g| CString::new(g.as_str()).ok())
        .collect();
    if !names.is_empty() {
        let opts = options(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS,
        )?;
        let mut ptrs: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
        // SAFETY: `ptrs` holds valid C strings that outlive the call (librdkafka copies them);
        // the options are copied too; the answer comes as one event on `queue`.
        unsafe {
            rd::rd_kafka_DescribeConsumerGroups(
                rk,
                ptrs.as_mut_ptr(),
                ptrs.len(),
                opts.ptr(),
                queue.ptr(),
            )
        };
        describing = true;
    }

    let mut next = 0; // index in `offsets_of` of the next group to ask
    let mut in_flight = 0;
    let (mut answered, mut failed) = (0, 0);
    loop {
        // A full round of failures and no answer: the cluster is not answering (timeouts),
        // so the rest is not asked; the refresh fails in seconds instead of in waves.
        let giving_up = failed >= IN_FLIGHT && answered == 0;
        while next < offsets_of.len() && in_flight < IN_FLIGHT && !giving_up {
            let group = &offsets_of[next];
            next += 1;
            match send_offsets_request(rk, &queue, &offsets_opts, &tpl, group, next) {
                Ok(()) => in_flight += 1,
                Err(e) => {
                    out.offsets.insert(group.clone(), Err(e));
                }
            }
        }
        if in_flight == 0 && !describing {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(event) = poll(&queue, left) else {
            break; // out of time: what is still missing is reported below
        };
        let ev = event.ptr();
        // SAFETY: `ev` is live (owned by `event`) while it is read.
        let kind = unsafe { rd::rd_kafka_event_type(ev) };
        if kind == rd::RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT {
            in_flight -= 1;
            // The opaque is the 1-based index of the group in `offsets_of` (set when sent).
            // SAFETY: as above.
            let index = unsafe { rd::rd_kafka_event_opaque(ev) } as usize;
            let Some(group) = index.checked_sub(1).and_then(|i| offsets_of.get(i)) else {
                continue;
            };
            // SAFETY: as above.
            if unsafe { event_error(ev) }.is_some() {
                failed += 1; // the request itself failed: no answer from the cluster
            } else {
                answered += 1;
            }
            // SAFETY: as above.
            let committed = unsafe { read_offsets(ev, topic, partitions) };
            out.offsets.insert(group.clone(), committed);
        } else if kind == rd::RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT {
            describing = false;
            // SAFETY: as above.
            match unsafe { read_members(ev, topic) } {
                Ok(members) => out.members = members,
                Err(e) => out.describe_error = Some(e),
            }
        }
    }
    out.unanswered = offsets_of.len() - answered;
    for (i, group) in offsets_of.iter().enumerate() {
        out.offsets.entry(group.clone()).or_insert_with(|| {
            Err(if i < next {
                format!("no answer within {limit:?}")
            } else {
                "not asked: the cluster did not answer the others".to_string()
            })
        });
    }
    if describing {
        out.describe_error = Some(format!("no answer within {limit:?}"));
    }
    // Dropping `queue` (declared after nothing that needs it) disables it: answers still on
    // their way are discarded by librdkafka, which holds its own reference to the queue.
    Ok(out)
}

fn send_offsets_request(
    rk: *mut rd::rd_kafka_t,
    queue: &Owned<rd::rd_kafka_queue_t>,
    opts: &Owned<rd::rd_kafka_AdminOptions_t>,
    tpl: &Owned<rd::rd_kafka_topic_partition_list_t>,
    group: &str,
    opaque: usize,
) -> Result<(), String> {
    let name = CString::new(group).map_err(|_| "the group name holds a NUL byte".to_string())?;
    // SAFETY: `name` and `tpl` are valid for the call; the object copies both and is freed by
    // its guard after the request (which copies it again) is posted.
    let request = Owned::new(
        unsafe { rd::rd_kafka_ListConsumerGroupOffsets_new(name.as_ptr(), tpl.ptr()) },
        rd::rd_kafka_ListConsumerGroupOffsets_destroy,
    )
    .ok_or("could not create an offsets request")?;
    let mut requests = [request.ptr()];
    // SAFETY: `opts` is live; the opaque is a plain number, never dereferenced. The request
    // copies the options (with this opaque) when posted, so `opts` can be reused at once.
    unsafe {
        rd::rd_kafka_AdminOptions_set_opaque(opts.ptr(), opaque as *mut c_void);
        rd::rd_kafka_ListConsumerGroupOffsets(
            rk,
            requests.as_mut_ptr(),
            1,
            opts.ptr(),
            queue.ptr(),
        );
    }
    Ok(())
}

/// The committed offsets in a ListConsumerGroupOffsets result event.
///
/// # Safety
/// `ev` is a live event.
unsafe fn read_offsets(
    ev: *mut rd::rd_kafka_event_t,
    topic: &str,
    partitions: &[i32],
) -> Result<Committed, String> {
    // SAFETY: per this function's contract; everything read belongs to `ev`.
    unsafe {
        if let Some(e) = event_error(ev) {
            return Err(e);
        }
        let result = rd::rd_kafka_event_ListConsumerGroupOffsets_result(ev);
        let mut n = 0;
        let groups = rd::rd_kafka_ListConsumerGroupOffsets_result_groups(result, &mut n);
        let group = *slice(groups, n).first().ok_or("empty answer")?;
        let err = rd::rd_kafka_group_result_error(group);
        if !err.is_null() {
            return Err(text(rd::rd_kafka_error_string(err)));
        }
        let mut out: Committed = partitions.iter().map(|p| (*p, None)).collect();
        let list = rd::rd_kafka_group_result_partitions(group);
        if list.is_null() {
            return Ok(out);
        }
        let list = &*list;
        for tp in slice(list.elems, list.cnt.max(0) as usize) {
            if text(tp.topic) != topic || !out.contains_key(&tp.partition) {
                continue;
            }
            if tp.err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                return Err(format!(
                    "partition {}: {}",
                    tp.partition,
                    text(rd::rd_kafka_err2str(tp.err))
                ));
            }
            // A negative offset (-1001, OFFSET_INVALID) means nothing committed there.
            out.insert(tp.partition, (tp.offset >= 0).then_some(tp.offset));
        }
        Ok(out)
    }
}

/// Per group with members on `topic`: partition -> member, from a DescribeConsumerGroups
/// result event. A group whose description failed is left out (logged).
///
/// # Safety
/// `ev` is a live event.
unsafe fn read_members(
    ev: *mut rd::rd_kafka_event_t,
    topic: &str,
) -> Result<HashMap<String, Members>, String> {
    // SAFETY: per this function's contract; everything read belongs to `ev`.
    unsafe {
        if let Some(e) = event_error(ev) {
            return Err(e);
        }
        let result = rd::rd_kafka_event_DescribeConsumerGroups_result(ev);
        let mut n = 0;
        let groups = rd::rd_kafka_DescribeConsumerGroups_result_groups(result, &mut n);
        let mut out = HashMap::new();
        for &g in slice(groups, n) {
            let name = text(rd::rd_kafka_ConsumerGroupDescription_group_id(g));
            let err = rd::rd_kafka_ConsumerGroupDescription_error(g);
            if !err.is_null() {
                let e = text(rd::rd_kafka_error_string(err));
                tracing::debug!(group = %name, error = %e, "describing a consumer group");
                continue;
            }
            let mut members = Members::new();
            for i in 0..rd::rd_kafka_ConsumerGroupDescription_member_count(g) {
                let m = rd::rd_kafka_ConsumerGroupDescription_member(g, i);
                if m.is_null() {
                    continue;
                }
                let assignment = rd::rd_kafka_MemberDescription_assignment(m);
                let list = if assignment.is_null() {
                    std::ptr::null()
                } else {
                    rd::rd_kafka_MemberAssignment_partitions(assignment)
                };
                if list.is_null() {
                    continue;
                }
                let who = format!(
                    "{}@{}",
                    text(rd::rd_kafka_MemberDescription_client_id(m)),
                    text(rd::rd_kafka_MemberDescription_host(m))
                );
                let list = &*list;
                for tp in slice(list.elems, list.cnt.max(0) as usize) {
                    if text(tp.topic) == topic {
                        members.insert(tp.partition, who.clone());
                    }
                }
            }
            if !members.is_empty() {
                out.insert(name, members);
            }
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

fn new_queue(rk: *mut rd::rd_kafka_t) -> Result<Owned<rd::rd_kafka_queue_t>, String> {
    // SAFETY: `rk` is a live handle (borrowed from the caller's `Client`, which outlives the
    // queue: every queue here is dropped before the function that made it returns).
    Owned::new(
        unsafe { rd::rd_kafka_queue_new(rk) },
        rd::rd_kafka_queue_destroy,
    )
    .ok_or_else(|| "could not create a queue".to_string())
}

fn options(
    rk: *mut rd::rd_kafka_t,
    op: rd::rd_kafka_admin_op_t,
) -> Result<Owned<rd::rd_kafka_AdminOptions_t>, String> {
    // SAFETY: `rk` is live; the options are freed by their guard.
    let opts = Owned::new(
        unsafe { rd::rd_kafka_AdminOptions_new(rk, op) },
        rd::rd_kafka_AdminOptions_destroy,
    )
    .ok_or("could not create admin options")?;
    let mut errstr = [0 as c_char; 256];
    // SAFETY: `opts` is live; `errstr` is writable for the length given and NUL-initialised.
    let err = unsafe {
        rd::rd_kafka_AdminOptions_set_request_timeout(
            opts.ptr(),
            REQUEST_TIMEOUT.as_millis() as i32,
            errstr.as_mut_ptr(),
            errstr.len(),
        )
    };
    if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        // SAFETY: librdkafka wrote a NUL-terminated message into the zeroed buffer.
        return Err(unsafe { text(errstr.as_ptr()) });
    }
    Ok(opts)
}

/// The next event on `queue`, waiting at most `timeout`.
fn poll(
    queue: &Owned<rd::rd_kafka_queue_t>,
    timeout: Duration,
) -> Option<Owned<rd::rd_kafka_event_t>> {
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: `queue` is live; the event returned (if any) is ours and freed by its guard.
    Owned::new(
        unsafe { rd::rd_kafka_queue_poll(queue.ptr(), ms) },
        rd::rd_kafka_event_destroy,
    )
}

/// The event's own error (the whole request failed), if any.
///
/// # Safety
/// `ev` is a live event.
unsafe fn event_error(ev: *mut rd::rd_kafka_event_t) -> Option<String> {
    // SAFETY: per this function's contract.
    unsafe {
        (rd::rd_kafka_event_error(ev) != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR)
            .then(|| text(rd::rd_kafka_event_error_string(ev)))
    }
}

/// A C array as a slice (empty for null).
///
/// # Safety
/// `p` is null or points to `n` initialised elements that outlive the slice.
unsafe fn slice<'a, T>(p: *const T, n: usize) -> &'a [T] {
    if p.is_null() || n == 0 {
        return &[];
    }
    // SAFETY: per this function's contract.
    unsafe { std::slice::from_raw_parts(p, n) }
}
