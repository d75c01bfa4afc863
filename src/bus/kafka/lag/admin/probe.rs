//! One round of group requests on one client and queue: ListConsumerGroupOffsets per group
//! (at most [`IN_FLIGHT`] at a time) and one DescribeConsumerGroups, with their results read.

use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::os::raw::c_char;
use std::time::{Duration, Instant};

use super::native::{event_error, new_queue, options, poll, slice};
use super::{Committed, Members, Probe, IN_FLIGHT};
use crate::bus::kafka::ffi::{text, Owned};
use rdkafka::bindings as rd;
use rdkafka::client::{Client, ClientContext};

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
