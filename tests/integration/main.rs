//! The integration tests, as one test binary: every file here would otherwise link its own copy
//! of delta-rs, DataFusion and librdkafka (about 180 MB and a link step each). Tests that need a
//! process of their own (a global tracing subscriber, a count of this process's threads) are
//! separate binaries next to this folder, as are the broker-failure and broker-outage tests, which
//! time a paused or cut-off broker against a paced source and need the machine to themselves.

// Shared helpers.
mod common;
mod kafka_common;
mod lake_support;
mod learn_common;
mod ner_common;
mod trending_support;
mod tui_common;
mod x_api_fake;

// The tests, one module per area.
mod cli_config;
mod cluster_netns;
mod crash_recovery;
mod dead_letter;
mod kafka_bus;
mod kafka_exactly_once;
mod kafka_topic_id;
mod lake_interop;
mod lake_maintenance;
mod lake_maintenance_s3;
mod lake_s3;
mod learn_bench;
mod learn_dataset;
mod learn_durability;
mod learn_lf;
mod learn_model;
mod learn_pane;
mod learn_provenance;
mod learn_stages;
mod learn_tmux;
mod ner_bench;
mod ner_guard;
mod ner_hostile;
mod ner_pane;
mod ner_rules;
mod ner_spacy;
mod pipeline_latency;
mod pipeline_replay;
mod postgres_tls;
mod remote_status;
mod replay_resume;
mod sql_lake;
mod trending_embedded;
mod trending_lake;
mod trending_pane;
mod trending_pg;
mod tui_copy;
mod tui_e2e;
mod tui_keys;
mod tui_mouse;
mod tui_render;
