//! Kafka's topic id (Admin API DescribeTopics) against a real broker: stable for one topic,
//! new when the topic is deleted and created again under the same name, and an unknown topic
//! is reported as such. The broker comes from SSP_TEST_KAFKA_BOOTSTRAP
//! (scripts/start-kafka.sh prints one).

use crate::kafka_common;

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use ssp_tui::bus::kafka::{client_config, KafkaBus};
use ssp_tui::bus::{Bus, BusError};
use ssp_tui::config::Settings;

/// The broker, or `None` (skip) when it is not configured; a failure when services are
/// required (`SSP_REQUIRE_SERVICES=1`, or `CI=true` like the other Kafka tests).
fn bootstrap() -> Option<String> {
    crate::kafka_common::bootstrap()
}

/// The topic's id, waiting out the short time before a new topic's metadata is served.
async fn id_when_ready(bus: &KafkaBus, topic: &str) -> String {
    let t0 = Instant::now();
    loop {
        match bus.topic_identity(topic).await {
            Ok(id) => return id,
            Err(BusError::UnknownTopic(_)) if t0.elapsed() < Duration::from_secs(15) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("topic id of {topic}: {e}"),
        }
    }
}

/// `kafka-` and Kafka's text form of a UUID: 22 characters of URL-safe base64, no padding.
fn assert_id_form(id: &str) {
    let uuid = id
        .strip_prefix("kafka-")
        .unwrap_or_else(|| panic!("no kafka- prefix: {id}"));
    assert_eq!(uuid.len(), 22, "{id}");
    assert!(
        uuid.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "not URL-safe base64: {id}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_id_is_stable_and_changes_when_the_topic_is_recreated() {
    let Some(bootstrap) = bootstrap() else { return };
    let dir = tempfile::tempdir().unwrap();
    let topic = kafka_common::unique("topic_id");
    let env = kafka_common::kafka_env(&bootstrap, &topic, dir.path());
    let settings = Settings::load_with_env(Some(&kafka_common::repo_config()), &env).unwrap();
    let bus = KafkaBus::new(settings.kafka.clone()).unwrap();
    let admin: AdminClient<DefaultClientContext> = client_config(&settings.kafka).create().unwrap();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));

    let missing = kafka_common::unique("topic_id_missing");
    match bus.topic_identity(&missing).await {
        Err(BusError::UnknownTopic(t)) => assert_eq!(t, missing),
        other => panic!("a topic never created: {other:?}"),
    }

    bus.ensure_topic(&topic, 3).await.unwrap();
    let first = id_when_ready(&bus, &topic).await;
    let again = bus.topic_identity(&topic).await.unwrap();
    eprintln!("{topic}: {first}");
    assert!(
        first.starts_with("kafka-") && first.len() > "kafka-".len(),
        "{first}"
    );
    assert_eq!(first, again, "one topic, one id");

    for r in admin.delete_topics(&[&topic], &opts).await.unwrap() {
        r.unwrap();
    }
    // Deletion is asynchronous: wait until the broker no longer knows the name, so the
    // create below makes a new topic (ensure_topic accepts "already exists").
    let t0 = Instant::now();
    loop {
        match bus.topic_identity(&topic).await {
            Err(BusError::UnknownTopic(_)) => break,
            Ok(id) if t0.elapsed() < Duration::from_secs(30) => {
                assert_eq!(id, first, "the deleted topic's id");
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            other => panic!("{topic} still there after deletion: {other:?}"),
        }
    }

    bus.ensure_topic(&topic, 3).await.unwrap();
    let second = id_when_ready(&bus, &topic).await;
    eprintln!("{topic} recreated: {second}");
    assert_id_form(&second);
    assert_ne!(first, second, "a recreated topic gets a new id");
    assert_eq!(second, bus.topic_identity(&topic).await.unwrap());

    for r in admin.delete_topics(&[&topic], &opts).await.unwrap() {
        r.unwrap();
    }
}
