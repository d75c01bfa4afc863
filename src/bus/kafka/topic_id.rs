//! The topic id Kafka gives a topic at creation (a UUID): a topic deleted and created again
//! under the same name gets a new one, so offsets recorded for the old one are not reused.
//!
//! rdkafka 0.39 has no safe wrapper for the Admin API's DescribeTopics, so this calls
//! librdkafka through `rdkafka::bindings`: a short-lived client, one request answered on a
//! queue of our own, every native object owned by a guard that frees it on every path.

use std::ffi::CString;
use std::os::raw::c_char;
use std::time::Duration;

use super::ffi::{text, Owned};
use rdkafka::bindings as rd;
use rdkafka::client::{Client, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::types::RDKafkaType;

use crate::bus::BusError;
use crate::config::KafkaSettings;

/// How long the broker gets to answer (librdkafka's request timeout for the call).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long we wait for the result event: librdkafka reports a timeout itself before this.
const POLL_TIMEOUT: Duration = Duration::from_secs(12);

/// The topic's id as `kafka-<uuid>`, the UUID in Kafka's own text form (22 characters of
/// URL-safe base64, as `kafka-topics.sh --describe` prints it).
///
/// `BusError::UnknownTopic` when the broker does not know `topic` (as the embedded bus and
/// the lag reader report it), `BusError::Broker` for anything else, including no answer
/// within about 12 s.
pub async fn describe(settings: &KafkaSettings, topic: &str) -> Result<String, BusError> {
    let config = super::client_config(settings);
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || describe_blocking(&config, &topic))
        .await
        .map_err(|e| BusError::Broker(format!("describing a topic: {e}")))?
}

fn describe_blocking(config: &ClientConfig, topic: &str) -> Result<String, BusError> {
    let fail = |what: &str| BusError::Broker(format!("describing topic {topic}: {what}"));
    let name = CString::new(topic).map_err(|_| fail("the name holds a NUL byte"))?;
    let native = config
        .create_native_config()
        .map_err(|e| fail(&e.to_string()))?;
    // A plain client (no admin polling thread); librdkafka's admin clients are producers.
    let client = Client::new(
        config,
        native,
        RDKafkaType::RD_KAFKA_PRODUCER,
        DefaultClientContext,
    )
    .map_err(|e| fail(&e.to_string()))?;
    let rk = client.native_ptr();

    // Declared after `client`, so dropped before it: librdkafka wants the queue and options
    // gone before the handle is destroyed.
    // SAFETY: `rk` is a live handle owned by `client`, which outlives this queue.
    let queue = Owned::new(
        unsafe { rd::rd_kafka_queue_new(rk) },
        rd::rd_kafka_queue_destroy,
    )
    .ok_or_else(|| fail("could not create a queue"))?;
    let op = rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBETOPICS;
    // SAFETY: as above; the options are freed by their guard.
    let opts = Owned::new(
        unsafe { rd::rd_kafka_AdminOptions_new(rk, op) },
        rd::rd_kafka_AdminOptions_destroy,
    )
    .ok_or_else(|| fail("could not create admin options"))?;
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
        return Err(fail(&unsafe { text(errstr.as_ptr()) }));
    }
    let mut names = [name.as_ptr()];
    // SAFETY: one valid C string for the duration of the call; librdkafka copies it.
    let topics = Owned::new(
        unsafe { rd::rd_kafka_TopicCollection_of_topic_names(names.as_mut_ptr(), 1) },
        rd::rd_kafka_TopicCollection_destroy,
    )
    .ok_or_else(|| fail("could not create a topic collection"))?;
    // SAFETY: every argument is live; librdkafka copies the collection and options, and
    // posts the result to `queue`.
    unsafe { rd::rd_kafka_DescribeTopics(rk, topics.ptr(), opts.ptr(), queue.ptr()) };
    // SAFETY: `queue` is live; the event returned (if any) is ours and freed by its guard.
    let event = Owned::new(
        unsafe { rd::rd_kafka_queue_poll(queue.ptr(), POLL_TIMEOUT.as_millis() as i32) },
        rd::rd_kafka_event_destroy,
    )
    .ok_or_else(|| fail(&format!("no answer within {POLL_TIMEOUT:?}")))?;
    read_id(event.ptr(), topic).map_err(|e| match e {
        Error::Unknown => BusError::UnknownTopic(topic.to_string()),
        Error::Other(what) => fail(&what),
    })
}

enum Error {
    Unknown,
    Other(String),
}

/// The id in a DescribeTopics result event (everything read is copied out of it).
fn read_id(ev: *mut rd::rd_kafka_event_t, topic: &str) -> Result<String, Error> {
    use rd::rd_kafka_resp_err_t as E;
    // SAFETY: `ev` is a live event (owned by the caller's guard) and every pointer read here
    // belongs to it; strings are copied into `String`s before it is destroyed.
    unsafe {
        if rd::rd_kafka_event_error(ev) != E::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(Error::Other(text(rd::rd_kafka_event_error_string(ev))));
        }
        if rd::rd_kafka_event_type(ev) != rd::RD_KAFKA_EVENT_DESCRIBETOPICS_RESULT {
            return Err(Error::Other("unexpected result event".into()));
        }
        let result = rd::rd_kafka_event_DescribeTopics_result(ev);
        let mut n = 0;
        let descs = rd::rd_kafka_DescribeTopics_result_topics(result, &mut n);
        if descs.is_null() || n == 0 {
            return Err(Error::Other("empty answer".into()));
        }
        let desc = std::slice::from_raw_parts(descs, n)
            .iter()
            .copied()
            .find(|d| text(rd::rd_kafka_TopicDescription_name(*d)) == topic)
            .ok_or_else(|| Error::Other("the answer is about another topic".into()))?;
        let err = rd::rd_kafka_TopicDescription_error(desc);
        if !err.is_null() {
            return Err(match rd::rd_kafka_error_code(err) {
                E::RD_KAFKA_RESP_ERR_NO_ERROR => Error::Other("error without a code".into()),
                E::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART => Error::Unknown,
                _ => Error::Other(text(rd::rd_kafka_error_string(err))),
            });
        }
        let id = rd::rd_kafka_TopicDescription_topic_id(desc);
        if id.is_null()
            || (rd::rd_kafka_Uuid_most_significant_bits(id) == 0
                && rd::rd_kafka_Uuid_least_significant_bits(id) == 0)
        {
            return Err(Error::Other(
                "the broker gave no topic id (Kafka < 2.8?)".into(),
            ));
        }
        // librdkafka encodes with the standard alphabet; Kafka's own text form (kafka-topics,
        // partition.metadata) is URL-safe base64: same bytes, `-` and `_` for `+` and `/`.
        let id = text(rd::rd_kafka_Uuid_base64str(id))
            .replace('+', "-")
            .replace('/', "_");
        Ok(format!("kafka-{id}"))
    }
}
