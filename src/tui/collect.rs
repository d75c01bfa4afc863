//! Background data collection for the panes: everything that touches the filesystem or the
//! bus runs here, on its own tasks, and reaches the event loop through bounded channels.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::bus::Offsets;
use crate::lake::{LakeStats, StatsScanner};
use crate::stage::Pipeline;
use crate::tweet::Tweet;

use super::lag::LagSnapshot;

/// Tweets in flight between the feed collector and the event loop; beyond that the
/// collector drops (the feed is a view: the lake keeps every tweet).
const FEED_CHANNEL: usize = 2048;
/// Newest messages read per feed poll.
const FEED_BATCH: usize = 200;

pub struct Collectors {
    pub lake: watch::Receiver<Option<LakeStats>>,
    pub lag: watch::Receiver<LagSnapshot>,
    /// The `ner` stage's status file, re-read twice a second.
    pub ner: watch::Receiver<Option<crate::stage::ner::status::NerStatus>>,
    pub feed: mpsc::Receiver<Tweet>,
    /// Top hashtags read from the store about once a second (Trending pane).
    pub trending: watch::Receiver<Option<crate::trending::TrendingView>>,
    /// The labelling worker (Label pane): commands, replies, snapshots. It owns the label
    /// store; commits, re-ranking and retraining happen on its task.
    pub label: crate::learn::worker::LabelLink,
    /// The SQL pane's worker (it opens nothing until the pane does).
    pub sql: crate::sql::worker::SqlLink,
    cancel: CancellationToken,
}

impl Drop for Collectors {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Collectors {
    pub fn spawn(pipeline: &Arc<Pipeline>) -> Collectors {
        let cancel = CancellationToken::new();
        let (lake_tx, lake) = watch::channel(None);
        tokio::spawn(lake_stats(pipeline.clone(), lake_tx, cancel.clone()));
        let (feed_tx, feed) = mpsc::channel(FEED_CHANNEL);
        tokio::spawn(feed_tail(pipeline.clone(), feed_tx, cancel.clone()));
        let (lag_tx, lag) = watch::channel(LagSnapshot::default());
        tokio::spawn(lag_watch(pipeline.clone(), lag_tx, cancel.clone()));
        let (ner_tx, ner) = watch::channel(None);
        tokio::spawn(crate::stage::ner::status::watch_status_file(
            crate::stage::ner::status::status_path(&pipeline.layout),
            ner_tx,
            Duration::from_millis(500),
            cancel.clone(),
        ));
        let (trending_tx, trending) = watch::channel(None);
        tokio::spawn(crate::trending::watch::watch_top(
            pipeline.settings.clone(),
            trending_tx,
            Duration::from_secs(1),
            cancel.clone(),
        ));
        // Scores of a classify running in another process, from gold/ai_tweets.
        tokio::spawn(crate::learn::predictions::follow_gold(
            pipeline.location.clone(),
            crate::learn::predictions::for_lake(&pipeline.settings.lake.root),
            cancel.clone(),
        ));
        let label = crate::learn::worker::spawn_for(&pipeline.settings);
        let sql = crate::sql::worker::spawn(&pipeline.settings, cancel.clone());
        Collectors {
            lake,
            lag,
            ner,
            feed,
            trending,
            label,
            sql,
            cancel,
        }
    }
}

/// Lake stats about every second: the scanner keeps the tables open and reads only the new
/// commits of their logs.
async fn lake_stats(
    pipeline: Arc<Pipeline>,
    tx: watch::Sender<Option<LakeStats>>,
    cancel: CancellationToken,
) {
    let mut scanner = StatsScanner::new(pipeline.location.clone(), pipeline.layout.clone());
    loop {
        let scan = tokio::select! {
            _ = cancel.cancelled() => return,
            r = scanner.scan() => r,
        };
        match scan {
            Ok(stats) => {
                tx.send_if_modified(|old| {
                    let changed = old.as_ref() != Some(&stats);
                    *old = Some(stats);
                    changed
                });
            }
            Err(e) => tracing::warn!(error = %e, "lake stats scan failed"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

async fn feed_tail(pipeline: Arc<Pipeline>, tx: mpsc::Sender<Tweet>, cancel: CancellationToken) {
    let mut positions = Offsets::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(80)) => {}
        }
        let Ok(messages) = pipeline
            .bus
            .tail(pipeline.topic(), &positions, FEED_BATCH)
            .await
        else {
            continue; // the topic does not exist until a source starts
        };
        for m in messages {
            let pos = positions.entry(m.partition).or_insert(0);
            *pos = (*pos).max(m.offset + 1);
            if let Ok(t) = Tweet::parse(&m.payload) {
                if tx.try_send(t).is_err() && tx.is_closed() {
                    return;
                }
            }
        }
    }
}

/// Consumer-group lag and broker health, about every second.
async fn lag_watch(
    pipeline: Arc<Pipeline>,
    tx: watch::Sender<LagSnapshot>,
    cancel: CancellationToken,
) {
    loop {
        let bus = pipeline.bus.describe();
        let snapshot = match pipeline.bus.lag(pipeline.topic()).await {
            Ok(groups) => LagSnapshot {
                groups,
                broker: pipeline.bus.broker_health(),
                error: None,
                bus,
            },
            Err(crate::bus::BusError::UnknownTopic(t)) => LagSnapshot {
                broker: pipeline.bus.broker_health(),
                error: Some(format!("topic {t} not created yet")),
                bus,
                ..Default::default()
            },
            Err(e) => LagSnapshot {
                broker: pipeline.bus.broker_health(),
                error: Some(e.to_string()),
                bus,
                ..Default::default()
            },
        };
        // Sent every time (not only on change): the sparkline is a time series.
        if tx.send(snapshot).is_err() {
            return;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
