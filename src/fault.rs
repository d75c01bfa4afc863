//! Fault injection for crash-window tests: `SSP_FAULTS=name,name` arms named points in the
//! real binary (e.g. `bronze.bus_commit` makes the bus offset commit after a Delta commit
//! fail). Unset in normal use: one environment read per process.

use std::collections::BTreeSet;
use std::sync::OnceLock;

/// True when the fault point `name` is armed.
pub fn armed(name: &str) -> bool {
    static ARMED: OnceLock<BTreeSet<String>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            std::env::var("SSP_FAULTS")
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .contains(name)
}
