//! Reusable read buffers for the replay. Records are cut out of a chunk without a copy and
//! travel on the bus as slices of it; when the last slice is dropped the buffer returns to the
//! pool, so replaying a large file does not fault fresh memory in for every chunk.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

pub struct ChunkPool {
    idle: Mutex<Vec<Vec<u8>>>,
    /// Idle buffers kept at most (the rest are freed).
    keep: usize,
}

impl ChunkPool {
    pub fn new(keep: usize) -> Arc<ChunkPool> {
        Arc::new(ChunkPool {
            idle: Mutex::new(Vec::new()),
            keep,
        })
    }

    /// An empty buffer with room for at least `capacity` bytes (a returned one when there is).
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        let mut buf = self
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default();
        buf.clear();
        buf.reserve(capacity);
        buf
    }

    /// `buf` as shared bytes; it comes back to this pool once every slice of it is dropped.
    pub fn share(self: &Arc<Self>, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Pooled {
            buf,
            pool: self.clone(),
        })
    }

    fn give_back(&self, buf: Vec<u8>) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.keep {
            idle.push(buf);
        }
    }
}

struct Pooled {
    buf: Vec<u8>,
    pool: Arc<ChunkPool>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_comes_back_when_its_last_slice_is_dropped() {
        let pool = ChunkPool::new(2);
        let mut buf = pool.take(64);
        buf.extend_from_slice(b"line one\nline two\n");
        let ptr = buf.as_ptr();
        let all = pool.share(buf);
        let first = all.slice(0..8);
        drop(all);
        assert_eq!(&first[..], b"line one");
        assert!(pool.idle.lock().unwrap().is_empty(), "still in use");
        drop(first);
        let again = pool.take(64);
        assert_eq!(again.as_ptr(), ptr, "the same memory is reused");
        assert!(again.is_empty());
    }
}
