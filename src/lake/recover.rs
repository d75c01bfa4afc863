//! Recovery of what a bronze writer made durable but may not have committed: every bronze
//! file records, in its Parquet footer, the next offset per partition it covers. A writer
//! killed between renaming a file and committing its offsets would otherwise write those
//! messages again after a restart.

use std::collections::BTreeMap;
use std::path::Path;

use parquet::file::reader::{FileReader, SerializedFileReader};
use serde::{Deserialize, Serialize};

use super::list_complete_files;

/// Footer key of the offsets a bronze file covers.
pub const FOOTER_KEY: &str = "ssp.bronze.commit";

#[derive(Serialize, Deserialize)]
struct Footer {
    topic: String,
    next: BTreeMap<i32, i64>,
}

pub fn footer_value(topic: &str, next: &BTreeMap<i32, i64>) -> String {
    serde_json::to_string(&Footer {
        topic: topic.to_string(),
        next: next.clone(),
    })
    .unwrap_or_default()
}

/// Per partition of `topic`, the highest next-offset any complete file under `dir` covers.
/// Unreadable files are skipped (with a warning): they cannot hold durable data.
pub fn durable_offsets(dir: &Path, topic: &str) -> std::io::Result<BTreeMap<i32, i64>> {
    let mut out = BTreeMap::new();
    for path in list_complete_files(dir)? {
        let reader = match std::fs::File::open(&path)
            .map_err(|e| e.to_string())
            .and_then(|f| SerializedFileReader::new(f).map_err(|e| e.to_string()))
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "skipping unreadable file");
                continue;
            }
        };
        let kv = reader.metadata().file_metadata().key_value_metadata();
        let Some(value) = kv
            .and_then(|kv| kv.iter().find(|k| k.key == FOOTER_KEY))
            .and_then(|k| k.value.clone())
        else {
            continue;
        };
        let Ok(footer) = serde_json::from_str::<Footer>(&value) else {
            continue;
        };
        if footer.topic != topic {
            continue;
        }
        for (p, o) in footer.next {
            let e = out.entry(p).or_insert(o);
            *e = (*e).max(o);
        }
    }
    Ok(out)
}
