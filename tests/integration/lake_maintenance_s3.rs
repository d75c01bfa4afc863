//! `lake optimize` / `lake vacuum` / `lake convert` and the old-layout check on a lake in
//! `s3://$SSP_TEST_S3_BUCKET/<prefix>` (the S3-compatible test server at
//! `SSP_TEST_S3_ENDPOINT`, started by scripts/test.sh). Skipped loudly without a server unless
//! `SSP_REQUIRE_SERVICES=1` (or CI). Its own test binary: it sets the `AWS_*` variables.

use crate::lake_support;

use lake_support::*;
use object_store::ObjectStoreExt as _;
use ssp_tui::lake::convert::{self, LayoutError, Outcome};
use ssp_tui::lake::maintenance::{self, VacuumOptions};
use ssp_tui::lake::{LakeLocation, Layer};

fn server() -> Option<(String, String)> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (var("SSP_TEST_S3_ENDPOINT"), var("SSP_TEST_S3_BUCKET")) {
        (Some(e), Some(b)) => Some((e, b)),
        _ => {
            crate::common::services::missing(
                "the S3 server (SSP_TEST_S3_ENDPOINT / SSP_TEST_S3_BUCKET)",
                "scripts/test.sh starts one (scripts/start-s3.sh)",
            );
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optimize_vacuum_and_convert_on_s3() {
    let Some((endpoint, bucket)) = server() else {
        return;
    };
    // The only test of this binary: nothing else reads the environment concurrently.
    for (k, v) in [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ] {
        if std::env::var(k).is_err() || k == "AWS_ENDPOINT_URL" {
            std::env::set_var(k, v);
        }
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let root = format!("s3://{bucket}/ssp-maint-{}-{nanos}", std::process::id());

    // Optimize and vacuum.
    let loc = LakeLocation::parse(&format!("{root}/a")).unwrap();
    let mut t = create(&loc, "bronze").await;
    for i in 0..12 {
        commit_ids(&mut t, i * 10, 10, 0).await;
    }
    let ids = snapshot_ids(&loc, "bronze").await;
    assert_eq!(ids.len(), 120);
    let o = maintenance::optimize(&loc, "bronze")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((o.before.files, o.after.files), (12, 1));
    assert_eq!((o.before.rows, o.after.rows), (120, 120));
    assert_eq!(snapshot_ids(&loc, "bronze").await, ids);
    let opts = VacuumOptions {
        retention_hours: Some(0),
        allow_short_retention: true,
        ..Default::default()
    };
    let v = maintenance::vacuum(&loc, "bronze", &opts)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.files.len(), 12, "{v:?}");
    let store = t.log_store().object_store(None);
    for f in &v.files {
        let gone = store.head(&deltalake::Path::from(f.as_str())).await;
        assert!(gone.is_err(), "{f} still on the server");
    }
    assert_eq!(snapshot_ids(&loc, "bronze").await, ids);

    // An old layout is refused, then converted.
    let old = LakeLocation::parse(&format!("{root}/b")).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let expected = write_old_bronze(
        scratch.path(),
        &[("2024-03-01", 0..30), ("2024-03-02", 30..50)],
    );
    let bronze = deltalake::DeltaTableBuilder::from_url(old.table_url("bronze"))
        .unwrap()
        .with_storage_options(
            [
                ("AWS_ALLOW_HTTP", "true"),
                ("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "false"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        )
        .build()
        .unwrap();
    let store = bronze.log_store().object_store(None);
    for (rel, _) in data_files(&scratch.path().join("bronze")) {
        let bytes = std::fs::read(scratch.path().join("bronze").join(&rel)).unwrap();
        store
            .put(&deltalake::Path::from(rel.as_str()), bytes.into())
            .await
            .unwrap();
    }
    let err = convert::check_layout(&old).await.unwrap_err();
    assert!(matches!(err, LayoutError::OldLayout { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("/b/bronze holds plain Parquet files"),
        "{err}"
    );
    let done = convert::convert(&old, &[Layer::Bronze]).await.unwrap();
    assert!(
        matches!(&done[0], ("bronze", Outcome::Converted(s)) if s.files == 2 && s.rows == 50),
        "{done:?}"
    );
    convert::check_layout(&old).await.unwrap();
    let mut rows = ssp_tui::lake::read_bronze_rows(&old).await.unwrap();
    rows.sort_by_key(|r| r.offset);
    assert_eq!(rows, expected);
}
