//! The bounded cache of whole segments in front of an object store: the segments written or
//! read lately (live ones), least recently used first out, bounded in bytes
//! (`--segment-cache-bytes`).
//!
//! A segment never changes once stored (a different upload for the same `seq` is refused),
//! so an entry never goes stale: it is only evicted.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use bytes::Bytes;

use super::SegmentKey;

/// Whole segments by key, at most `capacity` bytes of them.
#[derive(Debug)]
pub struct SegmentCache {
    capacity: u64,
    inner: Mutex<Lru>,
}

#[derive(Debug, Default)]
struct Lru {
    /// Each entry and the tick of its last use.
    entries: HashMap<SegmentKey, (Bytes, u64)>,
    /// Keys by the tick of their last use, oldest first.
    order: BTreeMap<u64, SegmentKey>,
    bytes: u64,
    tick: u64,
}

/// What the cache holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Entries.
    pub entries: usize,
    /// Their bytes.
    pub bytes: u64,
    /// The bound.
    pub capacity: u64,
}

impl SegmentCache {
    /// An empty cache of at most `capacity` bytes (0: caches nothing).
    pub fn new(capacity: u64) -> SegmentCache {
        SegmentCache { capacity, inner: Mutex::new(Lru::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The segment, if cached (and marks it used).
    pub fn get(&self, key: &SegmentKey) -> Option<Bytes> {
        let mut lru = self.lock();
        lru.tick += 1;
        let tick = lru.tick;
        let (bytes, old) = {
            let (bytes, used) = lru.entries.get_mut(key)?;
            let old = std::mem::replace(used, tick);
            (bytes.clone(), old)
        };
        lru.order.remove(&old);
        lru.order.insert(tick, key.clone());
        Some(bytes)
    }

    /// Caches a segment, evicting the least recently used ones to make room. A segment larger
    /// than the whole cache is not cached.
    pub fn insert(&self, key: SegmentKey, data: Bytes) {
        let size = data.len() as u64;
        if size > self.capacity {
            return;
        }
        let mut lru = self.lock();
        if let Some((old, used)) = lru.entries.remove(&key) {
            lru.order.remove(&used);
            lru.bytes -= old.len() as u64;
        }
        while lru.bytes + size > self.capacity {
            let Some((_, oldest)) = lru.order.pop_first() else { break };
            if let Some((evicted, _)) = lru.entries.remove(&oldest) {
                lru.bytes -= evicted.len() as u64;
            }
        }
        lru.tick += 1;
        let tick = lru.tick;
        lru.order.insert(tick, key.clone());
        lru.entries.insert(key, (data, tick));
        lru.bytes += size;
    }

    /// How full it is.
    pub fn stats(&self) -> CacheStats {
        let lru = self.lock();
        CacheStats { entries: lru.entries.len(), bytes: lru.bytes, capacity: self.capacity }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seq: u32) -> SegmentKey {
        SegmentKey::source("s", seq)
    }

    #[test]
    fn evicts_the_least_recently_used_within_the_byte_bound() {
        let c = SegmentCache::new(10);
        c.insert(key(0), Bytes::from_static(b"aaaa"));
        c.insert(key(1), Bytes::from_static(b"bbbb"));
        assert_eq!(c.get(&key(0)).as_deref(), Some(&b"aaaa"[..])); // 1 is now the oldest
        c.insert(key(2), Bytes::from_static(b"cccc"));
        assert!(c.get(&key(1)).is_none(), "the least recently used went first");
        assert!(c.get(&key(0)).is_some() && c.get(&key(2)).is_some());
        assert_eq!(c.stats(), CacheStats { entries: 2, bytes: 8, capacity: 10 });

        // Too big for the whole cache: not cached, nothing evicted.
        c.insert(key(3), Bytes::from(vec![0; 11]));
        assert!(c.get(&key(3)).is_none());
        assert_eq!(c.stats().entries, 2);
        // Replacing an entry counts its bytes once.
        c.insert(key(2), Bytes::from_static(b"cc"));
        assert_eq!(c.stats().bytes, 6);
        // Exactly the capacity fits, after evicting everything else.
        c.insert(key(4), Bytes::from(vec![1; 10]));
        assert_eq!(c.stats(), CacheStats { entries: 1, bytes: 10, capacity: 10 });
    }

    #[test]
    fn a_zero_capacity_cache_holds_nothing() {
        let c = SegmentCache::new(0);
        c.insert(key(0), Bytes::from_static(b"x"));
        assert!(c.get(&key(0)).is_none());
        c.insert(key(1), Bytes::new());
        assert_eq!(c.stats().bytes, 0);
    }
}
