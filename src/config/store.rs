//! The store's extra connection keys: `[postgresql] url` and `schema`.

use super::ident::is_valid_ident;
use super::reader::Reader;
use super::ConfigError;

/// `postgresql.url` (`postgres://user:password@host:port/database`), overriding host, port,
/// database, user and password when set. Checked when the store opens (the URL holds the
/// password, so its errors never repeat it).
pub(super) fn url(r: &Reader) -> Option<String> {
    r.raw("postgresql", "url")
        .filter(|u| !u.is_empty())
        .map(str::to_string)
}

/// `postgresql.sslmode` (default `prefer`).
pub(super) fn ssl_mode(r: &Reader) -> Result<super::SslMode, ConfigError> {
    use super::SslMode::*;
    let raw = r.string("postgresql", "sslmode", "prefer");
    match raw.to_ascii_lowercase().as_str() {
        "disable" => Ok(Disable),
        "prefer" => Ok(Prefer),
        "require" => Ok(Require),
        "verify-full" | "verify_full" => Ok(VerifyFull),
        _ => Err(ConfigError::invalid(
            "postgresql.sslmode",
            &raw,
            "one of disable | prefer | require | verify-full",
        )),
    }
}

/// `postgresql.schema`: where ssp-tui's tables live (default `public`).
pub(super) fn schema(r: &Reader) -> Result<String, ConfigError> {
    let schema = r.string("postgresql", "schema", "public");
    if !is_valid_ident(&schema) {
        return Err(ConfigError::invalid(
            "postgresql.schema",
            &schema,
            "a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most 63 characters)",
        ));
    }
    Ok(schema)
}
