//! Small wrappers over librdkafka's C API shared by the admin requests: queues, options,
//! polling for events, event errors and C arrays.

use std::os::raw::c_char;
use std::time::Duration;

use super::REQUEST_TIMEOUT;
use crate::bus::kafka::ffi::{text, Owned};
use rdkafka::bindings as rd;

pub(super) fn new_queue(rk: *mut rd::rd_kafka_t) -> Result<Owned<rd::rd_kafka_queue_t>, String> {
    // SAFETY: `rk` is a live handle (borrowed from the caller's `Client`, which outlives the
    // queue: every queue here is dropped before the function that made it returns).
    Owned::new(
        unsafe { rd::rd_kafka_queue_new(rk) },
        rd::rd_kafka_queue_destroy,
    )
    .ok_or_else(|| "could not create a queue".to_string())
}

pub(super) fn options(
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
pub(super) fn poll(
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
pub(super) unsafe fn event_error(ev: *mut rd::rd_kafka_event_t) -> Option<String> {
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
pub(super) unsafe fn slice<'a, T>(p: *const T, n: usize) -> &'a [T] {
    if p.is_null() || n == 0 {
        return &[];
    }
    // SAFETY: per this function's contract.
    unsafe { std::slice::from_raw_parts(p, n) }
}
