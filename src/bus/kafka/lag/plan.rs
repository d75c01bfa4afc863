//! Which groups a refresh asks about, and how their answers update what is known of them.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use super::{admin, Seen, RECHECK, RECHECKS_PER_REFRESH};

/// Which groups to ask this refresh: (offsets of, describe). Offsets: the configured groups,
/// the groups of the topic, groups not seen before, and up to [`RECHECKS_PER_REFRESH`] of
/// the others last asked [`RECHECK`] ago or more (the longest ago first). Describe: those of
/// them that have members.
pub(super) fn plan(
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
pub(super) fn merge(
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

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
