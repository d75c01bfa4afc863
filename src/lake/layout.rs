//! Where things live in the lake directory.

use std::io;
use std::path::{Path, PathBuf};

/// The lake's directory layout: `<root>/{bronze,silver,gold,dead_letter}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeLayout {
    root: PathBuf,
}

/// A Parquet layer of the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    Bronze,
    Silver,
    Gold,
}

impl Layer {
    pub const ALL: [Layer; 3] = [Layer::Bronze, Layer::Silver, Layer::Gold];

    /// Directory name of the layer.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Bronze => "bronze",
            Layer::Silver => "silver",
            Layer::Gold => "gold",
        }
    }
}

impl LakeLayout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn layer(&self, layer: Layer) -> PathBuf {
        self.root.join(layer.name())
    }

    pub fn bronze(&self) -> PathBuf {
        self.layer(Layer::Bronze)
    }

    pub fn silver(&self) -> PathBuf {
        self.layer(Layer::Silver)
    }

    pub fn gold(&self) -> PathBuf {
        self.layer(Layer::Gold)
    }

    pub fn dead_letter(&self) -> PathBuf {
        self.root.join("dead_letter")
    }
}

/// A finished Parquet file: `*.parquet` and not hidden (temp files are `.<name>.parquet.tmp`).
pub fn is_complete_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".parquet") && !n.starts_with('.'))
}

/// Files under `dir` (recursively) accepted by `keep`, sorted by path.
/// A missing `dir`, or entries vanishing during the walk, are not errors.
pub(crate) fn walk_files(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() && keep(&path) => out.push(path),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_complete_files() {
        let l = LakeLayout::new("/lake");
        assert_eq!(l.bronze(), Path::new("/lake/bronze"));
        assert_eq!(l.gold(), Path::new("/lake/gold"));
        assert_eq!(l.dead_letter(), Path::new("/lake/dead_letter"));
        let names: Vec<_> = Layer::ALL.iter().map(|l| l.name()).collect();
        assert_eq!(names, ["bronze", "silver", "gold"]);
        assert!(is_complete_file(Path::new(
            "/x/date=2024-01-01/part-1.parquet"
        )));
        assert!(!is_complete_file(Path::new("/x/.part-1.parquet.tmp")));
        assert!(!is_complete_file(Path::new("/x/.part-1.parquet")));
        assert!(!is_complete_file(Path::new("/x/notes.txt")));
    }

    #[test]
    fn walk_missing_dir_is_empty() {
        let files = walk_files(Path::new("/definitely/not/here"), &|_| true).unwrap();
        assert!(files.is_empty());
    }
}
