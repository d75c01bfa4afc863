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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rdkafka::client::{Client, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Message as _;
use rdkafka::types::RDKafkaType;
use rdkafka::{Offset, TopicPartitionList};

use super::{client_config, HealthCell};
use crate::bus::{BusError, GroupLag, Message, Offsets, PartitionLag};
use crate::config::KafkaSettings;

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

    fn tail(&self, topic: &str, max: usize) -> Result<Vec<Message>, BusError> {
        let mut slot = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            let partitions = self.partitions(topic)?;
            let c: BaseConsumer = client_config(&self.settings)
                .set("group.id", "ssp-tui-feed")
                .set("enable.auto.commit", "false")
                .create()
                .map_err(broker)?;
            let mut tpl = TopicPartitionList::new();
            let per = (max / partitions.len().max(1)).max(1) as i64;
            for p in &partitions {
                tpl.add_partition_offset(topic, *p, Offset::OffsetTail(per))
                    .map_err(broker)?;
            }
            c.assign(&tpl).map_err(broker)?;
            *slot = Some(c);
        }
        let Some(c) = slot.as_ref() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        while out.len() < max {
            match c.poll(Duration::from_millis(if out.is_empty() { 50 } else { 0 })) {
                Some(Ok(m)) => out.push(Message {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(Bytes::copy_from_slice),
                    payload: Bytes::copy_from_slice(m.payload().unwrap_or_default()),
                    timestamp_ms: m.timestamp().to_millis().unwrap_or(0),
                    origin: None,
                }),
                Some(Err(e)) => return Err(broker(e)),
                None => break,
            }
        }
        Ok(out)
    }
}

/// Which groups to ask this refresh: (offsets of, describe). Offsets: the configured groups,
/// the groups of the topic, groups not seen before, and up to [`RECHECKS_PER_REFRESH`] of
/// the others last asked [`RECHECK`] ago or more (the longest ago first). Describe: those of
/// them that have members.
fn plan(
    known: &HashMap<String, Seen>,
    listing: &[admin::Listing],
    extra: &[String],
    now: Instant,
) -> (Vec<String>, Vec<String>) {
    let mut ask: BTreeSet<&str> = extra.iter().map(String::as_str).collect();
    let mut due: Vec<(Instant, &str)> = Vec::new();
    for l in listing {
        match known.get(&l.group) {
            None => {
                ask.insert(&l.group);
            }
            Some(s) if s.ours => {
                ask.insert(&l.group);
            }
            Some(s) if now.saturating_duration_since(s.checked) >= RECHECK => {
                due.push((s.checked, &l.group));
            }
            Some(_) => {}
        }
    }
    due.sort();
    ask.extend(due.into_iter().take(RECHECKS_PER_REFRESH).map(|(_, g)| g));
    let active: BTreeSet<&str> = listing
        .iter()
        .filter(|l| l.active)
        .map(|l| l.group.as_str())
        .collect();
    let describe = ask
        .iter()
        .filter(|g| active.contains(*g))
        .map(|g| g.to_string())
        .collect();
    (ask.into_iter().map(str::to_string).collect(), describe)
}

/// Records the answers of a probe; returns the errors of the groups that got none (those
/// keep what was known of them).
fn merge(
    known: &mut HashMap<String, Seen>,
    mut probe: admin::Probe,
    asked: &[String],
    extra: &[String],
    now: Instant,
) -> Vec<String> {
    let mut failed = Vec::new();
    for group in asked {
        match probe.offsets.remove(group) {
            Some(Ok(committed)) => {
                let members = probe.members.remove(group).unwrap_or_default();
                let ours = extra.contains(group)
                    || !members.is_empty()
                    || committed.values().any(Option::is_some);
                known.insert(
                    group.clone(),
                    Seen {
                        ours,
                        checked: now,
                        committed,
                        members,
                    },
                );
            }
            Some(Err(e)) => failed.push(format!("{group}: {e}")),
            None => failed.push(format!("{group}: no answer")),
        }
    }
    failed
}

/// Partitions of `topic` in a Kafka consumer-protocol assignment (as sent in group
/// descriptions): version i16, [topic string, [partition i32]], user data.
pub fn assignment_partitions(bytes: &[u8], topic: &str) -> Vec<i32> {
    fn take<const N: usize>(b: &mut &[u8]) -> Option<[u8; N]> {
        let (head, rest) = b.split_at_checked(N)?;
        *b = rest;
        head.try_into().ok()
    }
    let mut b = bytes;
    let mut out = Vec::new();
    let parse = |b: &mut &[u8], out: &mut Vec<i32>| -> Option<()> {
        take::<2>(b)?;
        let topics = i32::from_be_bytes(take::<4>(b)?);
        for _ in 0..topics.max(0) {
            let len = i16::from_be_bytes(take::<2>(b)?).max(0) as usize;
            let (name, rest) = b.split_at_checked(len)?;
            *b = rest;
            let n = i32::from_be_bytes(take::<4>(b)?);
            for _ in 0..n.max(0) {
                let p = i32::from_be_bytes(take::<4>(b)?);
                if name == topic.as_bytes() {
                    out.push(p);
                }
            }
        }
        Some(())
    };
    let _ = parse(&mut b, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_consumer_protocol_assignments() {
        let mut b = vec![0, 1];
        b.extend(2i32.to_be_bytes());
        for (t, ps) in [("twitter_data", vec![0i32, 2]), ("other", vec![1])] {
            b.extend((t.len() as i16).to_be_bytes());
            b.extend(t.as_bytes());
            b.extend((ps.len() as i32).to_be_bytes());
            for p in ps {
                b.extend(p.to_be_bytes());
            }
        }
        b.extend((-1i32).to_be_bytes());
        assert_eq!(assignment_partitions(&b, "twitter_data"), vec![0, 2]);
        assert_eq!(assignment_partitions(&b, "other"), vec![1]);
        assert!(assignment_partitions(&b[..9], "twitter_data").is_empty());
        assert!(assignment_partitions(&[], "x").is_empty());
    }

    fn listing(group: &str, active: bool) -> admin::Listing {
        admin::Listing {
            group: group.to_string(),
            active,
        }
    }

    fn seen(ours: bool, checked: Instant) -> Seen {
        Seen {
            ours,
            checked,
            committed: admin::Committed::new(),
            members: admin::Members::new(),
        }
    }

    #[test]
    fn a_refresh_asks_new_groups_ours_and_a_few_due_others() {
        let t0 = Instant::now();
        let now = t0 + RECHECK * 3;
        let mut known = HashMap::new();
        known.insert("ours".to_string(), seen(true, now));
        known.insert("fresh-other".to_string(), seen(false, now));
        let mut listed = vec![
            listing("ours", true),
            listing("fresh-other", false),
            listing("new-active", true),
            listing("new-empty", false),
        ];
        // Others checked long ago, at different times: the oldest are asked first.
        for i in 0..RECHECKS_PER_REFRESH + 10 {
            let name = format!("old-{i:03}");
            known.insert(
                name.clone(),
                seen(false, t0 + Duration::from_millis(i as u64)),
            );
            listed.push(listing(&name, i % 2 == 0));
        }
        let extra = vec!["configured".to_string()];
        let (offsets, describe) = plan(&known, &listed, &extra, now);
        for g in ["ours", "new-active", "new-empty", "configured"] {
            assert!(offsets.iter().any(|o| o == g), "{g} asked: {offsets:?}");
        }
        assert!(!offsets.iter().any(|o| o == "fresh-other"), "{offsets:?}");
        let rechecked: Vec<&String> = offsets.iter().filter(|g| g.starts_with("old-")).collect();
        assert_eq!(rechecked.len(), RECHECKS_PER_REFRESH);
        assert!(
            rechecked.iter().all(|g| g.as_str() < "old-025"),
            "{rechecked:?}"
        );
        // Only groups with members are described (an empty group has no assignment).
        assert!(describe.iter().any(|g| g == "ours"));
        assert!(describe.iter().any(|g| g == "new-active"));
        assert!(!describe
            .iter()
            .any(|g| g == "new-empty" || g == "configured"));
        assert!(describe.iter().all(|g| offsets.contains(g)));
    }

    #[test]
    fn groups_are_ours_by_commits_members_or_configuration() {
        let now = Instant::now();
        let mut known = HashMap::new();
        known.insert("flaky".to_string(), seen(true, now));
        let mut probe = admin::Probe::default();
        let committed = |c: &[Option<i64>]| -> admin::Committed {
            c.iter().enumerate().map(|(p, o)| (p as i32, *o)).collect()
        };
        probe
            .offsets
            .insert("committer".into(), Ok(committed(&[None, Some(5)])));
        probe
            .offsets
            .insert("member".into(), Ok(committed(&[None, None])));
        probe.members.insert(
            "member".into(),
            admin::Members::from([(0, "c@host".to_string())]),
        );
        probe
            .offsets
            .insert("other-topic".into(), Ok(committed(&[None, None])));
        probe
            .offsets
            .insert("configured".into(), Ok(committed(&[None, None])));
        probe
            .offsets
            .insert("flaky".into(), Err("timed out".into()));
        let asked: Vec<String> = ["committer", "member", "other-topic", "configured", "flaky"]
            .map(String::from)
            .to_vec();
        let failed = merge(&mut known, probe, &asked, &["configured".into()], now);
        assert_eq!(failed, vec!["flaky: timed out".to_string()]);
        let ours = |g: &str| known[g].ours;
        assert!(ours("committer") && ours("member") && ours("configured"));
        assert!(!ours("other-topic"));
        assert!(ours("flaky"), "a failed answer keeps what was known");
        assert_eq!(known["member"].members[&0], "c@host");
    }
}
