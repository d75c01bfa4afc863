//! Status through Kafka: reports on the compacted topic `<topic>.status` (key
//! `<instance>/<stage>`: the newest per stage survives compaction), commands and acks on
//! `<topic>.control`. A reader thread keeps the newest report per key and queues the
//! commands and acks that arrive after it started.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Message as _;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use super::{Ack, Channel, Command, StageReport};
use crate::bus::kafka::client_config;
use crate::config::Settings;

/// What travels on the control topic.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Control {
    Command(Command),
    Ack(Ack),
}

#[derive(Default)]
struct Inbox {
    reports: HashMap<String, StageReport>,
    commands: Vec<Command>,
    acks: Vec<Ack>,
    error: Option<String>,
}

pub struct KafkaChannel {
    producer: ThreadedProducer<DefaultProducerContext>,
    status_topic: String,
    control_topic: String,
    inbox: Arc<Mutex<Inbox>>,
    stop: Arc<AtomicBool>,
    /// The topics exist (created with their settings) and are being read: nothing is
    /// produced before, or a broker that creates topics on first use would make them
    /// with its own defaults (not compacted).
    ready: Arc<AtomicBool>,
    bootstrap: String,
}

impl KafkaChannel {
    pub fn new(settings: &Settings, instance: &str) -> anyhow::Result<KafkaChannel> {
        let k = &settings.kafka;
        let status_topic = format!("{}.status", k.topic);
        let control_topic = format!("{}.control", k.topic);
        let producer: ThreadedProducer<DefaultProducerContext> = client_config(k)
            .set("linger.ms", "5")
            .set("message.timeout.ms", "10000")
            .create()
            .context("creating the status producer")?;
        let consumer: BaseConsumer = client_config(k)
            .set("group.id", format!("ssp-status-{instance}"))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .create()
            .context("creating the status reader")?;
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let admin: AdminClient<DefaultClientContext> = client_config(k)
            .create()
            .context("creating the status admin client")?;
        let replication = k.replication;
        let (st, ct) = (status_topic.clone(), control_topic.clone());
        let ready = Arc::new(AtomicBool::new(false));
        let (inbox2, stop2, ready2) = (inbox.clone(), stop.clone(), ready.clone());
        std::thread::Builder::new()
            .name("ssp-status".into())
            .spawn(move || {
                read_loop(
                    admin,
                    consumer,
                    replication,
                    (&st, &ct),
                    &inbox2,
                    (&stop2, &ready2),
                )
            })
            .context("starting the status reader")?;
        Ok(KafkaChannel {
            producer,
            status_topic,
            control_topic,
            inbox,
            stop,
            ready,
            bootstrap: k.bootstrap_servers.clone(),
        })
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    fn produce(&self, topic: &str, key: &str, payload: &[u8]) -> anyhow::Result<()> {
        self.producer
            .send(BaseRecord::to(topic).key(key).payload(payload))
            .map_err(|(e, _)| anyhow::anyhow!("sending to {topic}: {e}"))
    }

    fn inbox(&self) -> std::sync::MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for KafkaChannel {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = rdkafka::producer::Producer::flush(&self.producer, Duration::from_secs(2));
    }
}

/// Creates the topics (once), assigns every partition of both (status from the beginning,
/// control from its end) and fills the inbox until stopped; errors are kept for the screen
/// and retried.
fn read_loop(
    admin: AdminClient<DefaultClientContext>,
    consumer: BaseConsumer,
    replication: i32,
    (status, control): (&str, &str),
    inbox: &Mutex<Inbox>,
    (stop, ready): (&AtomicBool, &AtomicBool),
) {
    let set_error = |e: Option<String>| inbox.lock().unwrap_or_else(|e| e.into_inner()).error = e;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let Ok(runtime) = runtime else {
        return set_error(Some("could not start the status reader".into()));
    };
    let mut assigned = false;
    while !stop.load(Ordering::Relaxed) {
        if !assigned {
            let compact = NewTopic::new(status, 1, TopicReplication::Fixed(replication))
                .set("cleanup.policy", "compact")
                .set("segment.ms", "60000");
            let ctl = NewTopic::new(control, 1, TopicReplication::Fixed(replication))
                .set("retention.ms", "3600000");
            let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
            let created = runtime.block_on(admin.create_topics([&compact, &ctl], &opts));
            if let Err(e) = created {
                set_error(Some(format!("creating status topics: {e}")));
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
            let mut tpl = TopicPartitionList::new();
            let mut missing = None;
            for (topic, from) in [(status, Offset::Beginning), (control, Offset::End)] {
                let partitions = consumer
                    .fetch_metadata(Some(topic), Duration::from_secs(5))
                    .ok()
                    .and_then(|m| m.topics().first().map(|t| t.partitions().len()))
                    .unwrap_or(0);
                if partitions == 0 {
                    missing = Some(topic);
                }
                for p in 0..partitions as i32 {
                    let _ = tpl.add_partition_offset(topic, p, from);
                }
            }
            if let Some(topic) = missing {
                set_error(Some(format!("status topic {topic} has no partitions yet")));
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
            if let Err(e) = consumer.assign(&tpl) {
                set_error(Some(format!("reading status topics: {e}")));
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
            assigned = true;
            ready.store(true, Ordering::Relaxed);
        }
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(e)) => set_error(Some(e.to_string())),
            Some(Ok(m)) => {
                let mut inbox = inbox.lock().unwrap_or_else(|e| e.into_inner());
                inbox.error = None;
                let Some(payload) = m.payload() else {
                    if let Some(k) = m.key().and_then(|k| std::str::from_utf8(k).ok()) {
                        inbox.reports.remove(k);
                    }
                    continue;
                };
                if m.topic() == status {
                    if let Ok(r) = serde_json::from_slice::<StageReport>(payload) {
                        inbox
                            .reports
                            .insert(format!("{}/{}", r.instance, r.stage), r);
                    }
                } else {
                    match serde_json::from_slice::<Control>(payload) {
                        Ok(Control::Command(c)) => inbox.commands.push(c),
                        Ok(Control::Ack(a)) => inbox.acks.push(a),
                        Err(_) => {}
                    }
                }
            }
        }
    }
}

#[async_trait]
impl Channel for KafkaChannel {
    async fn publish(&self, reports: &[StageReport]) -> anyhow::Result<()> {
        if !self.ready() {
            return Ok(());
        }
        for r in reports {
            let key = format!("{}/{}", r.instance, r.stage);
            self.produce(&self.status_topic, &key, &serde_json::to_vec(r)?)?;
        }
        Ok(())
    }

    async fn reports(&self) -> anyhow::Result<Vec<StageReport>> {
        let inbox = self.inbox();
        if inbox.reports.is_empty() {
            if let Some(e) = &inbox.error {
                anyhow::bail!("{e}");
            }
        }
        Ok(inbox.reports.values().cloned().collect())
    }

    async fn send(&self, command: &Command) -> anyhow::Result<()> {
        anyhow::ensure!(self.ready(), "the status topics are not reachable yet");
        let msg = serde_json::to_vec(&Control::Command(command.clone()))?;
        self.produce(&self.control_topic, &command.instance, &msg)
    }

    async fn commands(&self, instance: &str) -> anyhow::Result<Vec<Command>> {
        let mut inbox = self.inbox();
        let (mine, rest) = std::mem::take(&mut inbox.commands)
            .into_iter()
            .partition(|c| c.instance == instance);
        inbox.commands = rest;
        // Others' commands are not ours to keep: only the newest few stay for them.
        let n = inbox.commands.len();
        inbox.commands.drain(..n.saturating_sub(64));
        Ok(mine)
    }

    async fn ack(&self, ack: &Ack) -> anyhow::Result<()> {
        let msg = serde_json::to_vec(&Control::Ack(ack.clone()))?;
        self.produce(&self.control_topic, &ack.instance, &msg)
    }

    async fn acks(&self) -> anyhow::Result<Vec<Ack>> {
        Ok(std::mem::take(&mut self.inbox().acks))
    }

    fn describe(&self) -> String {
        format!("kafka {} ({})", self.bootstrap, self.status_topic)
    }
}
