//! TLS to PostgreSQL (`[postgresql] sslmode`, `sslrootcert`) against the test server, which
//! `scripts/start-postgres.sh` starts with ssl=on and a certificate from its own throw-away
//! authority (`SSP_TEST_PG_CA`). Whether a connection is encrypted is asked of the server
//! itself (`pg_stat_ssl`), not of our client.

use crate::common::services;
use crate::trending_support::pg_url;

use ssp_tui::config::Settings;
use ssp_tui::store::pg::LazyClient;

fn ca() -> Option<String> {
    services::var_or_skip(
        "SSP_TEST_PG_CA",
        "scripts/test.sh sets it (scripts/start-postgres.sh ca)",
    )
}

fn settings(url: &str, extra: &[(&str, &str)]) -> Settings {
    let mut env = vec![("SSP__POSTGRESQL__URL".to_string(), url.to_string())];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.ini");
    Settings::load_with_env(Some(&config), &env).expect("settings")
}

/// (encrypted, TLS version) as the server sees this connection; `Err`: why it could not connect.
async fn server_view(s: &Settings) -> Result<(bool, Option<String>), String> {
    let client = LazyClient::new(&s.postgresql).map_err(|e| e.to_string())?;
    let guard = client.get().await?;
    let c = guard.as_ref().expect("connected");
    let row = c
        .query_one(
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok((row.get(0), row.get(1)))
}

#[tokio::test]
async fn each_sslmode_as_the_server_sees_it() {
    let (Some(url), Some(ca)) = (pg_url(), ca()) else {
        return;
    };
    // verify-full with the server's authority: encrypted, its certificate and name checked.
    let s = settings(
        &url,
        &[
            ("SSP__POSTGRESQL__SSLMODE", "verify-full"),
            ("SSP__POSTGRESQL__SSLROOTCERT", &ca),
        ],
    );
    let (ssl, version) = server_view(&s).await.expect("verify-full with the CA");
    assert!(ssl, "verify-full is encrypted");
    assert!(version.is_some_and(|v| v.starts_with("TLS")));
    // require and prefer encrypt too (without checking the certificate).
    for mode in ["require", "prefer"] {
        let s = settings(&url, &[("SSP__POSTGRESQL__SSLMODE", mode)]);
        assert_eq!(server_view(&s).await.map(|v| v.0), Ok(true), "{mode}");
    }
    // disable: plain text.
    let s = settings(&url, &[("SSP__POSTGRESQL__SSLMODE", "disable")]);
    assert_eq!(server_view(&s).await.map(|v| v.0), Ok(false), "disable");
}

#[tokio::test]
async fn verify_full_refuses_a_certificate_it_cannot_trust() {
    let (Some(url), Some(_)) = (pg_url(), ca()) else {
        return;
    };
    // Another authority than the server's: the certificate is refused, and the error says so.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other-ca.crt");
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=not the server's CA", "-keyout"])
        .arg(dir.path().join("k.pem"))
        .arg("-out")
        .arg(&other)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let s = settings(
        &url,
        &[
            ("SSP__POSTGRESQL__SSLMODE", "verify-full"),
            ("SSP__POSTGRESQL__SSLROOTCERT", other.to_str().unwrap()),
        ],
    );
    let err = server_view(&s).await.expect_err("an untrusted certificate");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    // A file that is not there is a config error naming the key.
    let s = settings(
        &url,
        &[
            ("SSP__POSTGRESQL__SSLMODE", "verify-full"),
            ("SSP__POSTGRESQL__SSLROOTCERT", "/nonexistent/ca.pem"),
        ],
    );
    let err = server_view(&s).await.expect_err("no such file");
    assert!(err.contains("postgresql.sslrootcert"), "{err}");
    assert!(!err.contains("ssp:ssp"), "no password in errors: {err}");
}
