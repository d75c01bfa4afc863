//! `[kafka]`: brokers, topic, producer tuning, and librdkafka properties passed through as
//! `properties.<name> = value` (so SASL / TLS clusters work).

use super::reader::Reader;
use super::sections::valid_topic;
use super::ConfigError;

#[derive(Clone)]
pub struct KafkaSettings {
    pub bootstrap_servers: String,
    pub topic: String,
    pub client_id: String,
    pub replication: i32,
    /// Producer acks: `all` (required by the idempotent producer), `1` or `0`.
    pub acks: String,
    pub compression: String,
    pub linger_ms: u64,
    /// Messages the producer buffers locally before `send` waits (back-pressure).
    pub buffer_messages: u64,
    /// Consumer groups are named `<group_prefix>-<stage>` (e.g. `ssp-bronze`).
    pub group_prefix: String,
    /// Consumer groups the Lag pane always shows, besides those that consume the topic.
    pub lag_groups: Vec<String>,
    /// librdkafka properties, passed through as they are.
    pub properties: Vec<(String, String)>,
}

impl KafkaSettings {
    /// The consumer group of a stage: `<group_prefix>-<stage>`.
    pub fn group(&self, stage: &str) -> String {
        format!("{}-{stage}", self.group_prefix)
    }
}

impl std::fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Pass-through properties may hold SASL passwords: show their names only.
        let names: Vec<&str> = self.properties.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("KafkaSettings")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("topic", &self.topic)
            .field("acks", &self.acks)
            .field("compression", &self.compression)
            .field("properties", &names)
            .finish_non_exhaustive()
    }
}

const KEYS: &[&str] = &[
    "bootstrap_servers",
    "topic",
    "client_id",
    "replication",
    "acks",
    "compression",
    "linger_ms",
    "buffer_messages",
    "lag_groups",
    "group_prefix",
];

pub(super) fn parse(r: &Reader) -> Result<KafkaSettings, ConfigError> {
    let mut properties = Vec::new();
    if let Some(keys) = r.section_keys("kafka") {
        for key in keys {
            if let Some(prop) = key.strip_prefix("properties.") {
                properties.push((prop.to_string(), r.string("kafka", &key, "")));
            } else if !KEYS.contains(&key.as_str()) {
                return Err(ConfigError::UnknownKey {
                    key: format!("kafka.{key}"),
                    expected: format!("{}, or properties.<librdkafka property>", KEYS.join(", ")),
                });
            }
        }
    }
    let topic = r.string("kafka", "topic", "twitter_data");
    if !valid_topic(&topic) {
        return Err(ConfigError::invalid(
            "kafka.topic",
            &topic,
            "a topic name of 1-249 characters from [a-zA-Z0-9._-]",
        ));
    }
    let acks = r.string("kafka", "acks", "all");
    if !["all", "-1", "1", "0"].contains(&acks.as_str()) {
        return Err(ConfigError::invalid(
            "kafka.acks",
            &acks,
            "one of all | 1 | 0",
        ));
    }
    let compression = r.choice(
        "kafka",
        "compression",
        "lz4",
        &[
            ("none", "none"),
            ("gzip", "gzip"),
            ("snappy", "snappy"),
            ("lz4", "lz4"),
        ],
    )?;
    Ok(KafkaSettings {
        bootstrap_servers: r.string("kafka", "bootstrap_servers", "localhost:9092"),
        topic,
        client_id: r.string("kafka", "client_id", "ssp-tui"),
        replication: r.parse("kafka", "replication", 1, "a whole number >= 1", |v| v >= 1)?,
        acks,
        compression: compression.to_string(),
        linger_ms: r.parse(
            "kafka",
            "linger_ms",
            5,
            "a whole number of milliseconds",
            |_| true,
        )?,
        buffer_messages: r.parse(
            "kafka",
            "buffer_messages",
            100_000,
            "a whole number of messages from 1 to 10000000",
            |v| (1..=10_000_000).contains(&v),
        )?,
        group_prefix: r.string("kafka", "group_prefix", "ssp"),
        lag_groups: lag_groups(&r.string("kafka", "lag_groups", ""))?,
        properties,
    })
}

/// `lag_groups`: comma-separated consumer group names (spaces around each are dropped), each
/// 1-255 characters without control characters, no name twice; empty for none.
fn lag_groups(value: &str) -> Result<Vec<String>, ConfigError> {
    if value.trim().is_empty() {
        return Ok(Vec::new());
    }
    let bad = || {
        ConfigError::invalid(
            "kafka.lag_groups",
            value,
            "a comma-separated list of consumer group names (1-255 characters each, \
             no control characters, none empty or twice)",
        )
    };
    let mut out: Vec<String> = Vec::new();
    for g in value.split(',').map(str::trim) {
        if g.is_empty()
            || g.chars().count() > 255
            || g.chars().any(char::is_control)
            || out.iter().any(|o| o == g)
        {
            return Err(bad());
        }
        out.push(g.to_string());
    }
    Ok(out)
}
