//! The SQLite side of the metadata store: its schema, its migrations (`PRAGMA user_version`)
//! and its queries. [`super`] picks this side or [`super::postgres`] per connection.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::{row_read, RenditionRow, SegmentRow, SegmentSummary, Slot, StreamRow, VariantStats};


/// Schema version stored in `PRAGMA user_version` (2 added the `renditions` and
/// `rendition_gaps` tables; a version-1 database is upgraded by creating them; 3 added
/// `variant_stats` and its triggers, filled from the existing rows on upgrade).
pub(super) const SCHEMA_VERSION: i64 = 3;

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

/// Read-only connections a file database keeps open beside the writer: at least this many,
/// or two per core (reads are short and CPU-bound; more would only queue in SQLite).
const MIN_READERS: u32 = 4;

/// How long a read waits for a free read-only connection before failing.
const READER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A SQLite database: the one connection that writes, and (for a file) a pool of
/// read-only connections that read.
pub(super) struct Handle {
    pub(super) writer: Mutex<Connection>,
    /// `None` for an in-memory database.
    pub(super) readers: Option<r2d2::Pool<SqliteConnectionManager>>,
}

impl Handle {
    /// Opens (creating if needed) the database at `path`, brings its schema up to date, and
    /// opens its read-only connections.
    pub(super) fn open(path: &Path) -> rusqlite::Result<Handle> {
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
        Ok(Handle { writer: Mutex::new(conn), readers: Some(readers) })
    }

    /// An in-memory database (reads share the writer connection).
    pub(super) fn open_in_memory() -> rusqlite::Result<Handle> {
        let conn = Connection::open_in_memory()?;
        init(&conn)?;
        Ok(Handle { writer: Mutex::new(conn), readers: None })
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

/// A progress handler that counts every SQLite VM step into `steps`.
pub(super) fn step_counter(conn: &Connection, steps: &Arc<AtomicU64>) -> rusqlite::Result<()> {
    let steps = Arc::clone(steps);
    conn.progress_handler(
        1,
        Some(move || {
            steps.fetch_add(1, Ordering::Relaxed);
            false
        }),
    )
}

pub(super) fn init(conn: &Connection) -> rusqlite::Result<()> {
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
pub(super) fn insert_stream(conn: &Connection, s: &StreamRow) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO streams (id, name, key_hash, created_at_ms, ended_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![s.id, s.name, s.key_hash, s.created_at_ms, s.ended_at_ms],
    )?;
    Ok(())
}

/// The stream with this id, if any.
pub(super) fn get_stream(conn: &Connection, id: &str) -> rusqlite::Result<Option<StreamRow>> {
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
pub(super) fn stream_ids(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT id FROM streams")?;
    let ids = stmt.query_map([], |r| r.get(0))?.collect();
    ids
}

/// Marks a stream ended at `at_ms`, unless it already is. Returns whether it changed.
pub(super) fn end_stream(conn: &Connection, id: &str, at_ms: i64) -> rusqlite::Result<bool> {
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
pub(super) fn insert_segment(conn: &Connection, stream_id: &str, s: &SegmentRow) -> rusqlite::Result<()> {
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
pub(super) fn get_segment(conn: &Connection, stream_id: &str, seq: u32) -> rusqlite::Result<Option<SegmentRow>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {SEGMENT_COLUMNS} FROM segments WHERE stream_id = ?1 AND seq = ?2"))?;
    stmt.query_row(
        params![stream_id, seq],
        segment_from_row,
    )
    .optional()
}

/// Every segment of a stream, by ascending `seq`.
pub(super) fn segments(conn: &Connection, stream_id: &str) -> rusqlite::Result<Vec<SegmentRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SEGMENT_COLUMNS} FROM segments WHERE stream_id = ?1 ORDER BY seq"
    ))?;
    let rows = stmt.query_map([stream_id], segment_from_row)?.collect();
    rows
}

/// The stream's latest `n` segments (highest `seq`), by ascending `seq`.
pub(super) fn latest_segments(conn: &Connection, stream_id: &str, n: usize) -> rusqlite::Result<Vec<SegmentRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SEGMENT_COLUMNS} FROM segments WHERE stream_id = ?1 ORDER BY seq DESC LIMIT ?2"
    ))?;
    let mut rows = stmt.query_map(params![stream_id, n as i64], segment_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    rows.reverse();
    Ok(rows)
}

/// The stream's segments with `after < seq < before` (`after` `None`: from the first), by
/// ascending `seq`.
pub(super) fn segments_between(conn: &Connection, stream_id: &str, after: Option<u32>, before: u32) -> rusqlite::Result<Vec<SegmentRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SEGMENT_COLUMNS} FROM segments WHERE stream_id = ?1 AND seq > ?2 AND seq < ?3 ORDER BY seq"
    ))?;
    let after = after.map_or(-1, i64::from);
    let rows = stmt.query_map(params![stream_id, after, before], segment_from_row)?.collect();
    rows
}

/// [`SegmentSummary`] of a stream, in O(1) rows: the count and duration from
/// `variant_stats`, the bounds from the primary key's ends.
pub(super) fn segment_summary(conn: &Connection, stream_id: &str) -> rusqlite::Result<SegmentSummary> {
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

/// [`VariantStats`] of a stream's source (`profile` `""`) or of one rendition.
pub(super) fn variant_stats(conn: &Connection, stream_id: &str, profile: &str) -> rusqlite::Result<Option<VariantStats>> {
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
pub(super) fn rendition_variants(conn: &Connection, stream_id: &str) -> rusqlite::Result<Vec<(VariantStats, RenditionRow)>> {
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
pub(super) fn latest_rendition(conn: &Connection, stream_id: &str, profile: &str) -> rusqlite::Result<Option<RenditionRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RENDITION_COLUMNS} FROM renditions WHERE stream_id = ?1 AND profile = ?2 ORDER BY seq DESC LIMIT 1"
    ))?;
    stmt.query_row(params![stream_id, profile], rendition_from_row).optional()
}

/// Calls `f` with the stream's segments with `seq > after` (`None`: from the first), in
/// ascending `seq`, each with its rendition's presence when `profile` is given, until `f`
/// answers `false`: rows after that are not read.
pub(super) fn scan_segments(
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
pub(super) fn recent_durations(conn: &Connection, stream_id: &str, n: usize) -> rusqlite::Result<crate::sanity::History> {
    let mut stmt = conn.prepare_cached(
        "SELECT duration_secs, video_frames FROM segments WHERE stream_id = ?1 ORDER BY seq DESC LIMIT ?2",
    )?;
    let recent = stmt
        .query_map(rusqlite::params![stream_id, n as i64], |r| Ok((r.get::<_, f64>(0)?, r.get::<_, u32>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(crate::sanity::History { recent })
}

/// Deletes the row of a segment whose file is gone (start-up recovery).
pub(super) fn delete_segment(conn: &Connection, stream_id: &str, seq: u32) -> rusqlite::Result<()> {
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
pub(super) fn insert_rendition(conn: &Connection, stream_id: &str, s: &RenditionRow) -> rusqlite::Result<()> {
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
pub(super) fn renditions(conn: &Connection, stream_id: &str) -> rusqlite::Result<Vec<RenditionRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RENDITION_COLUMNS} FROM renditions WHERE stream_id = ?1 ORDER BY profile, seq"
    ))?;
    let rows = stmt.query_map([stream_id], rendition_from_row)?.collect();
    rows
}

/// The renditions of one source segment, in profile order.
pub(super) fn renditions_of(conn: &Connection, stream_id: &str, seq: u32) -> rusqlite::Result<Vec<RenditionRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RENDITION_COLUMNS} FROM renditions WHERE stream_id = ?1 AND seq = ?2 ORDER BY profile"
    ))?;
    let rows = stmt.query_map(params![stream_id, seq], rendition_from_row)?.collect();
    rows
}

/// One rendition, if stored.
pub(super) fn get_rendition(conn: &Connection, stream_id: &str, profile: &str, seq: u32) -> rusqlite::Result<Option<RenditionRow>> {
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
pub(super) fn delete_rendition(conn: &Connection, stream_id: &str, profile: &str, seq: u32) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM renditions WHERE stream_id = ?1 AND profile = ?2 AND seq = ?3",
        params![stream_id, profile, seq],
    )?;
    Ok(())
}

/// Records that the broadcaster gave up transcoding segment `seq` (idempotent).
pub(super) fn insert_gap(conn: &Connection, stream_id: &str, seq: u32, at_ms: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO rendition_gaps (stream_id, seq, reported_at_ms) VALUES (?1, ?2, ?3)",
        params![stream_id, seq, at_ms],
    )?;
    Ok(())
}

/// The segments the broadcaster gave up transcoding, ascending.
pub(super) fn gaps(conn: &Connection, stream_id: &str) -> rusqlite::Result<Vec<u32>> {
    let mut stmt = conn.prepare_cached("SELECT seq FROM rendition_gaps WHERE stream_id = ?1 ORDER BY seq")?;
    let rows = stmt
        .query_map([stream_id], |r| {
            row_read();
            r.get(0)
        })?
        .collect();
    rows
}
