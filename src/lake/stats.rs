//! Lake statistics for `ssp-tui lake stats` and the TUI's Lake pane, read from the Delta log:
//! per table the version and the files / rows (`numRecords` of the `add` stats) / bytes of
//! the current snapshot. A scanner keeps its tables open and refreshes them incrementally,
//! so a scan costs the commits since the previous one. Dead letters are local JSONL files,
//! counted from where each file ended at the previous scan.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deltalake::DeltaTable;
use serde::Serialize;

use super::dead_letter::{count_lines_between, list_dead_letter_files};
use super::layout::{LakeLayout, Layer};
use super::table::{self, LakeLocation, TableError};
use super::LakeError;

/// The lake's tables and the layer each belongs to.
pub const TABLES: [(Layer, &str); 4] = [
    (Layer::Bronze, "bronze"),
    (Layer::Silver, "silver/ner"),
    (Layer::Gold, "gold/trending_hashtags"),
    (Layer::Gold, "gold/ai_tweets"),
];

/// Files younger than this count as "recent" (`files_last_minute`).
const RECENT: Duration = Duration::from_secs(60);

/// Totals of a table's current snapshot, or of a layer (its tables summed).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LayerStats {
    /// Table version; for a layer the version of its first table (gold:
    /// `gold/trending_hashtags`). `None` while the table does not exist.
    pub version: Option<i64>,
    pub files: u64,
    /// Sum of `numRecords` of the `add` actions.
    pub rows: u64,
    pub bytes: u64,
    /// Modification time of the newest file (from its `add` action).
    #[serde(skip)]
    pub newest: Option<SystemTime>,
    /// Files added within the last minute.
    #[serde(skip)]
    pub files_last_minute: u64,
    /// Per table of the layer (empty for a table's own stats).
    #[serde(skip)]
    pub tables: Vec<(&'static str, LayerStats)>,
}

impl LayerStats {
    fn add(&mut self, name: &'static str, t: LayerStats) {
        if self.tables.is_empty() {
            self.version = t.version;
        }
        self.files += t.files;
        self.rows += t.rows;
        self.bytes += t.bytes;
        self.newest = self.newest.max(t.newest);
        self.files_last_minute += t.files_last_minute;
        self.tables.push((name, t));
    }
}

/// Totals of the whole lake.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LakeStats {
    pub bronze: LayerStats,
    pub silver: LayerStats,
    pub gold: LayerStats,
    pub dead_letter: u64,
}

impl LakeStats {
    /// `{"bronze":{"version","files","rows","bytes"},"silver":{..},"gold":{..},
    /// "dead_letter":N,"tables":{"bronze":{..},"silver/ner":{..},..}}`: silver is `silver/ner`,
    /// gold sums both gold tables and carries the version of `gold/trending_hashtags`.
    pub fn to_json(&self) -> serde_json::Value {
        let tables: serde_json::Map<_, _> = self
            .tables()
            .map(|(name, t)| (name.to_string(), serde_json::json!(t)))
            .collect();
        serde_json::json!({
            "bronze": self.bronze,
            "silver": self.silver,
            "gold": self.gold,
            "dead_letter": self.dead_letter,
            "tables": tables,
        })
    }

    pub fn layer(&self, layer: Layer) -> &LayerStats {
        match layer {
            Layer::Bronze => &self.bronze,
            Layer::Silver => &self.silver,
            Layer::Gold => &self.gold,
        }
    }

    /// Every table's stats, in [`TABLES`] order.
    pub fn tables(&self) -> impl Iterator<Item = (&'static str, &LayerStats)> {
        Layer::ALL
            .into_iter()
            .flat_map(move |l| self.layer(l).tables.iter().map(|(n, t)| (*n, t)))
    }
}

/// A table's totals at one version (recomputed only when the version changes or files are
/// recent enough to leave the "last minute" window).
struct Cached {
    table: DeltaTable,
    stats: LayerStats,
}

/// Keeps the tables open; each [`StatsScanner::scan`] reads only the new commits.
pub struct StatsScanner {
    location: LakeLocation,
    tables: HashMap<&'static str, Cached>,
    dead: DeadLetterCounter,
}

impl StatsScanner {
    /// `location`: where the tables live; `layout`: the local folder of the dead letters.
    pub fn new(location: LakeLocation, layout: LakeLayout) -> Self {
        Self {
            location,
            tables: HashMap::new(),
            dead: DeadLetterCounter {
                layout,
                seen: HashMap::new(),
            },
        }
    }

    pub async fn scan(&mut self) -> Result<LakeStats, LakeError> {
        let now = SystemTime::now();
        let mut stats = LakeStats::default();
        for (layer, name) in TABLES {
            let t = self.table(name, now).await?;
            match layer {
                Layer::Bronze => stats.bronze.add(name, t),
                Layer::Silver => stats.silver.add(name, t),
                Layer::Gold => stats.gold.add(name, t),
            }
        }
        // Dead letters are local files: counted on a blocking thread.
        let mut dead = std::mem::replace(
            &mut self.dead,
            DeadLetterCounter {
                layout: LakeLayout::new(""),
                seen: HashMap::new(),
            },
        );
        let (dead, count) = tokio::task::spawn_blocking(move || {
            let n = dead.count();
            (dead, n)
        })
        .await
        .map_err(|e| LakeError::Failed(format!("dead-letter count: {e}")))?;
        self.dead = dead;
        stats.dead_letter = count.map_err(|e| LakeError::io(self.dead.layout.root(), e))?;
        Ok(stats)
    }

    async fn table(
        &mut self,
        name: &'static str,
        now: SystemTime,
    ) -> Result<LayerStats, LakeError> {
        let cached = match self.tables.get_mut(name) {
            Some(c) => {
                let before = c.table.version();
                c.table
                    .update_incremental(None)
                    .await
                    .map_err(|e| TableError::delta(name, e))?;
                let recent = c.stats.newest.is_some_and(|t| {
                    now.duration_since(t).unwrap_or_default() < RECENT + Duration::from_secs(1)
                });
                if c.table.version() != before || recent {
                    c.stats = totals(&c.table, name, now)?;
                }
                c
            }
            None => {
                let Some(table) = table::open(&self.location, name).await? else {
                    return Ok(LayerStats::default());
                };
                let stats = totals(&table, name, now)?;
                self.tables.entry(name).or_insert(Cached { table, stats })
            }
        };
        Ok(cached.stats.clone())
    }
}

/// Totals of the table's current snapshot, from its `add` actions.
pub(crate) fn totals(
    table: &DeltaTable,
    name: &str,
    now: SystemTime,
) -> Result<LayerStats, LakeError> {
    let snapshot = table.snapshot().map_err(|e| TableError::delta(name, e))?;
    let mut s = LayerStats {
        version: i64::try_from(snapshot.version()).ok(),
        ..Default::default()
    };
    let mut missing_rows = 0u64;
    for file in snapshot.log_data().iter() {
        s.files += 1;
        s.bytes += u64::try_from(file.size()).unwrap_or(0);
        match file.num_records() {
            Some(n) => s.rows += n as u64,
            None => missing_rows += 1,
        }
        let mtime = UNIX_EPOCH + Duration::from_millis(file.modification_time().max(0) as u64);
        s.newest = s.newest.max(Some(mtime));
        if now.duration_since(mtime).unwrap_or_default() < RECENT {
            s.files_last_minute += 1;
        }
    }
    if missing_rows > 0 {
        tracing::warn!(
            table = name,
            files = missing_rows,
            "add actions without numRecords: rows undercounted"
        );
    }
    Ok(s)
}

/// Lines of the dead-letter files; an append-only file that grew is counted from its old end.
struct DeadLetterCounter {
    layout: LakeLayout,
    seen: HashMap<PathBuf, Seen>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Seen {
    len: u64,
    mtime: SystemTime,
    count: u64,
}

impl DeadLetterCounter {
    fn count(&mut self) -> io::Result<u64> {
        let mut seen = HashMap::new();
        let mut total = 0;
        for path in list_dead_letter_files(&self.layout)? {
            let Some((len, mtime)) = stat(&path)? else {
                continue;
            };
            let count = match self.seen.get(&path) {
                Some(s) if s.len == len && s.mtime == mtime => s.count,
                Some(s) if s.len < len => s.count + lines_between(&path, s.len, len)?,
                _ => lines_between(&path, 0, len)?,
            };
            seen.insert(path, Seen { len, mtime, count });
            total += count;
        }
        self.seen = seen;
        Ok(total)
    }
}

fn lines_between(path: &Path, from: u64, to: u64) -> io::Result<u64> {
    match count_lines_between(path, from, to) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        r => r,
    }
}

/// (len, mtime) of a file, `None` if it vanished.
fn stat(path: &Path) -> io::Result<Option<(u64, SystemTime)>> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some((m.len(), m.modified()?))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let mut gold = LayerStats::default();
        let t = |v, files, rows, bytes| LayerStats {
            version: v,
            files,
            rows,
            bytes,
            newest: Some(SystemTime::now()),
            files_last_minute: 1,
            tables: vec![],
        };
        gold.add("gold/trending_hashtags", t(Some(4), 1, 2, 3));
        gold.add("gold/ai_tweets", t(None, 3, 3, 3));
        let mut bronze = LayerStats::default();
        bronze.add("bronze", t(Some(9), 1, 2, 3));
        let s = LakeStats {
            bronze,
            gold,
            dead_letter: 7,
            ..Default::default()
        };
        let expected = serde_json::json!({
            "bronze": {"version": 9, "files": 1, "rows": 2, "bytes": 3},
            "silver": {"version": null, "files": 0, "rows": 0, "bytes": 0},
            "gold": {"version": 4, "files": 4, "rows": 5, "bytes": 6},
            "dead_letter": 7,
            "tables": {
                "bronze": {"version": 9, "files": 1, "rows": 2, "bytes": 3},
                "gold/trending_hashtags": {"version": 4, "files": 1, "rows": 2, "bytes": 3},
                "gold/ai_tweets": {"version": null, "files": 3, "rows": 3, "bytes": 3},
            }
        });
        assert_eq!(s.to_json(), expected);
        assert_eq!(s.gold.files_last_minute, 2);
    }
}
