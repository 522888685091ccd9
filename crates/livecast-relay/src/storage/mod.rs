//! Segment storage behind one interface, [`Storage`]: where the bytes of every acknowledged
//! source segment and rendition live. The database says what exists; this module holds the
//! bytes.
//!
//! Backends (`--storage`):
//! - [`file`](mod@file): `file:DIR` (the default: `DATA_DIR/streams`), one file per segment, written
//!   atomically and fsynced; served from disk with `Range`. Start-up recovery checks every
//!   row against its file ([`crate::state`]).
//! - [`object`]: `s3://BUCKET[/PREFIX]`, one object per segment in an S3-compatible store,
//!   written with a conditional create; recently written or read segments are kept in a
//!   bytes-bounded LRU ([`cache`], `--segment-cache-bytes`) and served from memory, older
//!   ones are streamed from the store.
//!
//! Either way a write returns only once the store has the bytes, so the caller may commit
//! the row and answer `2xx`. A store that cannot be reached is [`StoreError::Unavailable`],
//! which the routes answer `503` with `Retry-After`.

pub mod cache;
pub mod file;
pub mod object;

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

pub use cache::SegmentCache;
pub use file::FileStore;
pub use object::{ObjectBackend, S3Config};

/// Segments read whole from the store into the cache at once (the rest are streamed), so a
/// crowd of viewers missing the cache at once cannot buffer unbounded memory.
pub const MAX_READ_THROUGH: usize = 8;

/// One stored segment: a stream's source (`profile` `None`) or one of its renditions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SegmentKey {
    /// Stream id (validated by [`crate::ids`]).
    pub stream: String,
    /// Rendition profile name, `None` for the source.
    pub profile: Option<String>,
    /// Segment number.
    pub seq: u32,
}

impl SegmentKey {
    /// The source segment `seq` of a stream.
    pub fn source(stream: &str, seq: u32) -> SegmentKey {
        debug_assert!(crate::ids::is_valid_name(stream));
        SegmentKey { stream: stream.to_owned(), profile: None, seq }
    }

    /// The rendition `profile` of segment `seq`.
    pub fn rendition(stream: &str, profile: &str, seq: u32) -> SegmentKey {
        debug_assert!(crate::ids::is_valid_name(stream) && crate::ids::is_valid_profile(profile));
        SegmentKey { stream: stream.to_owned(), profile: Some(profile.to_owned()), seq }
    }

    /// `{stream}/{seq}.ts` or `{stream}/{profile}/{seq}.ts`: the layout of both backends.
    pub fn relative_path(&self) -> String {
        match &self.profile {
            None => format!("{}/{}.ts", self.stream, self.seq),
            Some(p) => format!("{}/{p}/{}.ts", self.stream, self.seq),
        }
    }
}

/// Which backend, and where (`--storage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageConfig {
    /// Files under a directory.
    File(PathBuf),
    /// Objects in an S3-compatible bucket.
    S3(S3Config),
}

/// What `--storage` names, before the S3 flags are added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUrl {
    /// `file:DIR`.
    File(PathBuf),
    /// `s3://BUCKET[/PREFIX]`: the bucket and the prefix (maybe empty).
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix, without leading or trailing `/`.
        prefix: String,
    },
}

impl StorageUrl {
    /// Parses `file:DIR` or `s3://BUCKET[/PREFIX]`.
    pub fn parse(text: &str) -> Result<StorageUrl, String> {
        if let Some(dir) = text.strip_prefix("file:") {
            let dir = dir.strip_prefix("//").unwrap_or(dir);
            if dir.is_empty() {
                return Err("file: needs a directory, e.g. file:/var/lib/livecast/streams".into());
            }
            return Ok(StorageUrl::File(PathBuf::from(dir)));
        }
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let bucket_ok = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
            if !bucket_ok {
                return Err(format!("{bucket:?} is not a bucket name (3 to 63 of a-z 0-9 . -)"));
            }
            let prefix = prefix.trim_matches('/');
            if prefix.split('/').any(|part| part == "." || part == "..") || prefix.contains("//") {
                return Err(format!("the key prefix {prefix:?} has an empty, . or .. part"));
            }
            return Ok(StorageUrl::S3 { bucket: bucket.to_owned(), prefix: prefix.to_owned() });
        }
        Err(format!("{text:?}: use file:DIR or s3://BUCKET[/PREFIX]"))
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such segment in the store.
    #[error("segment not in the store")]
    NotFound,
    /// The store already holds other bytes under this key.
    #[error("segment {seq} is in the store with other bytes")]
    Conflict {
        /// Segment number.
        seq: u32,
    },
    /// The store could not be reached or failed (logged where it happened).
    #[error("segment store unavailable: {0}")]
    Unavailable(String),
    /// A local file operation failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl From<StoreError> for crate::AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => crate::AppError::NotFound("segment"),
            StoreError::Conflict { seq } => crate::AppError::SegmentConflict { seq },
            StoreError::Unavailable(_) => crate::AppError::StorageUnavailable,
            StoreError::Io(e) => e.into(),
        }
    }
}

/// The segment store: one backend, plus the cache in front of an object store. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct Storage {
    backend: Backend,
    cache: Arc<SegmentCache>,
    read_through: Arc<tokio::sync::Semaphore>,
}

#[derive(Debug, Clone)]
enum Backend {
    File(FileStore),
    Object(Arc<ObjectBackend>),
}

impl Storage {
    /// Opens the configured backend (creates a file backend's directory; builds an S3
    /// client without contacting the store: see [`Storage::probe`]).
    pub fn open(config: &StorageConfig, cache_bytes: u64) -> Result<Storage, String> {
        match config {
            StorageConfig::File(dir) => Storage::file(dir, cache_bytes).map_err(|e| format!("{}: {e}", dir.display())),
            StorageConfig::S3(s3) => Ok(Storage::object(ObjectBackend::s3(s3)?, cache_bytes)),
        }
    }

    /// The file backend on `dir`, keeping up to `recent_bytes` of the segments written last
    /// in memory.
    pub fn file(dir: &std::path::Path, recent_bytes: u64) -> std::io::Result<Storage> {
        Ok(Storage::with(Backend::File(FileStore::open(dir, recent_bytes)?), 0))
    }

    /// An object backend with a cache of `cache_bytes`.
    pub fn object(backend: ObjectBackend, cache_bytes: u64) -> Storage {
        Storage::with(Backend::Object(Arc::new(backend)), cache_bytes)
    }

    fn with(backend: Backend, cache_bytes: u64) -> Storage {
        Storage {
            backend,
            cache: Arc::new(SegmentCache::new(cache_bytes)),
            read_through: Arc::new(tokio::sync::Semaphore::new(MAX_READ_THROUGH)),
        }
    }

    /// The file backend, if that is the one (start-up recovery, tests).
    pub fn as_file(&self) -> Option<&FileStore> {
        match &self.backend {
            Backend::File(f) => Some(f),
            Backend::Object(_) => None,
        }
    }

    /// What and where, for logs.
    pub fn description(&self) -> String {
        match &self.backend {
            Backend::File(f) => format!("file:{}", f.dir().display()),
            Backend::Object(o) => o.description().to_owned(),
        }
    }

    /// The cache in front of an object store (empty and unused for files: the page cache
    /// does that job).
    pub fn cache(&self) -> &SegmentCache {
        &self.cache
    }

    /// Checks an object store at start-up: `Some(honours conditional create)`, `None` for
    /// files. A store that is down is an error to log, not a reason not to start.
    pub async fn probe(&self) -> Result<Option<bool>, StoreError> {
        match &self.backend {
            Backend::File(_) => Ok(None),
            Backend::Object(o) => o.probe().await.map(Some),
        }
    }

    /// Stores a segment durably; returns once the backend has it. An object store gets a
    /// conditional create (see [`object`]) and the segment is cached; a file is written
    /// atomically (temp file, fsync, rename, directory fsync).
    pub async fn put(&self, key: &SegmentKey, data: Bytes) -> Result<(), StoreError> {
        match &self.backend {
            Backend::File(f) => {
                let (f, key) = (f.clone(), key.clone());
                tokio::task::spawn_blocking(move || match &key.profile {
                    None => f.write_segment(&key.stream, key.seq, &data),
                    Some(p) => f.write_rendition(&key.stream, p, key.seq, &data),
                })
                .await
                .map_err(|e| StoreError::Io(std::io::Error::other(e)))??;
                Ok(())
            }
            Backend::Object(o) => {
                o.put(key, data.clone()).await?;
                self.cache.insert(key.clone(), data);
                Ok(())
            }
        }
    }

    /// Reads a whole segment: from the cache, else from the backend (an object read whole is
    /// cached).
    pub async fn read(&self, key: &SegmentKey) -> Result<Bytes, StoreError> {
        match &self.backend {
            Backend::File(f) => {
                let path = f.path_of(key);
                match tokio::task::spawn_blocking(move || std::fs::read(path)).await {
                    Ok(Ok(data)) => Ok(Bytes::from(data)),
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::NotFound),
                    Ok(Err(e)) => Err(StoreError::Io(e)),
                    Err(e) => Err(StoreError::Io(std::io::Error::other(e))),
                }
            }
            Backend::Object(o) => {
                if let Some(data) = self.cache.get(key) {
                    return Ok(data);
                }
                let data = o.get(key).await?;
                self.cache.insert(key.clone(), data.clone());
                Ok(data)
            }
        }
    }

    /// The file of a segment, for the file backend (served with `ServeFile`).
    pub fn file_path(&self, key: &SegmentKey) -> Option<PathBuf> {
        self.as_file().map(|f| f.path_of(key))
    }

    /// A cached segment (object backend).
    pub fn cached(&self, key: &SegmentKey) -> Option<Bytes> {
        match &self.backend {
            Backend::File(_) => None,
            Backend::Object(_) => self.cache.get(key),
        }
    }

    /// Reads a segment whole into the cache, if fewer than [`MAX_READ_THROUGH`] such reads
    /// run now; `None` means stream it instead ([`Storage::stream`]).
    pub async fn read_through(&self, key: &SegmentKey) -> Option<Result<Bytes, StoreError>> {
        let Backend::Object(_) = &self.backend else { return None };
        let _permit = self.read_through.try_acquire().ok()?;
        Some(self.read(key).await)
    }

    /// Streams a segment or a byte range of it from an object store (`None` for files).
    pub async fn stream(
        &self,
        key: &SegmentKey,
        range: Option<std::ops::Range<u64>>,
    ) -> Option<Result<futures_util::stream::BoxStream<'static, std::io::Result<Bytes>>, StoreError>> {
        match &self.backend {
            Backend::File(_) => None,
            Backend::Object(o) => Some(o.stream(key, range).await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_urls() {
        assert_eq!(StorageUrl::parse("file:/var/x").unwrap(), StorageUrl::File("/var/x".into()));
        assert_eq!(StorageUrl::parse("file://rel/dir").unwrap(), StorageUrl::File("rel/dir".into()));
        assert_eq!(
            StorageUrl::parse("s3://seg-ments").unwrap(),
            StorageUrl::S3 { bucket: "seg-ments".into(), prefix: String::new() }
        );
        assert_eq!(
            StorageUrl::parse("s3://bucket/a/b/").unwrap(),
            StorageUrl::S3 { bucket: "bucket".into(), prefix: "a/b".into() }
        );
        for bad in ["file:", "s3://", "s3://Up", "s3://ab", "s3://bucket/a/../b", "s3://bucket/a//b", "gs://x", "/dir"] {
            assert!(StorageUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_object_backend_caches_what_it_writes_and_reads() {
        let store = Arc::new(object_store::memory::InMemory::new());
        let s = Storage::object(ObjectBackend::new(store.clone(), "", "memory".into()), 100);
        let k = SegmentKey::source("abc", 0);
        s.put(&k, Bytes::from_static(b"zero")).await.unwrap();
        assert_eq!(s.cached(&k).as_deref(), Some(&b"zero"[..]));
        // A fresh Storage on the same store (a restart) reads it from the store, then caches it.
        let again = Storage::object(ObjectBackend::new(store, "", "memory".into()), 100);
        assert!(again.cached(&k).is_none());
        assert_eq!(again.read_through(&k).await.unwrap().unwrap(), Bytes::from_static(b"zero"));
        assert!(again.cached(&k).is_some());
        assert!(matches!(again.read(&SegmentKey::source("abc", 1)).await, Err(StoreError::NotFound)));
    }

    #[tokio::test]
    async fn the_file_backend_has_no_cache() {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::file(dir.path(), 128 << 20).unwrap();
        let k = SegmentKey::rendition("abc", "P240p30fps16x9", 3);
        s.put(&k, Bytes::from_static(b"r")).await.unwrap();
        assert_eq!(s.read(&k).await.unwrap(), Bytes::from_static(b"r"));
        assert!(s.cached(&k).is_none() && s.read_through(&k).await.is_none() && s.stream(&k, None).await.is_none());
        assert_eq!(s.file_path(&k).unwrap(), dir.path().join("abc/P240p30fps16x9/3.ts"));
        assert!(matches!(s.read(&SegmentKey::source("abc", 1)).await, Err(StoreError::NotFound)));
    }
}
