//! Where the lake lives: a local folder or an object-store URL (`s3://bucket/prefix`), as
//! `[lake] root` names it. The lake's tables are opened from it (`crate::lake::table`).

use std::path::{Path, PathBuf};

use url::Url;

/// Where the lake's tables live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeLocation {
    root: Url,
}

impl LakeLocation {
    /// `root` is a folder path or a URL (`s3://bucket/prefix`, `file:///abs/path`).
    pub fn parse(root: &str) -> Result<LakeLocation, String> {
        if root.contains("://") {
            let mut url = Url::parse(root).map_err(|e| e.to_string())?;
            match url.scheme() {
                "s3" | "s3a" | "file" | "memory" => {}
                other => {
                    return Err(format!(
                        "unsupported scheme {other}:// (use s3:// or a folder)"
                    ))
                }
            }
            if !url.path().ends_with('/') {
                url.set_path(&format!("{}/", url.path()));
            }
            return Ok(LakeLocation { root: url });
        }
        Ok(LakeLocation::local(Path::new(root)))
    }

    /// A local folder (made absolute against the current directory).
    pub fn local(dir: &Path) -> LakeLocation {
        let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let mut url = Url::from_directory_path(&abs).unwrap_or_else(|()| root_url());
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        LakeLocation { root: url }
    }

    pub fn url(&self) -> &Url {
        &self.root
    }

    /// The local folder, when the lake is one.
    pub fn local_dir(&self) -> Option<PathBuf> {
        (self.root.scheme() == "file")
            .then(|| self.root.to_file_path().ok())
            .flatten()
    }

    pub fn is_local(&self) -> bool {
        self.local_dir().is_some()
    }

    /// URL of table `name` (e.g. `silver/ner`).
    pub fn table_url(&self, name: &str) -> Url {
        self.root
            .join(&format!("{name}/"))
            .unwrap_or_else(|_| self.root.clone())
    }

    /// Shown to users: the folder, or the URL without credentials.
    pub fn display(&self) -> String {
        match self.local_dir() {
            Some(p) => p.display().to_string(),
            None => {
                let mut u = self.root.clone();
                let _ = u.set_password(None);
                let _ = u.set_username("");
                u.to_string()
            }
        }
    }
}

/// `file:///`, for a folder that has no URL form.
fn root_url() -> Url {
    // Invariant: a constant, valid URL.
    #[allow(clippy::expect_used)]
    Url::parse("file:///").expect("static URL")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let l = LakeLocation::parse("s3://bucket/pre/fix").unwrap();
        assert_eq!(
            l.table_url("silver/ner").as_str(),
            "s3://bucket/pre/fix/silver/ner/"
        );
        assert!(!l.is_local());
        let d = LakeLocation::parse("/tmp/lake").unwrap();
        assert_eq!(d.table_url("bronze").as_str(), "file:///tmp/lake/bronze/");
        assert_eq!(d.local_dir().unwrap(), PathBuf::from("/tmp/lake"));
        assert!(LakeLocation::parse("ftp://x/y").is_err());
    }
}
