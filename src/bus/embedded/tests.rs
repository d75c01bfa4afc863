use super::*;
use std::time::Duration;

fn bus(messages: usize) -> EmbeddedBus {
    EmbeddedBus::new(Retention {
        messages,
        bytes: 1 << 30,
    })
}

async fn drain(c: &mut Box<dyn Consumer>) -> Vec<Message> {
    let mut all = Vec::new();
    loop {
        let batch = c.poll(100, Duration::from_millis(20)).await.unwrap();
        if batch.is_empty() {
            return all;
        }
        all.extend(batch);
    }
}

#[tokio::test]
async fn every_message_once_with_exact_offsets() {
    let b = bus(1000);
    b.ensure_topic("t", 3).await.unwrap();
    let mut c = b.consumer("g", "t").await.unwrap();
    let mut p = b.producer("t").await.unwrap();
    for i in 0..300u32 {
        p.send(Some(&i.to_be_bytes()), format!("m{i}").into_bytes().into())
            .await
            .unwrap();
    }
    let delivered = p.flush().await.unwrap();
    assert_eq!(delivered.values().sum::<i64>(), 300);
    let got = drain(&mut c).await;
    assert_eq!(got.len(), 300);
    let mut payloads: Vec<_> = got.iter().map(|m| m.payload.clone()).collect();
    payloads.sort();
    payloads.dedup();
    assert_eq!(payloads.len(), 300);
    // The same key always lands on the same partition.
    for m in &got {
        let again = got.iter().filter(|o| o.key == m.key).count();
        assert_eq!(again, 1);
    }
    // Offsets per partition are 0..n without gaps.
    for (part, next) in &delivered {
        let mut offs: Vec<i64> = got
            .iter()
            .filter(|m| m.partition == *part)
            .map(|m| m.offset)
            .collect();
        offs.sort();
        assert_eq!(offs, (0..*next).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn lag_follows_commits_and_restarted_member_resumes() {
    let b = bus(1000);
    b.ensure_topic("t", 1).await.unwrap();
    let mut c = b.consumer("g", "t").await.unwrap();
    let mut p = b.producer("t").await.unwrap();
    for i in 0..10u8 {
        p.send(None, vec![i].into()).await.unwrap();
    }
    let lag = b.lag("t").await.unwrap();
    assert_eq!(lag[0].total(), 10);
    let first = c.poll(4, Duration::from_millis(10)).await.unwrap();
    assert_eq!(first.len(), 4);
    c.commit(&Offsets::from([(0, 4)])).await.unwrap();
    assert_eq!(b.lag("t").await.unwrap()[0].total(), 6);
    // A second member of the same group is refused while the first is active.
    assert!(matches!(
        b.consumer("g", "t").await,
        Err(BusError::GroupBusy { .. })
    ));
    drop(c);
    let mut c2 = b.consumer("g", "t").await.unwrap();
    let rest = drain(&mut c2).await;
    assert_eq!(rest.first().map(|m| m.offset), Some(4));
    assert_eq!(rest.len(), 6);
}

#[tokio::test]
async fn a_lagging_group_makes_the_producer_wait_instead_of_growing() {
    let b = bus(5);
    b.ensure_topic("t", 1).await.unwrap();
    let mut c = b.consumer("g", "t").await.unwrap();
    let mut p = b.producer("t").await.unwrap();
    for i in 0..5u8 {
        p.send(None, vec![i].into()).await.unwrap();
    }
    // Full, and the group has committed nothing: the sixth send must wait.
    let blocked =
        tokio::time::timeout(Duration::from_millis(100), p.send(None, vec![5].into())).await;
    assert!(blocked.is_err(), "send should wait for the group");
    let got = c.poll(10, Duration::from_millis(10)).await.unwrap();
    assert_eq!(got.len(), 5);
    c.commit(&Offsets::from([(0, 3)])).await.unwrap();
    tokio::time::timeout(Duration::from_secs(1), p.send(None, vec![5].into()))
        .await
        .expect("commit freed room")
        .unwrap();
    let got = c.poll(10, Duration::from_millis(10)).await.unwrap();
    assert_eq!(got.iter().map(|m| m.offset).collect::<Vec<_>>(), vec![5]);
}

#[tokio::test]
async fn without_groups_retention_drops_the_oldest() {
    let b = bus(3);
    b.ensure_topic("t", 1).await.unwrap();
    let mut p = b.producer("t").await.unwrap();
    for i in 0..10u8 {
        p.send(None, vec![i].into()).await.unwrap();
    }
    // Without a position the tail gives the newest `max` messages.
    let tail = b.tail("t", &Offsets::new(), 2).await.unwrap();
    assert_eq!(
        tail.iter().map(|m| m.offset).collect::<Vec<_>>(),
        vec![8, 9]
    );
    let tail = b.tail("t", &Offsets::from([(0, 10)]), 2).await.unwrap();
    assert!(tail.is_empty(), "nothing after the end");
    let tail = b.tail("t", &Offsets::from([(0, 0)]), 100).await.unwrap();
    assert_eq!(
        tail.iter().map(|m| m.offset).collect::<Vec<_>>(),
        vec![7, 8, 9]
    );
}

#[tokio::test]
async fn unknown_topic_is_an_error() {
    let b = bus(3);
    assert!(matches!(
        b.producer("nope").await,
        Err(BusError::UnknownTopic(_))
    ));
}
