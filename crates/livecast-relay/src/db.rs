//! The SQLite metadata store: streams and their acknowledged segments.
//!
//! One database file, `relay.db` in the data directory, in WAL mode with `synchronous=FULL`:
//! a committed row survives the process being killed. A segment row is inserted only after
//! its file is durably on disk (see [`crate::storage`]), so every row names a complete file.
//! Writes go through one connection behind a mutex ([`Db::call`]); reads for viewers through
//! a pool of read-only connections ([`Db::read`]), both from blocking threads.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};


/// Schema version stored in `PRAGMA user_version` (2 added the `renditions` and
/// `rendition_gaps` tables; a version-1 database is upgraded by creating them; 3 added
/// `variant_stats` and its triggers, filled from the existing rows on upgrade).
const SCHEMA_VERSION: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS streams (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT,
    key_hash      BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL,
    ended_at_ms   INTEGER
);
CREATE TABLE IF NOT EXISTS segments (
    stream_id            TEXT NOT NULL REFERENCES streams(id),
    seq                  INTEGER NOT NULL,
    size                 INTEGER NOT NULL,
    sha256               BLOB NOT NULL,
    duration_secs        REAL NOT NULL,
    first_pts            INTEGER NOT NULL,
    last_pts             INTEGER NOT NULL,
    video_frames         INTEGER NOT NULL,
    starts_with_keyframe INTEGER NOT NULL,
    received_at_ms       INTEGER NOT NULL,
    capture_start_ms     INTEGER,
    declared_duration_ms INTEGER,
    PRIMARY KEY (stream_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS renditions (
    stream_id      TEXT NOT NULL REFERENCES streams(id),
    profile        TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    size           INTEGER NOT NULL,
    sha256         BLOB NOT NULL,
    duration_secs  REAL NOT NULL,
    first_pts      INTEGER NOT NULL,
    video_frames   INTEGER NOT NULL,
    width          INTEGER NOT NULL,
    height         INTEGER NOT NULL,
    codecs         TEXT NOT NULL,
    pixels         INTEGER NOT NULL,
    bitrate_bps    INTEGER NOT NULL,
    transcoder     TEXT NOT NULL,
    received_at_ms INTEGER NOT NULL,
    PRIMARY KEY (stream_id, profile, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rendition_gaps (
    stream_id     TEXT NOT NULL REFERENCES streams(id),
    seq           INTEGER NOT NULL,
    reported_at_ms INTEGER NOT NULL,
    PRIMARY KEY (stream_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS variant_stats (
    stream_id      TEXT NOT NULL REFERENCES streams(id),
    profile        TEXT NOT NULL,
    rows           INTEGER NOT NULL,
    duration_secs  REAL NOT NULL,
    longest_secs   REAL NOT NULL,
    measured_bytes INTEGER NOT NULL,
    measured_secs  REAL NOT NULL,
    measured_frames INTEGER NOT NULL,
    peak_bps       REAL NOT NULL,
    PRIMARY KEY (stream_id, profile)
) WITHOUT ROWID;
";

/// `variant_stats` is kept by triggers: an inserted row is added to its variant's line (the
/// source's profile is `''`); a deleted row (start-up recovery only) recomputes that line
/// from the remaining rows, since a peak cannot be taken back. `measured_*` and `peak_bps`
/// count only rows with a positive duration, as [`crate::playlist::Variant`] does.
const STATS_TRIGGERS: &str = "
CREATE TRIGGER IF NOT EXISTS segments_stats_insert AFTER INSERT ON segments BEGIN
    INSERT INTO variant_stats VALUES (NEW.stream_id, '', 1, NEW.duration_secs, NEW.duration_secs,
        IIF(NEW.duration_secs > 0, NEW.size, 0), IIF(NEW.duration_secs > 0, NEW.duration_secs, 0.0),
        IIF(NEW.duration_secs > 0, NEW.video_frames, 0), IIF(NEW.duration_secs > 0, NEW.size * 8.0 / NEW.duration_secs, 0.0))
    ON CONFLICT (stream_id, profile) DO UPDATE SET
        rows = rows + 1, duration_secs = duration_secs + excluded.duration_secs,
        longest_secs = MAX(longest_secs, excluded.longest_secs), measured_bytes = measured_bytes + excluded.measured_bytes,
        measured_secs = measured_secs + excluded.measured_secs, measured_frames = measured_frames + excluded.measured_frames,
        peak_bps = MAX(peak_bps, excluded.peak_bps);
END;
CREATE TRIGGER IF NOT EXISTS segments_stats_delete AFTER DELETE ON segments BEGIN
    DELETE FROM variant_stats WHERE stream_id = OLD.stream_id AND profile = '';
    INSERT INTO variant_stats SELECT stream_id, '', COUNT(*), SUM(duration_secs), MAX(duration_secs),
        TOTAL(IIF(duration_secs > 0, size, 0)), TOTAL(IIF(duration_secs > 0, duration_secs, 0.0)),
        TOTAL(IIF(duration_secs > 0, video_frames, 0)), MAX(IIF(duration_secs > 0, size * 8.0 / duration_secs, 0.0))
        FROM segments WHERE stream_id = OLD.stream_id GROUP BY stream_id;
END;
CREATE TRIGGER IF NOT EXISTS renditions_stats_insert AFTER INSERT ON renditions BEGIN
    INSERT INTO variant_stats VALUES (NEW.stream_id, NEW.profile, 1, NEW.duration_secs, NEW.duration_secs,
        IIF(NEW.duration_secs > 0, NEW.size, 0), IIF(NEW.duration_secs > 0, NEW.duration_secs, 0.0),
        IIF(NEW.duration_secs > 0, NEW.video_frames, 0), IIF(NEW.duration_secs > 0, NEW.size * 8.0 / NEW.duration_secs, 0.0))
    ON CONFLICT (stream_id, profile) DO UPDATE SET
        rows = rows + 1, duration_secs = duration_secs + excluded.duration_secs,
        longest_secs = MAX(longest_secs, excluded.longest_secs), measured_bytes = measured_bytes + excluded.measured_bytes,
        measured_secs = measured_secs + excluded.measured_secs, measured_frames = measured_frames + excluded.measured_frames,
        peak_bps = MAX(peak_bps, excluded.peak_bps);
END;
CREATE TRIGGER IF NOT EXISTS renditions_stats_delete AFTER DELETE ON renditions BEGIN
    DELETE FROM variant_stats WHERE stream_id = OLD.stream_id AND profile = OLD.profile;
    INSERT INTO variant_stats SELECT stream_id, profile, COUNT(*), SUM(duration_secs), MAX(duration_secs),
        TOTAL(IIF(duration_secs > 0, size, 0)), TOTAL(IIF(duration_secs > 0, duration_secs, 0.0)),
        TOTAL(IIF(duration_secs > 0, video_frames, 0)), MAX(IIF(duration_secs > 0, size * 8.0 / duration_secs, 0.0))
        FROM renditions WHERE stream_id = OLD.stream_id AND profile = OLD.profile GROUP BY stream_id, profile;
END;
";

/// Fills `variant_stats` from every row (upgrading a database older than version 3).
const STATS_BACKFILL: &str = "
DELETE FROM variant_stats;
INSERT INTO variant_stats SELECT stream_id, '', COUNT(*), SUM(duration_secs), MAX(duration_secs),
    TOTAL(IIF(duration_secs > 0, size, 0)), TOTAL(IIF(duration_secs > 0, duration_secs, 0.0)),
    TOTAL(IIF(duration_secs > 0, video_frames, 0)), MAX(IIF(duration_secs > 0, size * 8.0 / duration_secs, 0.0))
    FROM segments GROUP BY stream_id;
INSERT INTO variant_stats SELECT stream_id, profile, COUNT(*), SUM(duration_secs), MAX(duration_secs),
    TOTAL(IIF(duration_secs > 0, size, 0)), TOTAL(IIF(duration_secs > 0, duration_secs, 0.0)),
    TOTAL(IIF(duration_secs > 0, video_frames, 0)), MAX(IIF(duration_secs > 0, size * 8.0 / duration_secs, 0.0))
    FROM renditions GROUP BY stream_id, profile;
";

/// A stream as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRow {
    /// Random public id.
    pub id: String,
    /// Optional display name given at creation.
    pub name: Option<String>,
    /// SHA-256 of the stream key.
    pub key_hash: Vec<u8>,
    /// Creation time, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// When it was ended, ms since the Unix epoch; `None` while live.
    pub ended_at_ms: Option<i64>,
}

/// An acknowledged segment as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentRow {
    /// Segment number chosen by the broadcaster.
    pub seq: u32,
    /// File size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes, to tell a retry (same bytes) from a conflict.
    pub sha256: Vec<u8>,
    /// Duration read from the segment's timestamps.
    pub duration_secs: f64,
    /// PTS of the first frame, 90 kHz.
    pub first_pts: u64,
    /// PTS of the last video frame, 90 kHz.
    pub last_pts: u64,
    /// Number of video frames.
    pub video_frames: u32,
    /// Whether it starts with an IDR.
    pub starts_with_keyframe: bool,
    /// When the relay stored it, ms since the Unix epoch.
    pub received_at_ms: i64,
    /// `Livecast-Capture-Start` as sent, ms since the Unix epoch.
    pub capture_start_ms: Option<i64>,
    /// `Content-Duration` as sent, ms (kept for diagnostics, never trusted).
    pub declared_duration_ms: Option<i64>,
}

/// A verified rendition of a source segment, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RenditionRow {
    /// The profile name (`P360p30fps16x9`, `custom_640x360_1000000`).
    pub profile: String,
    /// The source segment's number.
    pub seq: u32,
    /// File size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes.
    pub sha256: Vec<u8>,
    /// Duration read from the rendition's timestamps.
    pub duration_secs: f64,
    /// PTS of the first frame, 90 kHz (the source's, when the node kept its timeline).
    pub first_pts: u64,
    /// Number of video frames.
    pub video_frames: u32,
    /// Width from the rendition's SPS.
    pub width: u32,
    /// Height from the rendition's SPS.
    pub height: u32,
    /// RFC 6381 codec string from the SPS (`avc1.42C01E`).
    pub codecs: String,
    /// Output pixels the node reported (checked: width × height × frames).
    pub pixels: u64,
    /// The profile's target bitrate, bits per second.
    pub bitrate_bps: u64,
    /// The transcoder node that made it (its registry URI).
    pub transcoder: String,
    /// When the relay stored it, ms since the Unix epoch.
    pub received_at_ms: i64,
}

#[cfg(test)]
impl RenditionRow {
    /// A 240p rendition row of `profile` for segment `seq`, for tests.
    pub(crate) fn for_test(profile: &str, seq: u32, size: u64) -> Self {
        Self {
            profile: profile.into(),
            seq,
            size,
            sha256: vec![0; 32],
            duration_secs: 2.0,
            first_pts: 0,
            video_frames: 60,
            width: 426,
            height: 240,
            codecs: "avc1.42C01E".into(),
            pixels: 0,
            bitrate_bps: 600_000,
            transcoder: "http://127.0.0.1:1".into(),
            received_at_ms: 0,
        }
    }
}

/// Read-only connections a file database keeps open beside the writer: at least this many,
/// or two per core (reads are short and CPU-bound; more would only queue in SQLite).
const MIN_READERS: u32 = 4;

/// How long a read waits for a free read-only connection before failing.
const READER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Shared handle to the database: one connection that writes, and a pool of read-only
/// connections that read.
///
/// Every write goes through the one writer connection ([`Db::call`], [`Db::call_on`],
/// [`Db::with_blocking`]), so writes are serialised, as SQLite serialises them anyway.
/// Reads that are served to viewers ([`Db::read`]) take a read-only connection from an r2d2
/// pool instead, so they neither queue behind each other on one mutex nor wait for an
/// ingest's write: in WAL mode a read sees every transaction committed before it began and
/// is never blocked by the writer. An in-memory database (tests) cannot be opened a second
/// time, so its reads use the writer connection.
///
/// The handle also counts what changed ([`Db::generation`]), so that what is rendered from
/// the rows can be kept until they change.
#[derive(Clone)]
pub struct Db {
    writer: Arc<Mutex<Connection>>,
    /// `None` for an in-memory database.
    readers: Option<r2d2::Pool<SqliteConnectionManager>>,
    /// Rows decoded from query results, over the handle's life (see [`Db::rows_read`]).
    rows_read: Arc<AtomicU64>,
    /// SQLite virtual-machine steps, counted once [`Db::count_vm_steps`] was called.
    vm_steps: Arc<AtomicU64>,
    /// Whether [`Db::count_vm_steps`] was called (read connections then count too).
    counting_steps: Arc<AtomicBool>,
    generations: Arc<Generations>,
}

/// How many committed changes the writer has made, for caches (see [`Generation`]).
#[derive(Debug, Default)]
struct Generations {
    /// Bumped after a writer call that changed rows of no stream in particular.
    global: AtomicU64,
    /// Bumped after a [`Db::call_on`] that changed rows: per stream, the value of `global`'s
    /// companion counter `next` at that time.
    streams: Mutex<HashMap<String, u64>>,
    /// Source of the per-stream values (unique, increasing).
    next: AtomicU64,
}

/// Where the database's history stood for one stream: two equal values mean that no write
/// that could change the stream's rows (or the stream itself) was made between them.
///
/// Bumped after the write's transaction committed and before its caller answers, so a
/// cache entry made from rows read after taking a `Generation` is valid while
/// [`Db::generation`] still answers the same value: it may include a write whose bump is
/// still to come (the next read then rebuilds it), never miss an acknowledged one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    global: u64,
    stream: u64,
}

/// What the database says of a stored segment (source or rendition), as the HLS routes
/// serve it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSegment {
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of its bytes.
    pub sha256: Vec<u8>,
    /// When the relay stored it, ms since the Unix epoch.
    pub received_at_ms: i64,
    /// Its stream has not ended.
    pub live: bool,
}

/// Values read from the database, each kept with the [`Generation`] of its stream that was
/// taken before it was read, and answered only while [`Db::generation`] still gives that
/// value: valid without knowing what the value depends on, as long as it depends only on the
/// stream's rows. At most `max` entries; past that it starts again empty.
#[derive(Debug)]
pub struct ByGeneration<K, V> {
    entries: Mutex<HashMap<K, (Generation, V)>>,
    max: usize,
}

impl<K: std::hash::Hash + Eq, V: Clone> ByGeneration<K, V> {
    /// An empty cache of at most `max` entries.
    pub fn new(max: usize) -> Self {
        ByGeneration { entries: Mutex::default(), max }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (Generation, V)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value kept for `key` if it was read at `generation`.
    pub fn get(&self, key: &K, generation: Generation) -> Option<V> {
        self.lock().get(key).filter(|(g, _)| *g == generation).map(|(_, v)| v.clone())
    }

    /// Keeps `value`, read after taking `generation`.
    pub fn keep(&self, key: K, generation: Generation, value: V) {
        let mut entries = self.lock();
        if entries.len() >= self.max {
            entries.clear();
        }
        entries.insert(key, (generation, value));
    }

    /// Entries kept now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Logs what the pool could not do (r2d2 logs through `log`, which the relay does not show).
#[derive(Debug)]
struct LogReaderErrors;

impl r2d2::HandleError<rusqlite::Error> for LogReaderErrors {
    fn handle_error(&self, error: rusqlite::Error) {
        tracing::warn!(%error, "cannot open a read-only database connection");
    }
}

thread_local! {
    /// Rows decoded on this thread since [`Db::call`], [`Db::read`] or [`Db::with_blocking`]
    /// started `f`.
    static ROWS_READ: Cell<u64> = const { Cell::new(0) };
}

/// Counts one row decoded from a query result.
fn row_read() {
    ROWS_READ.with(|n| n.set(n.get() + 1));
}

/// Runs `f`, adding the rows it decodes (on this thread) to `total`.
fn counting_rows<R>(total: &AtomicU64, f: impl FnOnce() -> R) -> R {
    let before = ROWS_READ.with(Cell::get);
    let out = f();
    total.fetch_add(ROWS_READ.with(Cell::get) - before, Ordering::Relaxed);
    out
}

/// A progress handler that counts every SQLite VM step into `steps`.
fn step_counter(conn: &Connection, steps: &Arc<AtomicU64>) -> rusqlite::Result<()> {
    let steps = Arc::clone(steps);
    conn.progress_handler(
        1,
        Some(move || {
            steps.fetch_add(1, Ordering::Relaxed);
            false
        }),
    )
}

impl Generations {
    fn get(&self, stream_id: &str) -> Generation {
        let stream = self.streams.lock().unwrap_or_else(|p| p.into_inner()).get(stream_id).copied().unwrap_or(0);
        Generation { global: self.global.load(Ordering::Acquire), stream }
    }

    fn bump(&self, stream_id: Option<&str>) {
        match stream_id {
            None => {
                self.global.fetch_add(1, Ordering::AcqRel);
            }
            Some(id) => {
                let value = self.next.fetch_add(1, Ordering::Relaxed) + 1;
                self.streams.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_owned(), value);
            }
        }
    }
}

impl Db {
    /// Opens (creating if needed) the database at `path`, brings its schema up to date, and
    /// opens its read-only connections.
    pub fn open(path: &Path) -> rusqlite::Result<Db> {
        let conn = Connection::open(path)?;
        init(&conn)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let reader_init = |c: &mut Connection| c.execute_batch("PRAGMA busy_timeout=5000;");
        // One opened here, so that a database that cannot be read fails the start with
        // SQLite's own error instead of the pool's time-out.
        let mut probe = Connection::open_with_flags(path, flags)?;
        reader_init(&mut probe)?;
        let _: i64 = probe.query_row("SELECT COUNT(*) FROM sqlite_schema", [], |r| r.get(0))?;
        drop(probe);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        let manager = SqliteConnectionManager::file(path).with_flags(flags).with_init(reader_init);
        let readers = r2d2::Pool::builder()
            .max_size(MIN_READERS.max(2 * cores))
            // Opened on demand and kept: a local file does not go stale, and a connection
            // closed by age would lose its prepared statements.
            .min_idle(Some(0))
            .idle_timeout(None)
            .max_lifetime(None)
            .test_on_check_out(false)
            .connection_timeout(READER_WAIT)
            .error_handler(Box::new(LogReaderErrors))
            .build_unchecked(manager);
        Ok(Db::wrap(conn, Some(readers)))
    }

    /// An in-memory database, for tests (reads share the writer connection).
    pub fn open_in_memory() -> rusqlite::Result<Db> {
        let conn = Connection::open_in_memory()?;
        init(&conn)?;
        Ok(Db::wrap(conn, None))
    }

    fn wrap(conn: Connection, readers: Option<r2d2::Pool<SqliteConnectionManager>>) -> Db {
        Db {
            writer: Arc::new(Mutex::new(conn)),
            readers,
            rows_read: Arc::default(),
            vm_steps: Arc::default(),
            counting_steps: Arc::default(),
            generations: Arc::default(),
        }
    }

    /// Whether reads have connections of their own (a file database), rather than sharing
    /// the writer's (in memory).
    pub fn has_readers(&self) -> bool {
        self.readers.is_some()
    }

    /// Rows the relay decoded from SQLite through this handle so far, on any connection:
    /// what a request costs in rows read, for tests and measurements (read it before and
    /// after).
    pub fn rows_read(&self) -> u64 {
        self.rows_read.load(Ordering::Relaxed)
    }

    /// From now on, counts SQLite's virtual-machine steps ([`Db::vm_steps`]) on every
    /// connection, the writer's and the readers': the work SQLite does, aggregates and scans
    /// included, which [`Db::rows_read`] does not see. A progress handler called at every
    /// step, so only for tests and measurements.
    pub fn count_vm_steps(&self) {
        self.counting_steps.store(true, Ordering::Relaxed);
        self.with_blocking(|c| step_counter(c, &self.vm_steps)).expect("the connection is owned");
    }

    /// SQLite virtual-machine steps since [`Db::count_vm_steps`].
    pub fn vm_steps(&self) -> u64 {
        self.vm_steps.load(Ordering::Relaxed)
    }

    /// Where the database's history stands for `stream_id` (see [`Generation`]).
    pub fn generation(&self, stream_id: &str) -> Generation {
        self.generations.get(stream_id)
    }

    /// Runs `f` with the writer connection on a blocking thread. `E` is the caller's error
    /// type (the HTTP layer's, say): the database does not know how its errors are answered.
    /// When `f` changed rows, every stream's [`Generation`] moves on.
    pub async fn call<R, E, F>(&self, f: F) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<tokio::task::JoinError> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, E> + Send + 'static,
    {
        self.call_scoped(None, f).await
    }

    /// [`Db::call`] for a write that changes only `stream_id`'s rows (its segments,
    /// renditions and their stats): only that stream's [`Generation`] moves on.
    pub async fn call_on<R, E, F>(&self, stream_id: &str, f: F) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<tokio::task::JoinError> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, E> + Send + 'static,
    {
        self.call_scoped(Some(stream_id.to_owned()), f).await
    }

    async fn call_scoped<R, E, F>(&self, stream_id: Option<String>, f: F) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<tokio::task::JoinError> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, E> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.writing(stream_id.as_deref(), f)).await?
    }

    /// Runs `f` with the writer connection on the current thread (start-up, tests); when it
    /// changed rows, every stream's [`Generation`] moves on.
    pub fn with_blocking<R>(&self, f: impl FnOnce(&mut Connection) -> R) -> R {
        self.writing(None, f)
    }

    fn writing<R>(&self, stream_id: Option<&str>, f: impl FnOnce(&mut Connection) -> R) -> R {
        // A panic while holding the lock leaves no open transaction behind (it is rolled
        // back on drop), so a poisoned connection is still consistent.
        let mut guard = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let changes = guard.total_changes();
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| counting_rows(&self.rows_read, || f(&mut guard))));
        // Also after a panic: `f` may have committed before it.
        if guard.total_changes() != changes {
            self.generations.bump(stream_id);
        }
        out.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// Runs `f` with a read-only connection on a blocking thread (with the writer's, for an
    /// in-memory database), in one read transaction: it sees every transaction committed
    /// before its first statement, and none committed after.
    pub async fn read<R, E, F>(&self, f: F) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<tokio::task::JoinError> + From<rusqlite::Error> + Send + 'static,
        F: FnOnce(&Connection) -> Result<R, E> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.read_blocking(f)).await?
    }

    /// [`Db::read`] on the current thread (tests, measurements).
    pub fn read_blocking<R, E>(&self, f: impl FnOnce(&Connection) -> Result<R, E>) -> Result<R, E>
    where
        E: From<rusqlite::Error>,
    {
        let Some(pool) = &self.readers else {
            return self.with_blocking(|c| f(c));
        };
        let conn = pool.get().map_err(|e| {
            let busy = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY);
            rusqlite::Error::SqliteFailure(busy, Some(format!("no read-only connection free: {e}")))
        })?;
        if self.counting_steps.load(Ordering::Relaxed) {
            step_counter(&conn, &self.vm_steps)?;
        }
        // One snapshot for all of `f`'s statements, as the writer's lock gave them before:
        // a write committed between two of them is not half seen. Dropping the transaction
        // ends it (a rollback, which for reads is the same as a commit).
        let snapshot = conn.unchecked_transaction()?;
        counting_rows(&self.rows_read, || f(&snapshot))
    }
}

fn init(conn: &Connection) -> rusqlite::Result<()> {
    // `journal_mode` answers with the mode; in-memory databases stay "memory".
    let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;")?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    conn.execute_batch(&format!("BEGIN; {SCHEMA} {STATS_TRIGGERS}"))?;
    if version < 3 {
        conn.execute_batch(STATS_BACKFILL)?;
    }
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    conn.execute_batch("COMMIT;")?;
    Ok(())
}

/// Inserts a new stream.
pub fn insert_stream(conn: &Connection, s: &StreamRow) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO streams (id, name, key_hash, created_at_ms, ended_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![s.id, s.name, s.key_hash, s.created_at_ms, s.ended_at_ms],
    )?;
    Ok(())
}

/// The stream with this id, if any.
pub fn get_stream(conn: &Connection, id: &str) -> rusqlite::Result<Option<StreamRow>> {
    // Cached statements: every HLS request reads these, and parsing costs more than the read.
    let mut stmt = conn.prepare_cached("SELECT id, name, key_hash, created_at_ms, ended_at_ms FROM streams WHERE id = ?1")?;
    stmt.query_row(
        [id],
        |r| {
            row_read();
            Ok(StreamRow {
                id: r.get(0)?,
                name: r.get(1)?,
                key_hash: r.get(2)?,
                created_at_ms: r.get(3)?,
                ended_at_ms: r.get(4)?,
            })
        },
    )
    .optional()
}

/// Every stream id (start-up recovery).
pub fn stream_ids(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT id FROM streams")?;
    let ids = stmt.query_map([], |r| r.get(0))?.collect();
    ids
}

/// Marks a stream ended at `at_ms`, unless it already is. Returns whether it changed.
pub fn end_stream(conn: &Connection, id: &str, at_ms: i64) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE streams SET ended_at_ms = ?2 WHERE id = ?1 AND ended_at_ms IS NULL",
        params![id, at_ms],
    )?;
    Ok(n == 1)
}

const SEGMENT_COLUMNS: &str = "seq, size, sha256, duration_secs, first_pts, last_pts, video_frames, \
     starts_with_keyframe, received_at_ms, capture_start_ms, declared_duration_ms";

fn segment_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SegmentRow> {
    row_read();
    Ok(SegmentRow {
        seq: r.get(0)?,
        size: get_u64(r, 1)?,
        sha256: r.get(2)?,
        duration_secs: r.get(3)?,
        first_pts: get_u64(r, 4)?,
        last_pts: get_u64(r, 5)?,
        video_frames: r.get(6)?,
        starts_with_keyframe: r.get(7)?,
        received_at_ms: r.get(8)?,
        capture_start_ms: r.get(9)?,
        declared_duration_ms: r.get(10)?,
    })
}

/// SQLite integers are signed: a `u64` column is stored as `i64` and checked both ways.
fn to_i64(v: u64) -> rusqlite::Result<i64> {
    i64::try_from(v).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn get_u64(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u64> {
    let v: i64 = r.get(i)?;
    u64::try_from(v).map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Integer, Box::new(e)))
}

/// Inserts an acknowledged segment.
pub fn insert_segment(conn: &Connection, stream_id: &str, s: &SegmentRow) -> rusqlite::Result<()> {
    conn.execute(
        &format!("INSERT INTO segments (stream_id, {SEGMENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
        params![
            stream_id,
            s.seq,
            to_i64(s.size)?,
            s.sha256,
            s.duration_secs,
            to_i64(s.first_pts)?,
            to_i64(s.last_pts)?,
            s.video_frames,
            s.starts_with_keyframe,
            s.received_at_ms,
            s.capture_start_ms,
            s.declared_duration_ms
        ],
    )?;
    Ok(())
}

/// The segment `seq` of a stream, if stored.
pub fn get_segment(conn: &Connection, stream_id: &str, seq: u32) -> rusqlite::Result<Option<SegmentRow>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {SEGMENT_COLUMNS} FROM segments WHERE stream_id = ?1 AND seq = ?2"))?;
    stmt.query_row(
        params![stream_id, seq],
        segment_from_row,
    )
    .optional()
}

/// Every segment of a stream, by ascending `seq`.
pub fn segments(conn: &Connection, stream_id: &str) -> rusqlite::Result<Vec<SegmentRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SEGMENT_COLUMNS} FROM segments WHERE stream_id = ?1 ORDER BY seq"
    ))?;
    let rows = stmt.query_map([stream_id], segment_from_row)?.collect();
    rows
}

/// The stream's latest `n` segments (highest `seq`), by ascending `seq`.
pub fn latest_segments(conn: &Connection, stream_id: &str, n: usize) -> rusqlite::Result<Vec<SegmentRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SEGMENT_COLUMNS} FROM segments WHERE stream_id = ?1 ORDER BY seq DESC LIMIT ?2"
    ))?;
    let mut rows = stmt.query_map(params![stream_id, n as i64], segment_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    rows.reverse();
    Ok(rows)
}

/// The stream's segments with `after < seq < before` (`after` `None`: from the first), by
/// ascending `seq`.
pub fn segments_between(conn: &Connection, stream_id: &str, after: Option<u32>, before: u32) -> rusqlite::Result<Vec<SegmentRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SEGMENT_COLUMNS} FROM segments WHERE stream_id = ?1 AND seq > ?2 AND seq < ?3 ORDER BY seq"
    ))?;
    let after = after.map_or(-1, i64::from);
    let rows = stmt.query_map(params![stream_id, after, before], segment_from_row)?.collect();
    rows
}

/// Counts and bounds of a stream's segments, computed by SQLite (no row is loaded).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SegmentSummary {
    /// Segments stored.
    pub count: usize,
    /// Their total duration.
    pub duration_secs: f64,
    /// Lowest `seq`.
    pub first_seq: Option<u32>,
    /// Highest `seq`.
    pub last_seq: Option<u32>,
}

/// [`SegmentSummary`] of a stream, in O(1) rows: the count and duration from
/// `variant_stats`, the bounds from the primary key's ends.
pub fn segment_summary(conn: &Connection, stream_id: &str) -> rusqlite::Result<SegmentSummary> {
    let stats = variant_stats(conn, stream_id, "")?.unwrap_or_default();
    let mut first = conn.prepare_cached("SELECT seq FROM segments WHERE stream_id = ?1 ORDER BY seq LIMIT 1")?;
    let mut last = conn.prepare_cached("SELECT seq FROM segments WHERE stream_id = ?1 ORDER BY seq DESC LIMIT 1")?;
    let seq = |r: &rusqlite::Row<'_>| {
        row_read();
        r.get(0)
    };
    Ok(SegmentSummary {
        count: stats.rows as usize,
        duration_secs: stats.duration_secs,
        first_seq: first.query_row([stream_id], seq).optional()?,
        last_seq: last.query_row([stream_id], seq).optional()?,
    })
}

/// What a variant's rows add up to (`variant_stats`, kept by triggers at insert time).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VariantStats {
    /// Rows stored.
    pub rows: u64,
    /// Their total duration.
    pub duration_secs: f64,
    /// The longest row's duration.
    pub longest_secs: f64,
    /// Bytes of the rows with a positive duration.
    pub measured_bytes: u64,
    /// Seconds of the rows with a positive duration.
    pub measured_secs: f64,
    /// Video frames of the rows with a positive duration.
    pub measured_frames: u64,
    /// Highest bit rate of one row (bytes × 8 / duration).
    pub peak_bps: f64,
}

/// [`VariantStats`] of a stream's source (`profile` `""`) or of one rendition.
pub fn variant_stats(conn: &Connection, stream_id: &str, profile: &str) -> rusqlite::Result<Option<VariantStats>> {
    let mut stmt = conn.prepare_cached(
        "SELECT rows, duration_secs, longest_secs, measured_bytes, measured_secs, measured_frames, peak_bps \
         FROM variant_stats WHERE stream_id = ?1 AND profile = ?2",
    )?;
    stmt.query_row(params![stream_id, profile], stats_from_row).optional()
}

fn stats_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<VariantStats> {
    row_read();
    Ok(VariantStats {
        rows: get_u64(r, 0)?,
        duration_secs: r.get(1)?,
        longest_secs: r.get(2)?,
        measured_bytes: get_u64(r, 3)?,
        measured_secs: r.get(4)?,
        measured_frames: get_u64(r, 5)?,
        peak_bps: r.get(6)?,
    })
}

/// Each rendition's [`VariantStats`] with its latest row, by profile.
pub fn rendition_variants(conn: &Connection, stream_id: &str) -> rusqlite::Result<Vec<(VariantStats, RenditionRow)>> {
    let mut profiles =
        conn.prepare_cached("SELECT profile FROM variant_stats WHERE stream_id = ?1 AND profile != '' ORDER BY profile")?;
    let profiles = profiles
        .query_map([stream_id], |r| {
            row_read();
            r.get::<_, String>(0)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut out = Vec::with_capacity(profiles.len());
    for profile in profiles {
        let (Some(stats), Some(last)) = (variant_stats(conn, stream_id, &profile)?, latest_rendition(conn, stream_id, &profile)?)
        else {
            continue;
        };
        out.push((stats, last));
    }
    Ok(out)
}

/// A rendition's row with the highest `seq`.
pub fn latest_rendition(conn: &Connection, stream_id: &str, profile: &str) -> rusqlite::Result<Option<RenditionRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RENDITION_COLUMNS} FROM renditions WHERE stream_id = ?1 AND profile = ?2 ORDER BY seq DESC LIMIT 1"
    ))?;
    stmt.query_row(params![stream_id, profile], rendition_from_row).optional()
}

/// One source segment as a rendition playlist sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    /// The source segment.
    pub segment: SegmentRow,
    /// Whether the rendition has it.
    pub present: bool,
    /// Whether the broadcaster reported it as a gap.
    pub reported_gap: bool,
}

/// Calls `f` with the stream's segments with `seq > after` (`None`: from the first), in
/// ascending `seq`, each with its rendition's presence when `profile` is given, until `f`
/// answers `false`: rows after that are not read.
pub fn scan_segments(
    conn: &Connection,
    stream_id: &str,
    profile: Option<&str>,
    after: Option<u32>,
    mut f: impl FnMut(Slot) -> bool,
) -> rusqlite::Result<()> {
    let after = after.map_or(-1, i64::from);
    let mut stmt = match profile {
        None => conn.prepare_cached(&format!(
            "SELECT {SEGMENT_COLUMNS}, 1, 0 FROM segments WHERE stream_id = ?1 AND seq > ?2 AND ?3 IS NULL ORDER BY seq"
        ))?,
        Some(_) => conn.prepare_cached(&format!(
            "SELECT {SEGMENT_COLUMNS}, \
             EXISTS (SELECT 1 FROM renditions r WHERE r.stream_id = s.stream_id AND r.profile = ?3 AND r.seq = s.seq), \
             EXISTS (SELECT 1 FROM rendition_gaps g WHERE g.stream_id = s.stream_id AND g.seq = s.seq) \
             FROM segments s WHERE s.stream_id = ?1 AND s.seq > ?2 ORDER BY s.seq"
        ))?,
    };
    let mut rows = stmt.query(params![stream_id, after, profile])?;
    while let Some(r) = rows.next()? {
        let slot = Slot { segment: segment_from_row(r)?, present: r.get(11)?, reported_gap: r.get(12)? };
        if !f(slot) {
            break;
        }
    }
    Ok(())
}

/// `(duration_secs, video_frames)` of the stream's latest `n` segments (highest `seq`).
pub fn recent_durations(conn: &Connection, stream_id: &str, n: usize) -> rusqlite::Result<crate::sanity::History> {
    let mut stmt = conn.prepare_cached(
        "SELECT duration_secs, video_frames FROM segments WHERE stream_id = ?1 ORDER BY seq DESC LIMIT ?2",
    )?;
    let recent = stmt
        .query_map(rusqlite::params![stream_id, n as i64], |r| Ok((r.get::<_, f64>(0)?, r.get::<_, u32>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(crate::sanity::History { recent })
}

/// Deletes the row of a segment whose file is gone (start-up recovery).
pub fn delete_segment(conn: &Connection, stream_id: &str, seq: u32) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM segments WHERE stream_id = ?1 AND seq = ?2", params![stream_id, seq])?;
    Ok(())
}

const RENDITION_COLUMNS: &str = "profile, seq, size, sha256, duration_secs, first_pts, video_frames, width, \
     height, codecs, pixels, bitrate_bps, transcoder, received_at_ms";

fn rendition_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RenditionRow> {
    row_read();
    Ok(RenditionRow {
        profile: r.get(0)?,
        seq: r.get(1)?,
        size: get_u64(r, 2)?,
        sha256: r.get(3)?,
        duration_secs: r.get(4)?,
        first_pts: get_u64(r, 5)?,
        video_frames: r.get(6)?,
        width: r.get(7)?,
        height: r.get(8)?,
        codecs: r.get(9)?,
        pixels: get_u64(r, 10)?,
        bitrate_bps: get_u64(r, 11)?,
        transcoder: r.get(12)?,
        received_at_ms: r.get(13)?,
    })
}

/// Inserts a verified rendition.
pub fn insert_rendition(conn: &Connection, stream_id: &str, s: &RenditionRow) -> rusqlite::Result<()> {
    conn.execute(
        &format!(
            "INSERT INTO renditions (stream_id, {RENDITION_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
        ),
        params![
            stream_id,
            s.profile,
            s.seq,
            to_i64(s.size)?,
            s.sha256,
            s.duration_secs,
            to_i64(s.first_pts)?,
            s.video_frames,
            s.width,
            s.height,
            s.codecs,
            to_i64(s.pixels)?,
            to_i64(s.bitrate_bps)?,
            s.transcoder,
            s.received_at_ms
        ],
    )?;
    Ok(())
}

/// Every rendition of a stream, by profile then ascending `seq`.
pub fn renditions(conn: &Connection, stream_id: &str) -> rusqlite::Result<Vec<RenditionRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RENDITION_COLUMNS} FROM renditions WHERE stream_id = ?1 ORDER BY profile, seq"
    ))?;
    let rows = stmt.query_map([stream_id], rendition_from_row)?.collect();
    rows
}

/// The renditions of one source segment, in profile order.
pub fn renditions_of(conn: &Connection, stream_id: &str, seq: u32) -> rusqlite::Result<Vec<RenditionRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RENDITION_COLUMNS} FROM renditions WHERE stream_id = ?1 AND seq = ?2 ORDER BY profile"
    ))?;
    let rows = stmt.query_map(params![stream_id, seq], rendition_from_row)?.collect();
    rows
}

/// One rendition, if stored.
pub fn get_rendition(conn: &Connection, stream_id: &str, profile: &str, seq: u32) -> rusqlite::Result<Option<RenditionRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RENDITION_COLUMNS} FROM renditions WHERE stream_id = ?1 AND profile = ?2 AND seq = ?3"
    ))?;
    stmt.query_row(
        params![stream_id, profile, seq],
        rendition_from_row,
    )
    .optional()
}

/// Deletes the row of a rendition whose file is gone (start-up recovery).
pub fn delete_rendition(conn: &Connection, stream_id: &str, profile: &str, seq: u32) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM renditions WHERE stream_id = ?1 AND profile = ?2 AND seq = ?3",
        params![stream_id, profile, seq],
    )?;
    Ok(())
}

/// Records that the broadcaster gave up transcoding segment `seq` (idempotent).
pub fn insert_gap(conn: &Connection, stream_id: &str, seq: u32, at_ms: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO rendition_gaps (stream_id, seq, reported_at_ms) VALUES (?1, ?2, ?3)",
        params![stream_id, seq, at_ms],
    )?;
    Ok(())
}

/// The segments the broadcaster gave up transcoding, ascending.
pub fn gaps(conn: &Connection, stream_id: &str) -> rusqlite::Result<Vec<u32>> {
    let mut stmt = conn.prepare_cached("SELECT seq FROM rendition_gaps WHERE stream_id = ?1 ORDER BY seq")?;
    let rows = stmt
        .query_map([stream_id], |r| {
            row_read();
            r.get(0)
        })?
        .collect();
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn segment(seq: u32) -> SegmentRow {
        SegmentRow {
            seq,
            size: 188,
            sha256: vec![seq as u8; 32],
            duration_secs: 2.0,
            first_pts: 90_000 * 2 * seq as u64,
            last_pts: 90_000 * 2 * seq as u64 + 177_000,
            video_frames: 60,
            starts_with_keyframe: true,
            received_at_ms: 1_700_000_000_000,
            capture_start_ms: None,
            declared_duration_ms: Some(2000),
        }
    }

    #[test]
    fn round_trip() {
        let db = Db::open_in_memory().unwrap();
        db.with_blocking(|c| {
            let s = StreamRow {
                id: "abc".into(),
                name: Some("n".into()),
                key_hash: vec![1; 32],
                created_at_ms: 5,
                ended_at_ms: None,
            };
            insert_stream(c, &s).unwrap();
            assert_eq!(get_stream(c, "abc").unwrap().unwrap(), s);
            assert!(get_stream(c, "nope").unwrap().is_none());
            for seq in [3, 1, 2] {
                insert_segment(c, "abc", &segment(seq)).unwrap();
            }
            assert!(insert_segment(c, "abc", &segment(1)).is_err(), "primary key");
            assert!(insert_segment(c, "zzz", &segment(1)).is_err(), "foreign key");
            let seqs: Vec<u32> = segments(c, "abc").unwrap().iter().map(|s| s.seq).collect();
            assert_eq!(seqs, [1, 2, 3]);
            assert_eq!(get_segment(c, "abc", 2).unwrap().unwrap(), segment(2));
            assert!(end_stream(c, "abc", 9).unwrap());
            assert!(!end_stream(c, "abc", 10).unwrap());
            assert_eq!(get_stream(c, "abc").unwrap().unwrap().ended_at_ms, Some(9));
            delete_segment(c, "abc", 2).unwrap();
            assert_eq!(segments(c, "abc").unwrap().len(), 2);
        });
    }

    #[test]
    fn renditions_and_gaps() {
        let db = Db::open_in_memory().unwrap();
        db.with_blocking(|c| {
            let s = StreamRow { id: "abc".into(), name: None, key_hash: vec![1; 32], created_at_ms: 5, ended_at_ms: None };
            insert_stream(c, &s).unwrap();
            let r = RenditionRow {
                profile: "P240p30fps16x9".into(),
                seq: 4,
                size: 1880,
                sha256: vec![7; 32],
                duration_secs: 1.0,
                first_pts: 9000,
                video_frames: 30,
                width: 426,
                height: 240,
                codecs: "avc1.42C01E".into(),
                pixels: 426 * 240 * 30,
                bitrate_bps: 600_000,
                transcoder: "http://127.0.0.1:1".into(),
                received_at_ms: 9,
            };
            insert_rendition(c, "abc", &r).unwrap();
            assert!(insert_rendition(c, "abc", &r).is_err(), "primary key");
            assert_eq!(renditions(c, "abc").unwrap(), std::slice::from_ref(&r));
            assert_eq!(renditions_of(c, "abc", 4).unwrap(), std::slice::from_ref(&r));
            assert_eq!(get_rendition(c, "abc", "P240p30fps16x9", 4).unwrap(), Some(r));
            delete_rendition(c, "abc", "P240p30fps16x9", 4).unwrap();
            assert!(renditions(c, "abc").unwrap().is_empty());
            insert_gap(c, "abc", 3, 1).unwrap();
            insert_gap(c, "abc", 3, 2).unwrap();
            assert_eq!(gaps(c, "abc").unwrap(), [3]);
        });
    }

    /// `variant_stats` as the aggregates over every row would give it.
    fn stats_by_scan(c: &Connection, id: &str, profile: &str) -> VariantStats {
        let rows: Vec<(u64, f64, u32)> = if profile.is_empty() {
            segments(c, id).unwrap().iter().map(|s| (s.size, s.duration_secs, s.video_frames)).collect()
        } else {
            renditions(c, id).unwrap().iter().filter(|r| r.profile == profile).map(|r| (r.size, r.duration_secs, r.video_frames)).collect()
        };
        let mut s = VariantStats { rows: rows.len() as u64, ..VariantStats::default() };
        for (bytes, secs, frames) in rows {
            s.duration_secs += secs;
            s.longest_secs = s.longest_secs.max(secs);
            if secs > 0.0 {
                s.measured_bytes += bytes;
                s.measured_secs += secs;
                s.measured_frames += u64::from(frames);
                s.peak_bps = s.peak_bps.max(bytes as f64 * 8.0 / secs);
            }
        }
        s
    }

    #[test]
    fn variant_stats_follow_inserts_deletes_and_an_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        let db = Db::open(&path).unwrap();
        let check = |c: &Connection| {
            for profile in ["", "P240p30fps16x9"] {
                assert_eq!(variant_stats(c, "abc", profile).unwrap().unwrap(), stats_by_scan(c, "abc", profile), "{profile:?}");
            }
        };
        db.with_blocking(|c| {
            let s = StreamRow { id: "abc".into(), name: None, key_hash: vec![1; 32], created_at_ms: 5, ended_at_ms: None };
            insert_stream(c, &s).unwrap();
            assert_eq!(variant_stats(c, "abc", "").unwrap(), None);
            for seq in 0..20 {
                let mut row = segment(seq);
                row.size = 1000 + u64::from(seq * 37 % 11) * 100;
                row.duration_secs = [2.0, 1.5, 0.0, 2.5][seq as usize % 4];
                insert_segment(c, "abc", &row).unwrap();
                let r = RenditionRow {
                    sha256: vec![7; 32],
                    duration_secs: row.duration_secs,
                    video_frames: 30,
                    received_at_ms: 9,
                    ..RenditionRow::for_test("P240p30fps16x9", seq, 500 + u64::from(seq) * 10)
                };
                insert_rendition(c, "abc", &r).unwrap();
            }
            check(c);
            // Deleting the peak row takes its peak back.
            let peak = segments(c, "abc").unwrap().into_iter().filter(|s| s.duration_secs > 0.0)
                .max_by(|a, b| (a.size as f64 / a.duration_secs).total_cmp(&(b.size as f64 / b.duration_secs))).unwrap();
            delete_segment(c, "abc", peak.seq).unwrap();
            delete_rendition(c, "abc", "P240p30fps16x9", 19).unwrap();
            check(c);
            assert_eq!(segment_summary(c, "abc").unwrap().count, 19);
            // A version-2 database (no stats) is filled on upgrade.
            c.execute_batch("DROP TABLE variant_stats; PRAGMA user_version = 2;").unwrap();
        });
        drop(db);
        let db = Db::open(&path).unwrap();
        db.with_blocking(|c| {
            check(c);
            let v: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
            assert_eq!(v, SCHEMA_VERSION);
        });
    }

    /// The error of the async calls in these tests.
    #[derive(Debug)]
    enum TestError {
        Db(#[allow(dead_code)] rusqlite::Error),
        Join(#[allow(dead_code)] tokio::task::JoinError),
    }
    impl From<rusqlite::Error> for TestError {
        fn from(e: rusqlite::Error) -> Self {
            TestError::Db(e)
        }
    }
    impl From<tokio::task::JoinError> for TestError {
        fn from(e: tokio::task::JoinError) -> Self {
            TestError::Join(e)
        }
    }

    /// [`Db::call`] (`stream` `None`) or [`Db::call_on`] of a plain database function.
    async fn write<R: Send + 'static>(
        db: &Db,
        stream: Option<&str>,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, TestError> {
        let f = move |c: &mut Connection| f(c).map_err(TestError::from);
        match stream {
            None => db.call(f).await,
            Some(id) => db.call_on(id, f).await,
        }
    }

    /// [`Db::read`] of a plain database function.
    async fn read<R: Send + 'static>(
        db: &Db,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, TestError> {
        db.read(move |c| f(c).map_err(TestError::from)).await
    }

    fn stream(id: &str) -> StreamRow {
        StreamRow { id: id.into(), name: None, key_hash: vec![1; 32], created_at_ms: 5, ended_at_ms: None }
    }

    #[tokio::test]
    async fn readers_see_what_the_writer_committed_at_once_and_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("relay.db")).unwrap();
        assert!(db.has_readers());
        write(&db, None, |c| insert_stream(c, &stream("a"))).await.unwrap();
        for seq in 0..20 {
            write(&db, Some("a"), move |c| insert_segment(c, "a", &segment(seq))).await.unwrap();
            // The very next read, on a read-only connection, sees the row just committed.
            let (row, last) =
                read(&db, move |c| Ok((get_segment(c, "a", seq)?, segment_summary(c, "a")?.last_seq))).await.unwrap();
            assert_eq!((row, last), (Some(segment(seq)), Some(seq)));
        }
        assert!(read(&db, |c| insert_segment(c, "a", &segment(99))).await.is_err(), "a read-only connection wrote");
        assert!(read(&db, |c| get_segment(c, "a", 99)).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn many_reads_at_once_while_the_writer_writes() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("relay.db")).unwrap();
        write(&db, None, |c| insert_stream(c, &stream("a"))).await.unwrap();
        let writer = {
            let db = db.clone();
            tokio::spawn(async move {
                for seq in 0..200 {
                    write(&db, Some("a"), move |c| insert_segment(c, "a", &segment(seq))).await.unwrap();
                }
            })
        };
        // Each read sees a prefix of the rows (one snapshot: the count and the rows agree),
        // never fewer than an earlier read saw.
        let mut seen = 0;
        while seen < 200 {
            let reads = (0..16).map(|_| read(&db, |c| Ok((segment_summary(c, "a")?.count, segments(c, "a")?.len()))));
            let results = futures_util::future::try_join_all(reads).await.unwrap();
            let low = results.iter().map(|(count, _)| *count).min().unwrap();
            for (count, rows) in results {
                assert_eq!(count, rows, "the summary and the rows of one read disagree");
            }
            assert!(low >= seen, "a read saw {low} rows after one saw {seen}");
            seen = low;
            if writer.is_finished() && seen < 200 {
                seen = read(&db, |c| Ok(segments(c, "a")?.len())).await.unwrap();
            }
        }
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn generations_move_on_writes_only() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("relay.db")).unwrap();
        let (a0, b0) = (db.generation("a"), db.generation("b"));
        write(&db, None, |c| {
            insert_stream(c, &stream("a"))?;
            insert_stream(c, &stream("b"))
        })
        .await
        .unwrap();
        let (a1, b1) = (db.generation("a"), db.generation("b"));
        assert!(a1 != a0 && b1 != b0, "a write of no stream in particular moves every stream on");
        // Reads, through the writer or a reader, change nothing.
        write(&db, None, |c| get_stream(c, "a")).await.unwrap();
        read(&db, |c| get_stream(c, "a")).await.unwrap();
        write(&db, None, |c| end_stream(c, "nope", 1)).await.unwrap();
        assert_eq!((db.generation("a"), db.generation("b")), (a1, b1));
        // A write for one stream moves only that one.
        write(&db, Some("a"), |c| insert_segment(c, "a", &segment(0))).await.unwrap();
        let a2 = db.generation("a");
        assert!(a2 != a1);
        assert_eq!(db.generation("b"), b1);
        // A failed write changes nothing either.
        assert!(write(&db, Some("a"), |c| insert_segment(c, "a", &segment(0))).await.is_err());
        assert_eq!(db.generation("a"), a2);
        // Ending a stream (a write of no stream in particular) moves both.
        write(&db, None, |c| end_stream(c, "a", 9)).await.unwrap();
        assert!(db.generation("a") != a2 && db.generation("b") != b1);
    }

    #[tokio::test]
    async fn by_generation_answers_only_while_the_stream_is_unchanged() {
        let db = Db::open_in_memory().unwrap();
        let cache = ByGeneration::new(2);
        write(&db, None, |c| insert_stream(c, &stream("a"))).await.unwrap();
        let g = db.generation("a");
        cache.keep("a", g, 1);
        assert_eq!(cache.get(&"a", g), Some(1));
        assert_eq!(cache.get(&"a", db.generation("a")), Some(1));
        write(&db, Some("a"), |c| insert_segment(c, "a", &segment(0))).await.unwrap();
        assert_eq!(cache.get(&"a", db.generation("a")), None, "a write for the stream");
        cache.keep("b", db.generation("b"), 2);
        cache.keep("c", db.generation("c"), 3);
        assert_eq!((cache.len(), cache.get(&"c", db.generation("c"))), (1, Some(3)), "full: started again");
    }

    #[tokio::test]
    async fn reads_count_rows_and_steps_on_every_connection() {
        let dir = tempfile::tempdir().unwrap();
        for db in [Db::open(&dir.path().join("relay.db")).unwrap(), Db::open_in_memory().unwrap()] {
            db.count_vm_steps();
            write(&db, None, |c| insert_stream(c, &stream("a"))).await.unwrap();
            for seq in 0..5 {
                write(&db, Some("a"), move |c| insert_segment(c, "a", &segment(seq))).await.unwrap();
            }
            let (rows, steps) = (db.rows_read(), db.vm_steps());
            let n = read(&db, |c| Ok(segments(c, "a")?.len())).await.unwrap();
            assert_eq!(n, 5);
            assert_eq!(db.rows_read() - rows, 5, "readers: {}", db.has_readers());
            assert!(db.vm_steps() - steps >= 5, "readers: {}", db.has_readers());
        }
    }

    #[test]
    fn file_database_is_wal() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("relay.db")).unwrap();
        let mode: String = db.with_blocking(|c| c.query_row("PRAGMA journal_mode", [], |r| r.get(0))).unwrap();
        assert_eq!(mode, "wal");
    }
}
