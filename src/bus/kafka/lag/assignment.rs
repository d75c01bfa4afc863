//! Decoding the Kafka consumer-protocol assignment that group descriptions carry.

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
}
