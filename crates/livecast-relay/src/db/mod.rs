//! The relay's metadata store: streams, their acknowledged segments and renditions, in SQLite
//! (the default) or in PostgreSQL (`--database postgres://…`), with the same schema.
//!
//! SQLite: one database file, `relay.db` in the data directory, in WAL mode with
//! `synchronous=FULL`: a committed row survives the process being killed. Writes go through
//! one connection behind a mutex; reads for viewers through a pool of read-only connections.
//! PostgreSQL: a pool of connections for both, so that several relays can share one
//! database; each relay hears the others' writes through `LISTEN`/`NOTIFY` ([`Change`]).
//!
//! A segment row is inserted only after its bytes are durably stored (see
//! [`crate::storage`]), so every row names a complete segment. Every write
//! ([`Db::call`], [`Db::call_on`]) is one transaction, committed before the caller answers;
//! every read ([`Db::read`]) sees one snapshot. The queries are functions of a [`Conn`],
//! whichever database it is; [`sqlite`] and [`postgres`] hold each one's SQL.

mod postgres;
mod sqlite;
#[cfg(test)]
mod tests;

use std::cell::Cell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

pub use self::postgres::redact as redact_url;

/// An error of the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// From SQLite.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// From PostgreSQL (or the connection to it). The message is the server's own (with its
    /// SQLSTATE) or the connection's cause, not the client's bare "db error".
    #[error("postgres: {}", postgres::describe(.0))]
    Postgres(#[from] ::postgres::Error),
    /// No connection could be had in time (all busy, or the database cannot be reached).
    #[error("no database connection: {0}")]
    NoConnection(String),
    /// A stored value does not fit the type it is read as (a damaged or foreign row).
    #[error("column {column}: {value} is out of range")]
    OutOfRange {
        /// The column's index in the query.
        column: usize,
        /// The value read.
        value: i64,
    },
    /// A value too large for the database's signed 64-bit integers (never written).
    #[error("{0} does not fit a 64-bit signed integer column")]
    NotStorable(u64),
    /// `--database` is not a database URL this relay can use.
    #[error("--database: {0}")]
    Url(String),
    /// The database's schema is newer than this relay knows (a newer relay migrated it).
    #[error("{0}")]
    Schema(String),
}

impl DbError {
    /// Whether the database could not be reached (down, restarting, connection lost): the
    /// request may succeed if retried shortly, and nothing was written.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::NoConnection(_) => true,
            DbError::Postgres(e) => postgres::is_unavailable(e),
            DbError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
                matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            }
            _ => false,
        }
    }

    /// Whether an insert found its primary key taken (by a concurrent writer, say).
    pub fn is_duplicate_key(&self) -> bool {
        match self {
            DbError::Postgres(e) => e.code() == Some(&::postgres::error::SqlState::UNIQUE_VIOLATION),
            DbError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
                f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            }
            _ => false,
        }
    }
}

/// Where the metadata lives (`--database`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseConfig {
    /// `relay.db` in this directory (the default: the data directory).
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL database, by its `postgres://` URL.
    Postgres(String),
}

/// A change another relay (or this one) committed, heard through PostgreSQL's `NOTIFY`:
/// what this relay kept from the rows it concerns is stale (see [`Db::on_change`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Segment `seq` of a stream was stored or removed.
    Segment {
        /// The stream.
        stream_id: String,
        /// The segment.
        seq: u32,
    },
    /// A rendition or a gap report of a stream was stored or removed.
    Rendition {
        /// The stream.
        stream_id: String,
    },
    /// A stream was created or ended.
    Stream {
        /// The stream.
        stream_id: String,
    },
    /// Changes may have been missed (the listening connection was lost and is back): every
    /// stream's kept values are stale.
    Unknown,
}

/// One connection to the metadata store, as the query functions below take it: a SQLite
/// connection or a PostgreSQL client, inside the transaction [`Db`] opened for the call.
pub struct Conn<'a> {
    inner: Inner<'a>,
    /// Whether a write through it changed rows (for [`Db::generation`]).
    changed: bool,
}

enum Inner<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(&'a mut ::postgres::Client),
}

impl<'a> Conn<'a> {
    fn sqlite(conn: &'a rusqlite::Connection) -> Self {
        Conn { inner: Inner::Sqlite(conn), changed: false }
    }

    fn postgres(client: &'a mut ::postgres::Client) -> Self {
        Conn { inner: Inner::Postgres(client), changed: false }
    }

    /// The SQLite connection, when it is one (SQLite-only tests and measurements).
    pub fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.inner {
            Inner::Sqlite(c) => Some(c),
            Inner::Postgres(_) => None,
        }
    }

    /// Which database this is: `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.inner {
            Inner::Sqlite(_) => "sqlite",
            Inner::Postgres(_) => "postgres",
        }
    }

    /// Runs SQL statements that read the same on both databases (`BEGIN`, `COMMIT`), with
    /// no result: for tests and measurements that group many writes.
    pub fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        match &mut self.inner {
            Inner::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Inner::Postgres(c) => Ok(c.batch_execute(sql)?),
        }
    }
}

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

/// Shared handle to the metadata store.
///
/// Every write goes through [`Db::call`] or [`Db::call_on`], each one transaction that is
/// committed before it returns (rolled back if `f` fails). With SQLite they share its one
/// writer connection, as SQLite serialises writes anyway; with PostgreSQL each takes a pooled
/// connection. Reads that are served to viewers ([`Db::read`]) see one snapshot and never wait
/// for a write: SQLite's are on read-only connections (in WAL mode a read sees every
/// transaction committed before it began), PostgreSQL's in `REPEATABLE READ` transactions.
/// An in-memory SQLite database (tests) cannot be opened a second time, so its reads use the
/// writer connection.
///
/// The handle also counts what changed ([`Db::generation`]), so that what is rendered from
/// the rows can be kept until they change; with PostgreSQL that includes other relays'
/// writes, heard through `LISTEN`.
#[derive(Clone)]
pub struct Db {
    backend: Arc<Backend>,
    /// Rows decoded from query results, over the handle's life (see [`Db::rows_read`]).
    rows_read: Arc<AtomicU64>,
    /// SQLite virtual-machine steps, counted once [`Db::count_vm_steps`] was called.
    vm_steps: Arc<AtomicU64>,
    /// Whether [`Db::count_vm_steps`] was called (read connections then count too).
    counting_steps: Arc<AtomicBool>,
    generations: Arc<Generations>,
    /// Told of every change heard from PostgreSQL (see [`Db::on_change`]).
    listeners: Arc<OnceLock<ChangeHook>>,
}

/// What [`Db::on_change`] registered.
pub(crate) type ChangeHook = Box<dyn Fn(&Change) + Send + Sync>;

enum Backend {
    Sqlite(sqlite::Handle),
    Postgres(postgres::Handle),
}

impl Db {
    /// Opens (creating if needed) the SQLite database at `path`, brings its schema up to
    /// date, and opens its read-only connections.
    pub fn open(path: &Path) -> Result<Db, DbError> {
        Ok(Db::wrap(Backend::Sqlite(sqlite::Handle::open(path)?)))
    }

    /// An in-memory SQLite database, for tests (reads share the writer connection).
    pub fn open_in_memory() -> Result<Db, DbError> {
        Ok(Db::wrap(Backend::Sqlite(sqlite::Handle::open_in_memory()?)))
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://user:password@host/db`),
    /// brings its schema up to date (one relay at a time), and starts listening for the
    /// changes other relays make.
    ///
    /// Blocks; callable from async code too (the synchronous client runs a runtime of its
    /// own, which cannot start on a thread that runs one, so this connects on a thread of
    /// its own).
    pub fn connect(url: &str) -> Result<Db, DbError> {
        std::thread::scope(|s| {
            s.spawn(|| {
                let handle = postgres::Handle::connect(url)?;
                let db = Db::wrap(Backend::Postgres(handle));
                if let Backend::Postgres(h) = &*db.backend {
                    h.listen(Arc::downgrade(&db.generations), Arc::downgrade(&db.listeners))?;
                }
                Ok(db)
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Opens what `config` names ([`Db::open`] of `relay.db` in its directory, or
    /// [`Db::connect`]).
    pub fn open_config(config: &DatabaseConfig) -> Result<Db, DbError> {
        match config {
            DatabaseConfig::Sqlite(dir) => Db::open(&dir.join("relay.db")),
            DatabaseConfig::Postgres(url) => Db::connect(url),
        }
    }

    fn wrap(backend: Backend) -> Db {
        Db {
            backend: Arc::new(backend),
            rows_read: Arc::default(),
            vm_steps: Arc::default(),
            counting_steps: Arc::default(),
            generations: Arc::default(),
            listeners: Arc::default(),
        }
    }

    /// Which database this is: `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match &*self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Whether reads have connections of their own (a file or PostgreSQL database), rather
    /// than sharing the writer's (in memory).
    pub fn has_readers(&self) -> bool {
        match &*self.backend {
            Backend::Sqlite(h) => h.readers.is_some(),
            Backend::Postgres(_) => true,
        }
    }

    /// Calls `f` for every [`Change`] heard from PostgreSQL, after the stream's
    /// [`Generation`] moved on (only the first hook registered is kept; SQLite never calls
    /// it, since only this process writes there).
    pub fn on_change(&self, f: impl Fn(&Change) + Send + Sync + 'static) {
        let _ = self.listeners.set(Box::new(f));
    }

    /// Rows the relay decoded from the database through this handle so far, on any
    /// connection: what a request costs in rows read, for tests and measurements (read it
    /// before and after).
    pub fn rows_read(&self) -> u64 {
        self.rows_read.load(Ordering::Relaxed)
    }

    /// From now on, counts SQLite's virtual-machine steps ([`Db::vm_steps`]) on every
    /// connection, the writer's and the readers': the work SQLite does, aggregates and scans
    /// included, which [`Db::rows_read`] does not see. A progress handler called at every
    /// step, so only for tests and measurements. (PostgreSQL: nothing is counted.)
    pub fn count_vm_steps(&self) {
        self.counting_steps.store(true, Ordering::Relaxed);
        if let Backend::Sqlite(h) = &*self.backend {
            let writer = h.writer.lock().unwrap_or_else(|p| p.into_inner());
            sqlite::step_counter(&writer, &self.vm_steps).expect("the connection is owned");
        }
    }

    /// SQLite virtual-machine steps since [`Db::count_vm_steps`].
    pub fn vm_steps(&self) -> u64 {
        self.vm_steps.load(Ordering::Relaxed)
    }

    /// Where the database's history stands for `stream_id` (see [`Generation`]).
    pub fn generation(&self, stream_id: &str) -> Generation {
        self.generations.get(stream_id)
    }

    /// Runs `f` in one write transaction on a blocking thread, committed before this
    /// returns, or rolled back when `f` fails. `E` is the caller's error type (the HTTP
    /// layer's, say): the database does not know how its errors are answered. When `f`
    /// changed rows, every stream's [`Generation`] moves on.
    pub async fn call<R, E, F>(&self, f: F) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<tokio::task::JoinError> + From<DbError> + Send + 'static,
        F: FnOnce(&mut Conn<'_>) -> Result<R, E> + Send + 'static,
    {
        self.call_scoped(None, f).await
    }

    /// [`Db::call`] for a write that changes only `stream_id`'s rows (its segments,
    /// renditions and their stats): only that stream's [`Generation`] moves on.
    pub async fn call_on<R, E, F>(&self, stream_id: &str, f: F) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<tokio::task::JoinError> + From<DbError> + Send + 'static,
        F: FnOnce(&mut Conn<'_>) -> Result<R, E> + Send + 'static,
    {
        self.call_scoped(Some(stream_id.to_owned()), f).await
    }

    async fn call_scoped<R, E, F>(&self, stream_id: Option<String>, f: F) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<tokio::task::JoinError> + From<DbError> + Send + 'static,
        F: FnOnce(&mut Conn<'_>) -> Result<R, E> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.write_blocking(stream_id.as_deref(), f)).await?
    }

    /// [`Db::call`] on the current thread.
    fn write_blocking<R, E: From<DbError>>(
        &self,
        stream_id: Option<&str>,
        f: impl FnOnce(&mut Conn<'_>) -> Result<R, E>,
    ) -> Result<R, E> {
        let begin = match &*self.backend {
            Backend::Sqlite(_) => "BEGIN IMMEDIATE",
            Backend::Postgres(_) => "BEGIN",
        };
        self.with_writer(stream_id, |c| transaction(c, begin, f))?
    }

    /// Runs `f` with a writer connection on the current thread, outside any transaction
    /// (start-up, tests); when it changed rows, every stream's [`Generation`] moves on.
    ///
    /// # Panics
    /// If no PostgreSQL connection can be had (see [`Db::try_with_blocking`]).
    pub fn with_blocking<R>(&self, f: impl FnOnce(&mut Conn<'_>) -> R) -> R {
        self.try_with_blocking(f).expect("a database connection")
    }

    /// [`Db::with_blocking`], failing when no connection can be had.
    pub fn try_with_blocking<R>(&self, f: impl FnOnce(&mut Conn<'_>) -> R) -> Result<R, DbError> {
        self.with_writer(None, f)
    }

    fn with_writer<R>(&self, stream_id: Option<&str>, f: impl FnOnce(&mut Conn<'_>) -> R) -> Result<R, DbError> {
        let run = |mut conn: Conn<'_>| {
            // A panic in `f` may leave a transaction open on a connection that is kept:
            // it is rolled back before the panic goes on.
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| counting_rows(&self.rows_read, || f(&mut conn))));
            // Also after a panic: `f` may have committed before it.
            if conn.changed {
                self.generations.bump(stream_id);
            }
            match out {
                Ok(out) => out,
                Err(panic) => {
                    let _ = conn.batch("ROLLBACK");
                    std::panic::resume_unwind(panic)
                }
            }
        };
        match &*self.backend {
            Backend::Sqlite(h) => {
                // A panic while holding the lock leaves no open transaction behind (rolled
                // back above), so a poisoned connection is still consistent.
                let guard = h.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                Ok(run(Conn::sqlite(&guard)))
            }
            Backend::Postgres(h) => {
                let mut client = h.get()?;
                Ok(run(Conn::postgres(&mut client)))
            }
        }
    }

    /// Runs `f` with a read connection on a blocking thread (with the writer's, for an
    /// in-memory database), in one read transaction: it sees every transaction committed
    /// before its first statement, and none committed after. It cannot write.
    pub async fn read<R, E, F>(&self, f: F) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<tokio::task::JoinError> + From<DbError> + Send + 'static,
        F: FnOnce(&mut Conn<'_>) -> Result<R, E> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.read_blocking(f)).await?
    }

    /// [`Db::read`] on the current thread (tests, measurements).
    pub fn read_blocking<R, E>(&self, f: impl FnOnce(&mut Conn<'_>) -> Result<R, E>) -> Result<R, E>
    where
        E: From<DbError>,
    {
        match &*self.backend {
            Backend::Sqlite(h) => {
                let Some(pool) = &h.readers else {
                    return self.with_blocking(f);
                };
                let conn = pool.get().map_err(|e| DbError::NoConnection(format!("no read-only connection free: {e}")))?;
                if self.counting_steps.load(Ordering::Relaxed) {
                    sqlite::step_counter(&conn, &self.vm_steps).map_err(DbError::from)?;
                }
                // One snapshot for all of `f`'s statements, as the writer's lock gave them
                // before: a write committed between two of them is not half seen. Dropping
                // the transaction ends it (a rollback, which for reads is the same as a
                // commit).
                let snapshot = conn.unchecked_transaction().map_err(DbError::from)?;
                counting_rows(&self.rows_read, || f(&mut Conn::sqlite(&snapshot)))
            }
            Backend::Postgres(h) => {
                let mut client = h.get()?;
                let mut conn = Conn::postgres(&mut client);
                counting_rows(&self.rows_read, || {
                    transaction(&mut conn, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", f)
                })
            }
        }
    }
}

/// Runs `f` between `begin` and `COMMIT` (`ROLLBACK` when it fails).
fn transaction<R, E: From<DbError>>(
    c: &mut Conn<'_>,
    begin: &str,
    f: impl FnOnce(&mut Conn<'_>) -> Result<R, E>,
) -> Result<R, E> {
    c.batch(begin)?;
    match f(c) {
        Ok(v) => match c.batch("COMMIT") {
            Ok(()) => Ok(v),
            Err(e) => {
                let _ = c.batch("ROLLBACK");
                Err(e.into())
            }
        },
        Err(e) => {
            let _ = c.batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Calls the same query on whichever database `c` is.
macro_rules! query {
    ($c:expr, $name:ident ( $($arg:expr),* )) => {
        match &mut $c.inner {
            Inner::Sqlite(conn) => Ok(sqlite::$name(conn, $($arg),*)?),
            Inner::Postgres(client) => postgres::$name(client, $($arg),*),
        }
    };
}

/// Inserts a new stream.
pub fn insert_stream(c: &mut Conn<'_>, s: &StreamRow) -> Result<(), DbError> {
    query!(c, insert_stream(s))?;
    c.changed = true;
    Ok(())
}

/// The stream with this id, if any.
pub fn get_stream(c: &mut Conn<'_>, id: &str) -> Result<Option<StreamRow>, DbError> {
    query!(c, get_stream(id))
}

/// Every stream id (start-up recovery).
pub fn stream_ids(c: &mut Conn<'_>) -> Result<Vec<String>, DbError> {
    query!(c, stream_ids())
}

/// Marks a stream ended at `at_ms`, unless it already is. Returns whether it changed.
pub fn end_stream(c: &mut Conn<'_>, id: &str, at_ms: i64) -> Result<bool, DbError> {
    let changed = query!(c, end_stream(id, at_ms))?;
    c.changed |= changed;
    Ok(changed)
}

/// Inserts an acknowledged segment.
pub fn insert_segment(c: &mut Conn<'_>, stream_id: &str, s: &SegmentRow) -> Result<(), DbError> {
    query!(c, insert_segment(stream_id, s))?;
    c.changed = true;
    Ok(())
}

/// The segment `seq` of a stream, if stored.
pub fn get_segment(c: &mut Conn<'_>, stream_id: &str, seq: u32) -> Result<Option<SegmentRow>, DbError> {
    query!(c, get_segment(stream_id, seq))
}

/// Every segment of a stream, by ascending `seq`.
pub fn segments(c: &mut Conn<'_>, stream_id: &str) -> Result<Vec<SegmentRow>, DbError> {
    query!(c, segments(stream_id))
}

/// The stream's latest `n` segments (highest `seq`), by ascending `seq`.
pub fn latest_segments(c: &mut Conn<'_>, stream_id: &str, n: usize) -> Result<Vec<SegmentRow>, DbError> {
    query!(c, latest_segments(stream_id, n))
}

/// The stream's segments with `after < seq < before` (`after` `None`: from the first), by
/// ascending `seq`.
pub fn segments_between(c: &mut Conn<'_>, stream_id: &str, after: Option<u32>, before: u32) -> Result<Vec<SegmentRow>, DbError> {
    query!(c, segments_between(stream_id, after, before))
}

/// [`SegmentSummary`] of a stream, in O(1) rows: the count and duration from
/// `variant_stats`, the bounds from the primary key's ends.
pub fn segment_summary(c: &mut Conn<'_>, stream_id: &str) -> Result<SegmentSummary, DbError> {
    query!(c, segment_summary(stream_id))
}

/// [`VariantStats`] of a stream's source (`profile` `""`) or of one rendition.
pub fn variant_stats(c: &mut Conn<'_>, stream_id: &str, profile: &str) -> Result<Option<VariantStats>, DbError> {
    query!(c, variant_stats(stream_id, profile))
}

/// Each rendition's [`VariantStats`] with its latest row, by profile.
pub fn rendition_variants(c: &mut Conn<'_>, stream_id: &str) -> Result<Vec<(VariantStats, RenditionRow)>, DbError> {
    query!(c, rendition_variants(stream_id))
}

/// A rendition's row with the highest `seq`.
pub fn latest_rendition(c: &mut Conn<'_>, stream_id: &str, profile: &str) -> Result<Option<RenditionRow>, DbError> {
    query!(c, latest_rendition(stream_id, profile))
}

/// Calls `f` with the stream's segments with `seq > after` (`None`: from the first), in
/// ascending `seq`, each with its rendition's presence when `profile` is given, until `f`
/// answers `false`: rows after that are not decoded.
pub fn scan_segments(
    c: &mut Conn<'_>,
    stream_id: &str,
    profile: Option<&str>,
    after: Option<u32>,
    f: impl FnMut(Slot) -> bool,
) -> Result<(), DbError> {
    query!(c, scan_segments(stream_id, profile, after, f))
}

/// `(duration_secs, video_frames)` of the stream's latest `n` segments (highest `seq`).
pub fn recent_durations(c: &mut Conn<'_>, stream_id: &str, n: usize) -> Result<crate::sanity::History, DbError> {
    query!(c, recent_durations(stream_id, n))
}

/// Deletes the row of a segment whose file is gone (start-up recovery).
pub fn delete_segment(c: &mut Conn<'_>, stream_id: &str, seq: u32) -> Result<(), DbError> {
    query!(c, delete_segment(stream_id, seq))?;
    c.changed = true;
    Ok(())
}

/// Inserts a verified rendition.
pub fn insert_rendition(c: &mut Conn<'_>, stream_id: &str, s: &RenditionRow) -> Result<(), DbError> {
    query!(c, insert_rendition(stream_id, s))?;
    c.changed = true;
    Ok(())
}

/// Every rendition of a stream, by profile then ascending `seq`.
pub fn renditions(c: &mut Conn<'_>, stream_id: &str) -> Result<Vec<RenditionRow>, DbError> {
    query!(c, renditions(stream_id))
}

/// The renditions of one source segment, in profile order.
pub fn renditions_of(c: &mut Conn<'_>, stream_id: &str, seq: u32) -> Result<Vec<RenditionRow>, DbError> {
    query!(c, renditions_of(stream_id, seq))
}

/// One rendition, if stored.
pub fn get_rendition(c: &mut Conn<'_>, stream_id: &str, profile: &str, seq: u32) -> Result<Option<RenditionRow>, DbError> {
    query!(c, get_rendition(stream_id, profile, seq))
}

/// Deletes the row of a rendition whose file is gone (start-up recovery).
pub fn delete_rendition(c: &mut Conn<'_>, stream_id: &str, profile: &str, seq: u32) -> Result<(), DbError> {
    query!(c, delete_rendition(stream_id, profile, seq))?;
    c.changed = true;
    Ok(())
}

/// Records that the broadcaster gave up transcoding segment `seq` (idempotent).
pub fn insert_gap(c: &mut Conn<'_>, stream_id: &str, seq: u32, at_ms: i64) -> Result<(), DbError> {
    query!(c, insert_gap(stream_id, seq, at_ms))?;
    c.changed = true;
    Ok(())
}

/// The segments the broadcaster gave up transcoding, ascending.
pub fn gaps(c: &mut Conn<'_>, stream_id: &str) -> Result<Vec<u32>, DbError> {
    query!(c, gaps(stream_id))
}
