//! One writer per output: a consumer that writes a store or a table holds a lease, a lock
//! file under the lake's local folder (`_leases/<name>.lock`), locked by the OS for as long as
//! the process lives (a kill -9 releases it). A second process asking for the same lease is
//! refused with a message that names the holder.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("{name} is already running against this lake ({holder}); stop it first, or point this one at another lake")]
    Held { name: String, holder: String },
    #[error("lease {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held while alive; dropping it (or the process dying) releases the lease.
#[derive(Debug)]
pub struct Lease {
    _file: File,
    path: PathBuf,
}

impl Lease {
    /// Takes lease `name` under `dir` (`<dir>/_leases/<name>.lock`) or says who holds it.
    pub fn acquire(dir: &Path, name: &str) -> Result<Lease, LeaseError> {
        let folder = dir.join("_leases");
        let io = |source| LeaseError::Io {
            path: folder.clone(),
            source,
        };
        std::fs::create_dir_all(&folder).map_err(io)?;
        let path = folder.join(format!("{}.lock", name.replace('/', "_")));
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "another process".to_string(),
                    h => h.to_string(),
                };
                return Err(LeaseError::Held {
                    name: name.to_string(),
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let host = hostname();
        let me = format!("pid {} on {host}", std::process::id());
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = file.write_all(me.as_bytes());
        let _ = file.sync_data();
        Ok(Lease { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "this host".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = Lease::acquire(dir.path(), "trending").unwrap();
        let err = Lease::acquire(dir.path(), "trending").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("trending is already running"), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        let other = Lease::acquire(dir.path(), "ner");
        assert!(other.is_ok(), "leases are per name");
        drop(first);
        Lease::acquire(dir.path(), "trending").expect("released on drop");
    }
}
