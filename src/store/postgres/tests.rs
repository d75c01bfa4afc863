//! Tests of table naming and of what the store says about itself (no database needed).

use super::*;

fn settings(url: Option<&str>) -> PostgresSettings {
    PostgresSettings {
        host: "db.example".into(),
        port: 6543,
        database: "sparkstreamingdb".into(),
        user: "sparkstreaming".into(),
        password: "s3cret-pw".into(),
        url: url.map(str::to_string),
        schema: "public".into(),
        ssl_mode: crate::config::SslMode::Prefer,
        ssl_root_cert: None,
    }
}

#[test]
fn describe_and_errors_never_show_the_password() {
    let t = Ident::new("t", "trending_hashtags").unwrap();
    let s = PostgresStore::new(&settings(None), &t).unwrap();
    assert_eq!(
        s.describe(),
        "postgres sparkstreaming@db.example:6543/sparkstreamingdb schema public"
    );
    let s = PostgresStore::new(&settings(Some("postgres://u:s3cret-pw@h:1/d")), &t).unwrap();
    assert!(!s.describe().contains("s3cret"), "{}", s.describe());
    let e = PostgresStore::new(&settings(Some("postgres://u:s3cret-pw@h:notaport/d")), &t)
        .err()
        .unwrap();
    assert!(!e.to_string().contains("s3cret"), "{e}");
    assert!(!format!("{:?}", settings(Some("postgres://u:s3cret-pw@h/d"))).contains("s3cret"));
}

#[test]
fn table_names_are_validated_with_their_suffixes() {
    let ok =
        TrendingTables::new("ssp_test_1", &Ident::new("t", "trending_hashtags").unwrap()).unwrap();
    assert_eq!(
        ok.legacy_files.to_string(),
        "\"ssp_test_1\".\"trending_hashtags_files\""
    );
    assert!(TrendingTables::new("Bad-Schema", &Ident::new("t", "x").unwrap()).is_err());
    let long = Ident::new("t", &"a".repeat(55)).unwrap();
    let e = TrendingTables::new("public", &long).unwrap_err();
    assert!(e.to_string().contains("trending.table"), "{e}");
}
