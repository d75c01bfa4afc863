use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    // An explicit path to the shipped file keeps the test independent of the working folder.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.ini");
    Settings::load_with_env(Some(&shipped), &env(pairs))
}

#[test]
fn shipped_config_is_the_embedded_default() {
    let s = load(&[]).expect("shipped config parses");
    assert_eq!(s.pipeline.bus, BusKind::Embedded);
    assert_eq!(s.pipeline.store, StoreKind::Embedded);
    assert_eq!(s.source.kind, SourceKind::Synthetic);
    assert_eq!(s.lake.root, PathBuf::from("data/lake"));
    assert_eq!(s.kafka.topic, "twitter_data");
    assert!(s.commands.is_empty());
}

#[test]
fn environment_overrides_any_key() {
    let s = load(&[
        ("SSP__SOURCE__RATE", "0"),
        ("SSP__LAKE__ROLL_SECONDS", "0.5"),
        ("SSP__PIPELINE__BUS", "KAFKA"),
        ("SSP__KAFKA__TOPIC", "t1"),
    ])
    .unwrap();
    assert_eq!(s.source.rate, 0);
    assert_eq!(s.lake.roll_seconds, std::time::Duration::from_millis(500));
    assert_eq!(s.pipeline.bus, BusKind::Kafka);
    assert_eq!(s.kafka.topic, "t1");
}

#[test]
fn bad_values_name_key_value_and_expectation() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "SSP__SOURCE__KIND",
            "tweepy",
            "source.kind = \"tweepy\": expected one of synthetic | replay",
        ),
        (
            "SSP__SOURCE__RATE",
            "fast",
            "source.rate = \"fast\": expected a whole number",
        ),
        (
            "SSP__PIPELINE__BUS",
            "rabbit",
            "pipeline.bus = \"rabbit\": expected one of embedded | kafka",
        ),
        (
            "SSP__PIPELINE__PARTITIONS",
            "0",
            "pipeline.partitions = \"0\"",
        ),
        (
            "SSP__LAKE__ROLL_SECONDS",
            "-1",
            "lake.roll_seconds = \"-1\"",
        ),
        (
            "SSP__SOURCE__LOOP",
            "maybe",
            "source.loop = \"maybe\": expected true or false",
        ),
        (
            "SSP__POSTGRESQL__PORT",
            "99999",
            "postgresql.port = \"99999\"",
        ),
        (
            "SSP__KAFKA__TOPIC",
            "bad topic",
            "kafka.topic = \"bad topic\"",
        ),
        ("SSP__SOURCE__KNID", "x", "unknown key source.knid"),
        (
            "SSP__KAFKA__LAG_GROUPS",
            "a,,b",
            "kafka.lag_groups = \"a,,b\": expected a comma-separated list of consumer group names",
        ),
        (
            "SSP__KAFKA__LAG_GROUPS",
            "a, b, a",
            "kafka.lag_groups = \"a, b, a\"",
        ),
        ("SSP__KAFKA__LAG_GROUPS", "a,", "kafka.lag_groups = \"a,\""),
        (
            "SSP__KAFKA__LAG_GROUPS",
            "tab\there",
            "kafka.lag_groups = \"tab\\there\"",
        ),
    ];
    for (key, value, want) in cases {
        let err = load(&[(key, value)]).unwrap_err().to_string();
        assert!(
            err.contains(want),
            "{key}={value}: got {err:?}, want {want:?}"
        );
        assert!(!err.contains('\n'), "one line: {err:?}");
    }
}

#[test]
fn lag_groups_are_a_trimmed_list() {
    assert!(load(&[]).unwrap().kafka.lag_groups.is_empty());
    assert!(load(&[("SSP__KAFKA__LAG_GROUPS", "  ")])
        .unwrap()
        .kafka
        .lag_groups
        .is_empty());
    let s = load(&[("SSP__KAFKA__LAG_GROUPS", " ssp-bronze, audit.reader ,x")]).unwrap();
    assert_eq!(s.kafka.lag_groups, ["ssp-bronze", "audit.reader", "x"]);
    let long = "g".repeat(255);
    assert_eq!(
        load(&[("SSP__KAFKA__LAG_GROUPS", &long)])
            .unwrap()
            .kafka
            .lag_groups,
        [long.as_str()]
    );
    let err = load(&[("SSP__KAFKA__LAG_GROUPS", &format!("{long}g"))]).unwrap_err();
    assert!(err.to_string().contains("kafka.lag_groups"), "{err}");
}

#[test]
fn replay_needs_an_existing_path() {
    let err = load(&[("SSP__SOURCE__KIND", "replay")]).unwrap_err();
    assert!(err.to_string().contains("source.path"), "{err}");
    let err = load(&[
        ("SSP__SOURCE__KIND", "replay"),
        ("SSP__SOURCE__PATH", "/no/such/file.jsonl"),
    ])
    .unwrap_err();
    assert!(err.to_string().contains("/no/such/file.jsonl"), "{err}");
}

#[test]
fn command_stages_come_from_stage_sections() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.ini");
    std::fs::write(
        &path,
        "[stage.echo]\ncommand = echo hi\nenv = A=1, B=two\nrestart = always\ndepends_on = bronze\n",
    )
    .unwrap();
    let s = Settings::load_with_env(Some(&path), &[]).unwrap();
    assert_eq!(s.commands.len(), 1);
    let c = &s.commands[0];
    assert_eq!(c.name, "echo");
    assert_eq!(c.command, "echo hi");
    assert_eq!(
        c.env,
        vec![("A".into(), "1".into()), ("B".into(), "two".into())]
    );
    assert_eq!(c.restart, RestartPolicy::Always);
    assert_eq!(c.depends_on, vec!["bronze".to_string()]);

    std::fs::write(&path, "[stage.echo]\ncommand = echo\nrestart = sometimes\n").unwrap();
    let err = Settings::load_with_env(Some(&path), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("stage.echo.restart = \"sometimes\""), "{err}");
}

#[test]
fn password_is_not_in_debug_output() {
    let s = load(&[("SSP__POSTGRESQL__PASSWORD", "hunter2-secret")]).unwrap();
    assert_eq!(s.postgresql.password, "hunter2-secret");
    assert!(!format!("{s:?}").contains("hunter2-secret"));
}

#[test]
fn a_smaller_collect_keeps_the_seed_split_ratios() {
    let s = load(&[("SSP__LEARN__COLLECT_SIZE", "1000")]).unwrap();
    assert_eq!(
        (s.learn.test_size, s.learn.dev_size, s.learn.weak_train_size),
        (50, 25, 500)
    );
    // Split sizes set by hand that do not fit are still refused, naming the key.
    let e = load(&[
        ("SSP__LEARN__COLLECT_SIZE", "1000"),
        ("SSP__LEARN__TEST_SIZE", "900"),
    ])
    .unwrap_err();
    assert!(e.to_string().contains("learn.collect_size"), "{e}");
}

#[test]
fn replay_speed_reads_as_a_multiplier() {
    assert_eq!(load(&[]).unwrap().source.speed, None, "off by default");
    for (raw, want) in [("10x", Some(10.0)), ("0.5X", Some(0.5)), ("2", Some(2.0))] {
        let s = load(&[("SSP__SOURCE__SPEED", raw)]).unwrap();
        assert_eq!(s.source.speed, want, "{raw}");
    }
    for bad in ["fast", "0x", "-2x", "infx"] {
        let e = load(&[("SSP__SOURCE__SPEED", bad)])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("source.speed") && e.contains("10x"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn sslmode_names_the_key_and_the_choices() {
    assert_eq!(load(&[]).unwrap().postgresql.ssl_mode, SslMode::Prefer);
    let s = load(&[
        ("SSP__POSTGRESQL__SSLMODE", "verify-full"),
        ("SSP__POSTGRESQL__SSLROOTCERT", "/etc/ssl/ca.pem"),
    ])
    .unwrap();
    assert_eq!(s.postgresql.ssl_mode, SslMode::VerifyFull);
    assert_eq!(
        s.postgresql.ssl_root_cert.as_deref(),
        Some(Path::new("/etc/ssl/ca.pem"))
    );
    let e = load(&[("SSP__POSTGRESQL__SSLMODE", "on")])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("postgresql.sslmode") && e.contains("verify-full"),
        "{e}"
    );
}
