//! Lag and tail for the Kafka bus: watermarks, the committed offsets and members of the
//! consumer groups that read the tweet topic, and a group-less reader of the newest messages
//! (the Feed pane).
//!
//! One librdkafka client serves every lag refresh, whatever the number of groups on the
//! cluster: metadata and watermarks, and the Admin API's ListConsumerGroups,
//! DescribeConsumerGroups and ListConsumerGroupOffsets (see [`admin`]). A refresh reads the
//! offsets of the groups that consume the topic (members assigned to it, or offsets committed
//! on it), of `[kafka] lag_groups`, and of groups never seen before; a group found to read
//! other topics only is asked again after [`RECHECK`], at most [`RECHECKS_PER_REFRESH`] per
//! refresh. On a shared cluster with hundreds of groups the first refresh asks each once (at
//! most `admin::IN_FLIGHT` requests at a time); later ones ask the topic's groups and a few
//! others.

mod admin;
mod assignment;
mod plan;
mod tail;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::{Client, DefaultClientContext};
use rdkafka::consumer::BaseConsumer;
use rdkafka::types::RDKafkaType;

use super::{client_config, HealthCell};
use crate::bus::{BusError, GroupLag, Message, Offsets, PartitionLag};
use crate::config::KafkaSettings;
use plan::{merge, plan};

pub use assignment::assignment_partitions;

/// Metadata and watermark requests.
const TIMEOUT: Duration = Duration::from_secs(3);
/// A group found not to read the topic is asked again after this long...
pub const RECHECK: Duration = Duration::from_secs(30);
/// ...at most this many of them per refresh (so they spread over refreshes).
pub const RECHECKS_PER_REFRESH: usize = 25;
/// A refresh stops waiting for group answers after this long (each request times out after
/// [`admin::REQUEST_TIMEOUT`]).
const PROBE_LIMIT: Duration = Duration::from_secs(10);

pub struct LagReader {
    inner: Arc<Inner>,
}

struct Inner {
    settings: KafkaSettings,
    /// The lag reader's one client: metadata, watermarks and every group admin request. A
    /// plain handle of producer type (librdkafka's admin clients are producers) that never
    /// produces.
    client: Client<DefaultClientContext>,
    /// What the refreshes learnt about the cluster's groups; held for a whole refresh, so
    /// refreshes run one at a time.
    known: Mutex<Known>,
    tail: Mutex<Option<BaseConsumer>>,
    health: HealthCell,
}

/// Why a refresh failed.
enum Failure {
    /// The cluster did not answer (the Lag pane says `broker DOWN`).
    Unreachable(String),
    Other(BusError),
}

/// The groups seen on the cluster, for one topic.
#[derive(Default)]
struct Known {
    topic: String,
    groups: HashMap<String, Seen>,
}

/// The last answer about one group.
#[derive(Debug, Clone)]
struct Seen {
    /// It consumes the topic (or is named in `lag_groups`).
    ours: bool,
    checked: Instant,
    committed: admin::Committed,
    members: admin::Members,
}

impl LagReader {
    pub fn new(settings: &KafkaSettings, health: HealthCell) -> Result<LagReader, BusError> {
        let config = client_config(settings);
        let native = config.create_native_config().map_err(broker)?;
        let client = Client::new(
            &config,
            native,
            RDKafkaType::RD_KAFKA_PRODUCER,
            DefaultClientContext,
        )
        .map_err(broker)?;
        Ok(LagReader {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                client,
                known: Mutex::default(),
                tail: Mutex::default(),
                health,
            }),
        })
    }

    /// One refresh: the groups that consume `topic` (or are named in `lag_groups`), with
    /// their committed offsets, members and the partitions' high watermarks. Runs on a
    /// blocking thread; about one round trip per group the first time a group is seen, and
    /// then only for the groups of the topic.
    pub async fn lag(&self, topic: &str) -> Result<Vec<GroupLag>, BusError> {
        let inner = self.inner.clone();
        let topic = topic.to_string();
        tokio::task::spawn_blocking(move || inner.lag(&topic))
            .await
            .map_err(|e| BusError::Broker(e.to_string()))?
    }

    pub async fn high_watermarks(&self, topic: &str) -> Result<Offsets, BusError> {
        let inner = self.inner.clone();
        let topic = topic.to_string();
        tokio::task::spawn_blocking(move || {
            let partitions = inner.partitions(&topic)?;
            Ok(inner.watermarks(&topic, &partitions)?.into_iter().collect())
        })
        .await
        .map_err(|e| BusError::Broker(e.to_string()))?
    }

    pub async fn tail(&self, topic: &str, max: usize) -> Result<Vec<Message>, BusError> {
        let inner = self.inner.clone();
        let topic = topic.to_string();
        tokio::task::spawn_blocking(move || inner.tail(&topic, max))
            .await
            .map_err(|e| BusError::Broker(e.to_string()))?
    }
}

fn broker(e: impl std::fmt::Display) -> BusError {
    BusError::Broker(e.to_string())
}

impl Inner {
    fn partitions(&self, topic: &str) -> Result<Vec<i32>, BusError> {
        let md = self
            .client
            .fetch_metadata(Some(topic), TIMEOUT)
            .map_err(|e| {
                self.health.error(e.to_string());
                broker(e)
            })?;
        self.health.set_brokers(
            md.brokers()
                .iter()
                .map(|b| format!("{}:{}", b.host(), b.port()))
                .collect(),
        );
        let t = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .ok_or_else(|| BusError::UnknownTopic(topic.to_string()))?;
        if t.partitions().is_empty() {
            return Err(BusError::UnknownTopic(topic.to_string()));
        }
        Ok(t.partitions().iter().map(|p| p.id()).collect())
    }

    fn watermarks(&self, topic: &str, partitions: &[i32]) -> Result<BTreeMap<i32, i64>, BusError> {
        let mut out = BTreeMap::new();
        for p in partitions {
            let (_, high) = self
                .client
                .fetch_watermarks(topic, *p, TIMEOUT)
                .map_err(broker)?;
            out.insert(*p, high);
        }
        Ok(out)
    }

    fn lag(&self, topic: &str) -> Result<Vec<GroupLag>, BusError> {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        // What librdkafka logged since the last refresh (connection failures, mostly).
        let mut client_errors = admin::drain_main_queue(&self.client);
        let result = self.refresh(&mut known, topic);
        client_errors.extend(admin::drain_main_queue(&self.client));
        match result {
            Ok(groups) => Ok(groups),
            Err(Failure::Other(e)) => Err(e),
            Err(Failure::Unreachable(e)) => {
                // Say why as precisely as librdkafka knows ("Connect to ... failed:
                // Connection refused" beats "Timed out"); the Lag pane shows `broker DOWN`.
                let why = match client_errors.last() {
                    Some(c) if !e.contains(c.as_str()) => format!("{e}; {c}"),
                    _ => e,
                };
                self.health.error(why.clone());
                Err(BusError::Broker(why))
            }
        }
    }

    fn refresh(&self, known: &mut Known, topic: &str) -> Result<Vec<GroupLag>, Failure> {
        if known.topic != topic {
            *known = Known {
                topic: topic.to_string(),
                groups: HashMap::new(),
            };
        }
        let partitions = self.partitions(topic).map_err(|e| match e {
            BusError::Broker(e) => Failure::Unreachable(e),
            other => Failure::Other(other),
        })?;
        let listing = admin::list_groups(&self.client).map_err(Failure::Unreachable)?;
        let extra = &self.settings.lag_groups;
        let now = Instant::now();
        let (offsets_of, describe) = plan(&known.groups, &listing, extra, now);
        let probe = admin::probe(
            &self.client,
            topic,
            &partitions,
            &offsets_of,
            &describe,
            PROBE_LIMIT,
        )
        .map_err(|e| Failure::Other(BusError::Broker(e)))?;
        if let Some(e) = &probe.describe_error {
            tracing::debug!(error = %e, "describing consumer groups");
        }
        let unanswered = probe.unanswered;
        let failed = merge(&mut known.groups, probe, &offsets_of, extra, now);
        if !offsets_of.is_empty() && failed.len() == offsets_of.len() {
            let e = format!("committed offsets: {}", failed[0]);
            // Unreachable when no request got an answer at all; else the cluster answered
            // with errors (authorisation, say): a failed refresh, not a broker down.
            return Err(if unanswered == offsets_of.len() {
                Failure::Unreachable(e)
            } else {
                Failure::Other(BusError::Broker(e))
            });
        }
        for e in failed.iter().take(3) {
            tracing::debug!(error = %e, "committed offsets of a group");
        }
        // Groups gone from the cluster are forgotten (the configured ones stay).
        let listed: BTreeSet<&str> = listing.iter().map(|l| l.group.as_str()).collect();
        known
            .groups
            .retain(|g, _| listed.contains(g.as_str()) || extra.contains(g));

        // Watermarks after the offsets: a commit between the two cannot show negative lag.
        let hws = self.watermarks(topic, &partitions).map_err(|e| match e {
            BusError::Broker(e) => Failure::Unreachable(e),
            other => Failure::Other(other),
        })?;
        let mut ours: Vec<(&String, &Seen)> = known.groups.iter().filter(|(_, s)| s.ours).collect();
        ours.sort_by(|a, b| a.0.cmp(b.0));
        Ok(ours
            .into_iter()
            .map(|(group, seen)| GroupLag {
                group: group.clone(),
                topic: topic.to_string(),
                partitions: partitions
                    .iter()
                    .map(|p| PartitionLag {
                        partition: *p,
                        high_watermark: hws.get(p).copied().unwrap_or(0),
                        committed: seen.committed.get(p).copied().flatten(),
                        member: seen.members.get(p).cloned(),
                    })
                    .collect(),
            })
            .collect())
    }
}
