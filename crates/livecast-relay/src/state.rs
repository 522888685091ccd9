//! The application state shared by every request, and start-up recovery.
//!
//! [`AppState::open`] opens the database and the segment store and, for the file backend,
//! makes them agree after a crash: temporary files are deleted, files without a row (written
//! but never acknowledged) are deleted, and rows whose file is missing are dropped with a
//! warning.
//!
//! An object store is not checked row by row (a `HEAD` per row, or listing the bucket, costs
//! O(segments) requests at every start): a row is committed only after the store answered
//! the `PUT`, so every row names an object the store confirmed. Objects whose row was never
//! committed stay in the bucket: never listed or served, and adopted by a retry of the same
//! upload. Deleting them (and old streams) is the bucket's lifecycle rules' job.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::Settings;
use crate::db::{self, Db};
use crate::error::AppError;
use crate::storage::{FileStore, SegmentKey, Storage};
use crate::transcoders::Registry;

/// Most segment rows [`AppState::stored_rows`] keeps (all streams).
pub const MAX_STORED_ROWS: usize = 16_384;
/// Most rendered source playlists [`AppState::rendered_playlists`] keeps (one per stream).
pub const MAX_RENDERED_PLAYLISTS: usize = 4_096;

/// How long an upload waits for a free body slot before `503`.
pub const UPLOAD_SLOT_WAIT: Duration = Duration::from_secs(2);


/// Shared state: cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    db: Db,
    storage: Storage,
    stream_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    transcoders: Registry,
    uploads: livecast_serve::Uploads,
    creates: CreateLimiter,
    source_probe: Mutex<HashMap<String, (u32, Option<SourceProbe>)>>,
    prefixes: Arc<crate::window::Prefixes>,
    stored_rows: db::ByGeneration<SegmentKey, db::StoredSegment>,
    rendered_playlists: db::ByGeneration<String, (Arc<[u8]>, bool)>,
}

/// Per-client-address limiter of `--open` stream creation (governor's keyed GCRA).
type CreateLimiter = governor::DefaultKeyedRateLimiter<std::net::IpAddr>;

/// What the master playlist reads from a source segment's SPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceProbe {
    /// Width and height.
    pub resolution: (u32, u32),
    /// RFC 6381 codec string.
    pub codecs: String,
}

/// Start-up failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The data directory or a file in it could not be used.
    #[error("data directory {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The database could not be opened or read.
    #[error("database: {0}")]
    Db(#[from] db::DbError),
    /// The transcoder clients could not be set up.
    #[error("transcoders: {0}")]
    Transcoders(String),
    /// The segment store could not be set up.
    #[error("segment storage: {0}")]
    Storage(String),
}

/// What start-up recovery found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Temporary files from interrupted writes, deleted.
    pub temp_files_removed: usize,
    /// Segment files never acknowledged (no row), deleted.
    pub orphan_files_removed: usize,
    /// Rows whose file was missing, dropped.
    pub missing_files: usize,
}

impl AppState {
    /// Opens the data directory (creating it), recovers from any crash, and returns the state
    /// with what recovery did.
    pub fn open(settings: Settings) -> Result<(AppState, Recovery), OpenError> {
        let io_err = |path: &PathBuf| {
            let path = path.clone();
            move |source| OpenError::Io { path, source }
        };
        std::fs::create_dir_all(&settings.data_dir).map_err(io_err(&settings.data_dir))?;
        let storage = Storage::open(&settings.storage, settings.segment_cache_bytes).map_err(OpenError::Storage)?;
        let db = Db::open_config(&settings.database)?;
        let recovery = match storage.as_file() {
            // Several relays may share the database (and a folder): what one finds missing
            // may be another's write in progress, so nothing is removed (see the README).
            Some(_) if db.backend() == "postgres" => Recovery::default(),
            Some(files) => recover(&db, files).map_err(|e| match e {
                RecoverError::Io(source) => OpenError::Io { path: files.dir().to_path_buf(), source },
                RecoverError::Db(e) => OpenError::Db(e),
            })?,
            // See the module documentation: rows are trusted, no request per row.
            None => Recovery::default(),
        };
        let transcoders =
            Registry::new(&settings.transcoders, settings.max_segment_bytes).map_err(OpenError::Transcoders)?;
        let uploads = livecast_serve::Uploads::new(settings.max_uploads, settings.max_uploads_per_address, UPLOAD_SLOT_WAIT);
        let per_minute = std::num::NonZeroU32::new(settings.open_creates_per_minute).unwrap_or(std::num::NonZeroU32::MIN);
        let creates = governor::RateLimiter::keyed(governor::Quota::per_minute(per_minute));
        // Other relays on the same PostgreSQL database store segments too: what is kept of
        // the rows they change is dropped as this relay's own writes drop it.
        let prefixes = Arc::new(crate::window::Prefixes::default());
        let heard = Arc::clone(&prefixes);
        db.on_change(move |change| match change {
            db::Change::Segment { stream_id, seq } => heard.stored(stream_id, *seq),
            db::Change::Rendition { stream_id } => heard.rendition_stored(stream_id),
            db::Change::Stream { .. } => {}
            db::Change::Unknown => heard.clear(),
        });
        let inner = Inner {
            settings,
            db,
            storage,
            stream_locks: Mutex::new(HashMap::new()),
            transcoders,
            uploads,
            creates,
            source_probe: Mutex::new(HashMap::new()),
            prefixes,
            stored_rows: db::ByGeneration::new(MAX_STORED_ROWS),
            rendered_playlists: db::ByGeneration::new(MAX_RENDERED_PLAYLISTS),
        };
        Ok((AppState { inner: Arc::new(inner) }, recovery))
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Runs `f` with the database connection on a blocking thread, its errors as the HTTP
    /// layer answers them ([`Db::call`] with [`AppError`]).
    pub async fn db_call<R, F>(&self, f: F) -> Result<R, AppError>
    where
        R: Send + 'static,
        F: FnOnce(&mut db::Conn<'_>) -> Result<R, AppError> + Send + 'static,
    {
        self.inner.db.call(f).await
    }

    /// [`AppState::db_call`] for a write that changes only `stream_id`'s rows
    /// ([`Db::call_on`]: what is cached of other streams stays).
    pub async fn db_call_on<R, F>(&self, stream_id: &str, f: F) -> Result<R, AppError>
    where
        R: Send + 'static,
        F: FnOnce(&mut db::Conn<'_>) -> Result<R, AppError> + Send + 'static,
    {
        self.inner.db.call_on(stream_id, f).await
    }

    /// Runs `f` with a read-only connection on a blocking thread ([`Db::read`]): for reads
    /// that need not wait for writes (HLS requests, an upload's checks).
    pub async fn db_read<R, F>(&self, f: F) -> Result<R, AppError>
    where
        R: Send + 'static,
        F: FnOnce(&mut db::Conn<'_>) -> Result<R, AppError> + Send + 'static,
    {
        self.inner.db.read(f).await
    }

    /// The segment store.
    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    /// The transcoder nodes.
    pub fn transcoders(&self) -> &Registry {
        &self.inner.transcoders
    }

    /// What the live playlists keep of the rows before their window.
    pub fn prefixes(&self) -> &crate::window::Prefixes {
        &self.inner.prefixes
    }

    /// What the database said of recently requested segments, kept while their stream's
    /// [`db::Generation`] holds.
    pub fn stored_rows(&self) -> &db::ByGeneration<SegmentKey, db::StoredSegment> {
        &self.inner.stored_rows
    }

    /// Each stream's source media playlist as last rendered, and whether the stream had
    /// ended, kept while its [`db::Generation`] holds: between two segments a crowd of
    /// viewers of one live stream costs no database read and no render. (The source
    /// playlist depends only on the rows and the stream's end, never on the time, unlike a
    /// rendition's, whose gaps come due.)
    pub fn rendered_playlists(&self) -> &db::ByGeneration<String, (Arc<[u8]>, bool)> {
        &self.inner.rendered_playlists
    }

    /// The bound on segment bodies read at once.
    pub fn uploads(&self) -> &livecast_serve::Uploads {
        &self.inner.uploads
    }

    /// Whether `ip` may create another stream now (`--open`); `false` means `429`.
    pub fn may_create(&self, ip: std::net::IpAddr) -> bool {
        if self.inner.creates.len() > 10_000 {
            self.inner.creates.retain_recent();
        }
        self.inner.creates.check_key(&ip).is_ok()
    }

    /// The SPS facts of a stream's source segment `seq`, read once and cached (the master
    /// playlist's source variant): `None` when the segment has no readable SPS.
    pub async fn source_probe(&self, stream_id: &str, seq: u32) -> Result<Option<SourceProbe>, crate::AppError> {
        {
            let cache = self.inner.source_probe.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((cached_seq, probe)) = cache.get(stream_id) {
                if *cached_seq == seq {
                    return Ok(probe.clone());
                }
            }
        }
        let data = match self.storage().read(&SegmentKey::source(stream_id, seq)).await {
            Ok(data) => Some(data),
            Err(crate::storage::StoreError::NotFound) => None,
            Err(e) => {
                // The master playlist goes out without the source's resolution and codecs
                // rather than failing; not cached, so the next one tries again.
                tracing::warn!(stream = %stream_id, seq, error = %e, "cannot read the source segment for its SPS");
                return Ok(None);
            }
        };
        let probe = tokio::task::spawn_blocking(move || {
            let data = data?;
            let sps = livecast_core::sps::segment_sps(&data).ok()?;
            let audio = livecast_core::ts::probe_audio(&data).ok().flatten();
            // Both tracks, e.g. `avc1.42C01F,mp4a.40.2`; BANDWIDTH is measured on whole
            // segments, so it counts the audio too.
            let codecs = livecast_core::fmp4::codecs(&sps.codecs(), audio.as_ref().map(|a| a.codec.as_str()));
            Some(SourceProbe { resolution: (sps.width, sps.height), codecs })
        })
        .await?;
        let mut cache = self.inner.source_probe.lock().unwrap_or_else(|p| p.into_inner());
        cache.insert(stream_id.to_owned(), (seq, probe.clone()));
        Ok(probe)
    }

    /// The lock that serialises changes to one stream (segment commits, ending).
    pub fn stream_lock(&self, stream_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner.stream_locks.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(locks.entry(stream_id.to_owned()).or_default())
    }

    /// `path` as a URL: behind `--public-url` when set, else as is.
    pub fn url(&self, path: &str) -> String {
        match &self.inner.settings.public_url {
            Some(base) => format!("{base}{path}"),
            None => path.to_owned(),
        }
    }
}

enum RecoverError {
    Io(std::io::Error),
    Db(db::DbError),
}

fn recover(db: &Db, storage: &FileStore) -> Result<Recovery, RecoverError> {
    let mut r = Recovery { temp_files_removed: storage.remove_temp_files().map_err(RecoverError::Io)?, ..Recovery::default() };
    db.try_with_blocking(|conn| {
        for id in db::stream_ids(conn).map_err(RecoverError::Db)? {
            if !crate::ids::is_valid_name(&id) {
                tracing::warn!(stream = %id, "skipping a stream with an invalid id in the database");
                continue;
            }
            let rows: Vec<u32> = db::segments(conn, &id).map_err(RecoverError::Db)?.iter().map(|s| s.seq).collect();
            let files = storage.segment_files(&id).map_err(RecoverError::Io)?;
            for seq in files.iter().filter(|f| rows.binary_search(f).is_err()) {
                tracing::info!(stream = %id, seq, "removing a segment file that was never acknowledged");
                storage.remove_segment(&id, *seq).map_err(RecoverError::Io)?;
                r.orphan_files_removed += 1;
            }
            for seq in rows.iter().filter(|s| files.binary_search(s).is_err()) {
                tracing::warn!(stream = %id, seq, "segment file missing; dropping its row");
                db::delete_segment(conn, &id, *seq).map_err(RecoverError::Db)?;
                r.missing_files += 1;
            }
            // The same for renditions: `streams/{id}/{profile}/{seq}.ts` against their rows.
            let rendition_rows = db::renditions(conn, &id).map_err(RecoverError::Db)?;
            let rendition_files = storage.rendition_files(&id).map_err(RecoverError::Io)?;
            for (profile, seqs) in &rendition_files {
                for seq in seqs {
                    if !rendition_rows.iter().any(|row| &row.profile == profile && row.seq == *seq) {
                        tracing::info!(stream = %id, profile, seq, "removing a rendition file that was never acknowledged");
                        storage.remove_rendition(&id, profile, *seq).map_err(RecoverError::Io)?;
                        r.orphan_files_removed += 1;
                    }
                }
            }
            for row in &rendition_rows {
                let on_disk = rendition_files
                    .iter()
                    .any(|(profile, seqs)| profile == &row.profile && seqs.binary_search(&row.seq).is_ok());
                if !on_disk {
                    tracing::warn!(stream = %id, profile = %row.profile, seq = row.seq, "rendition file missing; dropping its row");
                    db::delete_rendition(conn, &id, &row.profile, row.seq).map_err(RecoverError::Db)?;
                    r.missing_files += 1;
                }
            }
        }
        Ok(r)
    })
    .map_err(RecoverError::Db)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_master_playlists_sps_probe_is_read_once_per_segment() {
        let dir = tempfile::tempdir().unwrap();
        let (state, _) = AppState::open(Settings::for_tests(dir.path().join("data"))).unwrap();
        let data = &crate::test_media::segments()[0];
        let files = state.storage().as_file().expect("file backend").clone();
        files.write_segment("s1", 0, data).unwrap();
        let probe = state.source_probe("s1", 0).await.unwrap().expect("an SPS");
        assert!(probe.codecs.starts_with("avc1."), "{probe:?}");
        // Cached: the file is not read again for the same seq...
        std::fs::remove_file(files.segment_path("s1", 0)).unwrap();
        assert_eq!(state.source_probe("s1", 0).await.unwrap(), Some(probe));
        // ...and read for a new one (here missing: no SPS).
        assert_eq!(state.source_probe("s1", 1).await.unwrap(), None);
    }

    #[test]
    fn recovery_reconciles_disk_and_database() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::for_tests(dir.path().join("data"));
        let (state, r) = AppState::open(settings.clone()).unwrap();
        assert_eq!(r, Recovery::default());
        let row = db::StreamRow { id: "s1".into(), name: None, key_hash: vec![0; 32], created_at_ms: 0, ended_at_ms: None };
        let seg = |seq| db::SegmentRow {
            seq,
            size: 4,
            sha256: vec![0; 32],
            duration_secs: 1.0,
            first_pts: 0,
            last_pts: 0,
            video_frames: 30,
            starts_with_keyframe: true,
            received_at_ms: 0,
            capture_start_ms: None,
            declared_duration_ms: None,
        };
        state.db().with_blocking(|c| {
            db::insert_stream(c, &row).unwrap();
            db::insert_segment(c, "s1", &seg(0)).unwrap();
            db::insert_segment(c, "s1", &seg(1)).unwrap();
        });
        let files = state.storage().as_file().expect("file backend").clone();
        files.write_segment("s1", 0, b"zero").unwrap(); // acknowledged
        files.write_segment("s1", 2, b"two!").unwrap(); // renamed, row never written
        std::fs::write(files.stream_dir("s1").join(".3.ts.ab.tmp"), b"ha").unwrap();
        drop(state);

        let (state, r) = AppState::open(settings).unwrap();
        assert_eq!(r, Recovery { temp_files_removed: 1, orphan_files_removed: 1, missing_files: 1 });
        assert_eq!(state.storage().as_file().expect("file backend").segment_files("s1").unwrap(), [0]);
        let rows = state.db().with_blocking(|c| db::segments(c, "s1").unwrap());
        assert_eq!(rows.iter().map(|s| s.seq).collect::<Vec<_>>(), [0]);
    }
}
