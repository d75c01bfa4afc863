//! The few fields of librdkafka's statistics (`statistics.interval.ms`) that tell whether a
//! client reaches its brokers and its group coordinator. librdkafka itself says little when a
//! broker stops answering without closing its connections (a paused or overloaded broker):
//! requests just wait. These fields show it within seconds.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

/// How often clients emit statistics.
pub const INTERVAL_MS: &str = "1000";
/// A broker with requests waiting and nothing received for this long is not responding.
const SILENT: Duration = Duration::from_secs(5);
/// A connection (or a group state) that has not been up for this long is reported.
const DOWN_AFTER: Duration = Duration::from_secs(2);

#[derive(Debug, Default, Deserialize)]
pub struct Stats {
    #[serde(default)]
    brokers: HashMap<String, Broker>,
    #[serde(default)]
    cgrp: Option<Group>,
    #[serde(default)]
    topics: HashMap<String, Topic>,
}

#[derive(Debug, Deserialize)]
struct Broker {
    #[serde(default)]
    name: String,
    #[serde(default)]
    nodeid: i32,
    #[serde(default)]
    source: String,
    #[serde(default)]
    state: String,
    /// Microseconds.
    #[serde(default)]
    stateage: i64,
    #[serde(default)]
    waitresp_cnt: i64,
    /// Microseconds since the last receive; -1 when nothing was received on this connection.
    #[serde(default = "minus_one")]
    rxidle: i64,
}

fn minus_one() -> i64 {
    -1
}

#[derive(Debug, Deserialize)]
struct Group {
    #[serde(default)]
    state: String,
    /// Milliseconds.
    #[serde(default)]
    stateage: i64,
    #[serde(default)]
    join_state: String,
}

#[derive(Debug, Default, Deserialize)]
struct Topic {
    #[serde(default)]
    partitions: HashMap<String, Partition>,
}

#[derive(Debug, Deserialize)]
struct Partition {
    #[serde(default)]
    partition: i32,
    /// The last message handed to the application + 1 (negative: none yet).
    #[serde(default = "minus_one")]
    app_offset: i64,
    /// The next offset to fetch (negative: not known yet).
    #[serde(default = "minus_one")]
    next_offset: i64,
    #[serde(default = "minus_one")]
    hi_offset: i64,
    /// The last stable offset (the high watermark for brokers without transactions).
    #[serde(default = "minus_one")]
    ls_offset: i64,
}

impl Partition {
    /// Messages on the broker the application has not been handed (`None`: not known).
    fn unread(&self) -> Option<i64> {
        let end = if self.ls_offset >= 0 {
            self.ls_offset
        } else {
            self.hi_offset
        };
        let read = if self.app_offset >= 0 {
            self.app_offset
        } else {
            self.next_offset
        };
        (end >= 0 && read >= 0).then_some(end - read)
    }
}

impl Broker {
    fn is_coordinator(&self) -> bool {
        self.name.starts_with("GroupCoordinator")
    }

    /// A broker of the cluster (not a bootstrap entry, not a logical one).
    fn is_node(&self) -> bool {
        self.nodeid >= 0 && self.source != "logical" && !self.is_coordinator()
    }

    /// Why this connection does not work, if it does not.
    fn trouble(&self) -> Option<String> {
        let age = Duration::from_micros(self.stateage.max(0) as u64);
        match self.state.as_str() {
            "UP" | "UPDATE" => {
                let idle = Duration::from_micros(self.rxidle.max(0) as u64);
                (self.waitresp_cnt > 0 && idle >= SILENT)
                    .then(|| format!("{}: no response for {} s", self.name, idle.as_secs()))
            }
            // Never needed so far (or not any more): not a fault.
            "INIT" | "" => None,
            state if age >= DOWN_AFTER => Some(format!(
                "{}: {} for {} s",
                self.name,
                state.to_lowercase(),
                age.as_secs()
            )),
            _ => None,
        }
    }
}

impl Stats {
    pub fn parse(raw: &[u8]) -> Option<Stats> {
        match serde_json::from_slice(raw) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::debug!(error = %e, "librdkafka statistics");
                None
            }
        }
    }

    /// The cluster's brokers that this client cannot reach or that do not answer it.
    pub fn broker_trouble(&self) -> Option<String> {
        let mut bad: Vec<String> = self
            .brokers
            .values()
            .filter(|b| b.is_node())
            .filter_map(Broker::trouble)
            .collect();
        bad.sort();
        (!bad.is_empty()).then(|| bad.join("; "))
    }

    /// Some broker of the cluster answers this client.
    pub fn a_broker_answers(&self) -> bool {
        self.brokers
            .values()
            .any(|b| b.is_node() && b.state == "UP" && b.trouble().is_none())
    }

    /// Why the consumer group cannot reach its coordinator, if it cannot.
    pub fn coordinator_trouble(&self) -> Option<String> {
        let g = self.cgrp.as_ref()?;
        let age = Duration::from_millis(g.stateage.max(0) as u64);
        if g.state != "up" && age >= DOWN_AFTER {
            let brokers = self
                .broker_trouble()
                .map(|b| format!(" ({b})"))
                .unwrap_or_default();
            return Some(format!(
                "group {} for {} s{brokers}",
                g.state,
                age.as_secs()
            ));
        }
        // While joining, the coordinator holds JoinGroup / SyncGroup answers until the group
        // rebalanced: a long wait then is normal; the connection itself must be up.
        let joining = g.join_state != "steady";
        self.brokers
            .values()
            .filter(|b| b.is_coordinator())
            .filter(|b| !joining || !matches!(b.state.as_str(), "UP" | "UPDATE"))
            .find_map(Broker::trouble)
    }

    /// The group is joined and its assignment settled (`None`: not a group consumer).
    pub fn group_settled(&self) -> Option<bool> {
        self.cgrp
            .as_ref()
            .map(|g| g.state == "up" && g.join_state == "steady")
    }

    /// The group's join state, for messages.
    pub fn join_state(&self) -> String {
        self.cgrp
            .as_ref()
            .map(|g| format!("{} / {}", g.state, g.join_state))
            .unwrap_or_default()
    }

    /// Partitions of `topic` with messages on the broker this consumer has not handed to the
    /// application (committed offsets play no part: they may lag on purpose).
    pub fn lagging(&self, topic: &str) -> Vec<i32> {
        let mut out: Vec<i32> = self
            .topics
            .get(topic)
            .map(|t| {
                t.partitions
                    .values()
                    .filter(|p| p.partition >= 0 && p.unread().is_some_and(|n| n > 0))
                    .map(|p| p.partition)
                    .collect()
            })
            .unwrap_or_default();
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(json: &str) -> Stats {
        Stats::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn a_paused_broker_is_one_that_leaves_requests_unanswered() {
        let s = stats(
            r#"{"brokers": {
                "127.0.0.1:9092/bootstrap": {"name": "127.0.0.1:9092/bootstrap", "nodeid": -1,
                    "source": "configured", "state": "DOWN", "stateage": 90000000},
                "127.0.0.1:9092/1": {"name": "127.0.0.1:9092/1", "nodeid": 1, "source": "learned",
                    "state": "UP", "stateage": 90000000, "waitresp_cnt": 2, "rxidle": 7200000},
                "GroupCoordinator": {"name": "GroupCoordinator", "nodeid": 1, "source": "logical",
                    "state": "UP", "stateage": 90000000, "waitresp_cnt": 1, "rxidle": 6100000}},
              "cgrp": {"state": "up", "stateage": 90000, "join_state": "steady"}}"#,
        );
        assert_eq!(
            s.broker_trouble().as_deref(),
            Some("127.0.0.1:9092/1: no response for 7 s")
        );
        assert!(!s.a_broker_answers());
        assert_eq!(
            s.coordinator_trouble().as_deref(),
            Some("GroupCoordinator: no response for 6 s")
        );
        assert_eq!(s.group_settled(), Some(true));
        // Joining, the coordinator answers JoinGroup only once the group rebalanced.
        let joining = stats(
            r#"{"brokers": {
                "GroupCoordinator": {"name": "GroupCoordinator", "nodeid": 1, "source": "logical",
                    "state": "UP", "stateage": 9000000, "waitresp_cnt": 1, "rxidle": 8000000}},
              "cgrp": {"state": "up", "stateage": 9000, "join_state": "wait-join"}}"#,
        );
        assert_eq!(joining.coordinator_trouble(), None);
        assert_eq!(joining.group_settled(), Some(false));
    }

    #[test]
    fn a_lost_coordinator_and_a_refused_connection_are_named() {
        let s = stats(
            r#"{"brokers": {
                "127.0.0.1:9092/1": {"name": "127.0.0.1:9092/1", "nodeid": 1, "source": "learned",
                    "state": "CONNECT", "stateage": 4000000, "waitresp_cnt": 0, "rxidle": -1}},
              "cgrp": {"state": "wait-coord", "stateage": 3500, "join_state": "init"},
              "topics": {"t": {"partitions": {
                "0": {"partition": 0, "app_offset": 40, "next_offset": 52, "ls_offset": 52},
                "1": {"partition": 1, "app_offset": 7, "next_offset": 7, "ls_offset": 7},
                "2": {"partition": 2, "app_offset": -1001, "next_offset": 3, "ls_offset": 9},
                "3": {"partition": 3, "app_offset": -1001, "next_offset": -1001, "ls_offset": 9},
                "-1": {"partition": -1, "app_offset": -1, "ls_offset": -1}}}}}"#,
        );
        assert_eq!(
            s.coordinator_trouble().as_deref(),
            Some("group wait-coord for 3 s (127.0.0.1:9092/1: connect for 4 s)")
        );
        assert_eq!(s.group_settled(), Some(false));
        // Unread: handed-out (or, before any, fetch) position below the last stable offset.
        assert_eq!(s.lagging("t"), vec![0, 2]);
        assert!(!s.a_broker_answers());
    }

    #[test]
    fn healthy_clients_have_no_trouble() {
        let s = stats(
            r#"{"brokers": {
                "b/1": {"name": "b/1", "nodeid": 1, "source": "learned", "state": "UP",
                    "stateage": 1, "waitresp_cnt": 1, "rxidle": 400000},
                "b/2": {"name": "b/2", "nodeid": 2, "source": "learned", "state": "INIT",
                    "stateage": 99000000}},
              "cgrp": {"state": "up", "stateage": 1, "join_state": "steady"}}"#,
        );
        assert_eq!(s.broker_trouble(), None);
        assert_eq!(s.coordinator_trouble(), None);
        assert!(s.a_broker_answers());
        // A producer has no group.
        assert_eq!(stats("{}").group_settled(), None);
    }
}
