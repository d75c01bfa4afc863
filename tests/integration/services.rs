//! One rule for a service a test needs and this machine may lack (Kafka, PostgreSQL, the spaCy
//! service, an S3 server, the Python `deltalake` reader, root for network namespaces): where
//! services are required (`SSP_REQUIRE_SERVICES=1`, which `scripts/test.sh` sets, or `CI` set
//! to anything but `0` / `false`) a missing one fails the test; elsewhere the test is skipped,
//! loudly.
#![allow(dead_code)]

pub fn required() -> bool {
    std::env::var("SSP_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
        || std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// `what` is not here (`how`: how to provide it): panics where services are required, else
/// says SKIPPED on the terminal and returns.
pub fn missing(what: &str, how: &str) {
    if required() {
        panic!("{what} is required here but missing: {how}");
    }
    eprintln!("\n*** SKIPPED: {what} is missing: {how} ***\n");
}

/// The variable `name` (trimmed, non-empty), or `None` after [`missing`].
pub fn var_or_skip(name: &str, how: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Some(v.trim().to_string()),
        _ => {
            missing(&format!("{name} is not set, so the service"), how);
            None
        }
    }
}
