//! The PostgreSQL side of the metadata store (`--database postgres://…`): the same tables as
//! [`super::sqlite`], its migrations (table `livecast_schema`, applied under an advisory lock
//! so that relays starting together do not race), its queries, the connection pool, and the
//! `LISTEN` connection that hears other relays' writes.
//!
//! Triggers keep `variant_stats` (as SQLite's do) and `NOTIFY` channel `livecast` of every
//! stored or removed segment, rendition, gap report and stream. A notification is delivered
//! when its transaction commits, to every listening relay, this one included: each drops
//! what it kept of that stream ([`super::Change`]). The payloads are
//! `segment <stream> <seq>`, `rendition <stream>` and `stream <stream>`.

use std::sync::{OnceLock, Weak};
use std::time::Duration;

use postgres::types::ToSql;
use postgres::{Client, NoTls, Row};
use r2d2_postgres::PostgresConnectionManager;

use super::{
    row_read, Change, ChangeHook, DbError, Generations, RenditionRow, SegmentRow, SegmentSummary, Slot, StreamRow,
    VariantStats,
};

/// The schema version, as SQLite's `user_version` (3: streams, segments, renditions, gap
/// reports, variant stats).
const SCHEMA_VERSION: i64 = 3;

/// The notification channel.
const CHANNEL: &str = "livecast";

/// An arbitrary key of the advisory lock that serialises migrations between relays.
const MIGRATION_LOCK: i64 = 0x6c69_7665_6361_7374; // "livecast"

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS livecast_schema (version BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS streams (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT,
    key_hash      BYTEA NOT NULL,
    created_at_ms BIGINT NOT NULL,
    ended_at_ms   BIGINT
);
CREATE TABLE IF NOT EXISTS segments (
    stream_id            TEXT NOT NULL REFERENCES streams(id),
    seq                  BIGINT NOT NULL,
    size                 BIGINT NOT NULL,
    sha256               BYTEA NOT NULL,
    duration_secs        DOUBLE PRECISION NOT NULL,
    first_pts            BIGINT NOT NULL,
    last_pts             BIGINT NOT NULL,
    video_frames         BIGINT NOT NULL,
    starts_with_keyframe BOOLEAN NOT NULL,
    received_at_ms       BIGINT NOT NULL,
    capture_start_ms     BIGINT,
    declared_duration_ms BIGINT,
    PRIMARY KEY (stream_id, seq)
);
CREATE TABLE IF NOT EXISTS renditions (
    stream_id      TEXT NOT NULL REFERENCES streams(id),
    profile        TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    size           BIGINT NOT NULL,
    sha256         BYTEA NOT NULL,
    duration_secs  DOUBLE PRECISION NOT NULL,
    first_pts      BIGINT NOT NULL,
    video_frames   BIGINT NOT NULL,
    width          BIGINT NOT NULL,
    height         BIGINT NOT NULL,
    codecs         TEXT NOT NULL,
    pixels         BIGINT NOT NULL,
    bitrate_bps    BIGINT NOT NULL,
    transcoder     TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    PRIMARY KEY (stream_id, profile, seq)
);
CREATE TABLE IF NOT EXISTS rendition_gaps (
    stream_id      TEXT NOT NULL REFERENCES streams(id),
    seq            BIGINT NOT NULL,
    reported_at_ms BIGINT NOT NULL,
    PRIMARY KEY (stream_id, seq)
);
CREATE TABLE IF NOT EXISTS variant_stats (
    stream_id       TEXT NOT NULL REFERENCES streams(id),
    profile         TEXT NOT NULL,
    rows            BIGINT NOT NULL,
    duration_secs   DOUBLE PRECISION NOT NULL,
    longest_secs    DOUBLE PRECISION NOT NULL,
    measured_bytes  BIGINT NOT NULL,
    measured_secs   DOUBLE PRECISION NOT NULL,
    measured_frames BIGINT NOT NULL,
    peak_bps        DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (stream_id, profile)
);

-- One row added to its variant's line (the source's profile is '').
CREATE OR REPLACE FUNCTION livecast_add_stats(sid TEXT, prof TEXT, bytes BIGINT, secs DOUBLE PRECISION, frames BIGINT)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO variant_stats VALUES (sid, prof, 1, secs, secs,
        CASE WHEN secs > 0 THEN bytes ELSE 0 END, CASE WHEN secs > 0 THEN secs ELSE 0 END,
        CASE WHEN secs > 0 THEN frames ELSE 0 END, CASE WHEN secs > 0 THEN bytes * 8.0 / secs ELSE 0 END)
    ON CONFLICT (stream_id, profile) DO UPDATE SET
        rows = variant_stats.rows + 1,
        duration_secs = variant_stats.duration_secs + excluded.duration_secs,
        longest_secs = GREATEST(variant_stats.longest_secs, excluded.longest_secs),
        measured_bytes = variant_stats.measured_bytes + excluded.measured_bytes,
        measured_secs = variant_stats.measured_secs + excluded.measured_secs,
        measured_frames = variant_stats.measured_frames + excluded.measured_frames,
        peak_bps = GREATEST(variant_stats.peak_bps, excluded.peak_bps);
$$;

-- A variant's line recomputed from its remaining rows (after a delete: a peak cannot be taken back).
CREATE OR REPLACE FUNCTION livecast_recount_stats(sid TEXT, prof TEXT) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM variant_stats WHERE stream_id = sid AND profile = prof;
    IF prof = '' THEN
        INSERT INTO variant_stats SELECT stream_id, '', COUNT(*), SUM(duration_secs), MAX(duration_secs),
            COALESCE(SUM(CASE WHEN duration_secs > 0 THEN size ELSE 0 END), 0),
            COALESCE(SUM(CASE WHEN duration_secs > 0 THEN duration_secs ELSE 0 END), 0),
            COALESCE(SUM(CASE WHEN duration_secs > 0 THEN video_frames ELSE 0 END), 0),
            MAX(CASE WHEN duration_secs > 0 THEN size * 8.0 / duration_secs ELSE 0 END)
            FROM segments WHERE stream_id = sid GROUP BY stream_id;
    ELSE
        INSERT INTO variant_stats SELECT stream_id, profile, COUNT(*), SUM(duration_secs), MAX(duration_secs),
            COALESCE(SUM(CASE WHEN duration_secs > 0 THEN size ELSE 0 END), 0),
            COALESCE(SUM(CASE WHEN duration_secs > 0 THEN duration_secs ELSE 0 END), 0),
            COALESCE(SUM(CASE WHEN duration_secs > 0 THEN video_frames ELSE 0 END), 0),
            MAX(CASE WHEN duration_secs > 0 THEN size * 8.0 / duration_secs ELSE 0 END)
            FROM renditions WHERE stream_id = sid AND profile = prof GROUP BY stream_id, profile;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION livecast_segments_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM livecast_add_stats(NEW.stream_id, '', NEW.size, NEW.duration_secs, NEW.video_frames);
        PERFORM pg_notify('livecast', 'segment ' || NEW.stream_id || ' ' || NEW.seq);
    ELSE
        PERFORM livecast_recount_stats(OLD.stream_id, '');
        PERFORM pg_notify('livecast', 'segment ' || OLD.stream_id || ' ' || OLD.seq);
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER segments_changed AFTER INSERT OR DELETE ON segments
    FOR EACH ROW EXECUTE FUNCTION livecast_segments_changed();

CREATE OR REPLACE FUNCTION livecast_renditions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM livecast_add_stats(NEW.stream_id, NEW.profile, NEW.size, NEW.duration_secs, NEW.video_frames);
        PERFORM pg_notify('livecast', 'rendition ' || NEW.stream_id);
    ELSE
        PERFORM livecast_recount_stats(OLD.stream_id, OLD.profile);
        PERFORM pg_notify('livecast', 'rendition ' || OLD.stream_id);
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER renditions_changed AFTER INSERT OR DELETE ON renditions
    FOR EACH ROW EXECUTE FUNCTION livecast_renditions_changed();

CREATE OR REPLACE FUNCTION livecast_gaps_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('livecast', 'rendition ' || NEW.stream_id);
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER gaps_changed AFTER INSERT ON rendition_gaps
    FOR EACH ROW EXECUTE FUNCTION livecast_gaps_changed();

CREATE OR REPLACE FUNCTION livecast_streams_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('livecast', 'stream ' || NEW.id);
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER streams_changed AFTER INSERT OR UPDATE ON streams
    FOR EACH ROW EXECUTE FUNCTION livecast_streams_changed();
";

/// Connections a relay keeps to PostgreSQL at most (writes and reads together).
const MAX_CONNECTIONS: u32 = 16;

/// How long a request waits for a connection before it is answered `503`: PostgreSQL down or
/// restarting is an error the broadcaster retries, never a request held for long.
const CONNECTION_WAIT: Duration = Duration::from_secs(3);

/// How long a relay starting while its database cannot be reached yet (starting up at the
/// same time, restarting, a network not up yet) keeps trying before it gives up: long
/// enough for a server that is starting, short enough that a wrong URL is reported soon.
const STARTUP_WAIT: Duration = Duration::from_secs(30);

/// The first connection: while the server cannot be reached (refused, starting up, shutting
/// down), tried again every half second for `wait`, logged once; any other error (a wrong
/// password, no such database) at once.
fn connect_at_start(config: &postgres::Config, url: &str, wait: Duration) -> Result<Client, DbError> {
    let deadline = std::time::Instant::now() + wait;
    let mut logged = false;
    loop {
        match config.connect(NoTls) {
            Ok(client) => {
                if logged {
                    tracing::info!(database = %redact(url), "the database answers");
                }
                return Ok(client);
            }
            Err(e) if is_unavailable(&e) && std::time::Instant::now() < deadline => {
                if !logged {
                    tracing::warn!(database = %redact(url), error = %e, wait_s = wait.as_secs(), "the database cannot be reached yet; trying again");
                    logged = true;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// A PostgreSQL database: a pool of connections, and what the listener needs.
pub(super) struct Handle {
    /// Always `Some` but in `drop`.
    pool: Option<r2d2::Pool<PostgresConnectionManager<NoTls>>>,
    config: postgres::Config,
}

impl Drop for Handle {
    /// Closing a client blocks on a runtime of its own, which cannot run on a thread that runs
    /// one: the pool's clients are closed on a thread of their own.
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            std::thread::scope(|s| {
                s.spawn(move || drop(pool));
            });
        }
    }
}

impl Handle {
    /// Connects, migrates and builds the pool.
    pub(super) fn connect(url: &str) -> Result<Handle, DbError> {
        let mut config: postgres::Config =
            url.parse().map_err(|e| DbError::Url(format!("{}: {e}", redact(url))))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECTION_WAIT);
        }
        if config.get_application_name().is_none() {
            config.application_name("livecast-relay");
        }
        let mut client = connect_at_start(&config, url, STARTUP_WAIT)?;
        migrate(&mut client)?;
        let pool = r2d2::Pool::builder()
            .max_size(MAX_CONNECTIONS)
            .min_idle(Some(1))
            // A connection that PostgreSQL closed (a restart) is found before it is used,
            // so the first request after a restart is not an error.
            .test_on_check_out(true)
            .connection_timeout(CONNECTION_WAIT)
            .error_handler(Box::new(LogPoolErrors))
            .build_unchecked(PostgresConnectionManager::new(config.clone(), NoTls));
        Ok(Handle { pool: Some(pool), config })
    }

    /// A pooled connection, or [`DbError::NoConnection`] after [`CONNECTION_WAIT`].
    pub(super) fn get(&self) -> Result<r2d2::PooledConnection<PostgresConnectionManager<NoTls>>, DbError> {
        let pool = self.pool.as_ref().expect("the pool is kept until drop");
        pool.get().map_err(|e| DbError::NoConnection(e.to_string()))
    }

    /// Starts the thread that `LISTEN`s: each notification moves its stream's generation on
    /// and is handed to the hook. It stops once the [`super::Db`] is gone. A lost
    /// connection is reopened (every stream's kept values are then dropped: notifications
    /// may have been missed).
    pub(super) fn listen(&self, generations: Weak<Generations>, hook: Weak<OnceLock<ChangeHook>>) -> Result<(), DbError> {
        // The first connection here, so that `connect` fails if LISTEN cannot work.
        let mut client = self.config.connect(NoTls)?;
        client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
        let config = self.config.clone();
        std::thread::Builder::new()
            .name("db-listen".into())
            .spawn(move || {
                let mut client = Some(client);
                loop {
                    let Some(mut c) = client.take() else {
                        std::thread::sleep(Duration::from_millis(500));
                        if generations.strong_count() == 0 {
                            return;
                        }
                        client = config.connect(NoTls).and_then(|mut c| c.batch_execute(&format!("LISTEN {CHANNEL}")).map(|()| c)).ok();
                        if client.is_some() {
                            tracing::info!("listening to the database's changes again");
                            deliver(&generations, &hook, &Change::Unknown);
                        }
                        continue;
                    };
                    match hear(&mut c, &generations, &hook) {
                        Ok(false) => return,
                        Ok(true) => client = Some(c),
                        Err(e) => tracing::warn!(error = %e, "lost the database connection that listens for changes"),
                    }
                }
            })
            .map_err(|e| DbError::NoConnection(format!("cannot start the listening thread: {e}")))?;
        Ok(())
    }
}

/// Delivers the notifications that arrive within a second; `Ok(false)` once the database
/// handle is gone.
fn hear(client: &mut Client, generations: &Weak<Generations>, hook: &Weak<OnceLock<ChangeHook>>) -> Result<bool, postgres::Error> {
    let mut notifications = client.notifications();
    let mut heard = notifications.timeout_iter(Duration::from_secs(1));
    while let Some(n) = postgres::fallible_iterator::FallibleIterator::next(&mut heard)? {
        if n.channel() == CHANNEL {
            if let Some(change) = parse_change(n.payload()) {
                if !deliver(generations, hook, &change) {
                    return Ok(false);
                }
            }
        }
    }
    Ok(generations.strong_count() > 0)
}

/// Moves the generations on and calls the hook; `false` once the database handle is gone.
fn deliver(generations: &Weak<Generations>, hook: &Weak<OnceLock<ChangeHook>>, change: &Change) -> bool {
    let Some(generations) = generations.upgrade() else { return false };
    match change {
        Change::Segment { stream_id, .. } | Change::Rendition { stream_id } | Change::Stream { stream_id } => {
            generations.bump(Some(stream_id))
        }
        Change::Unknown => generations.bump(None),
    }
    if let Some(f) = hook.upgrade().as_ref().and_then(|h| h.get()) {
        f(change);
    }
    true
}

/// A notification's payload as a [`Change`] (`None`: not one of ours).
pub(super) fn parse_change(payload: &str) -> Option<Change> {
    let mut words = payload.split(' ');
    let change = match (words.next()?, words.next()?, words.next()) {
        ("segment", id, Some(seq)) => Change::Segment { stream_id: id.to_owned(), seq: seq.parse().ok()? },
        ("rendition", id, None) => Change::Rendition { stream_id: id.to_owned() },
        ("stream", id, None) => Change::Stream { stream_id: id.to_owned() },
        _ => return None,
    };
    words.next().is_none().then_some(change)
}

/// Logs what the pool could not do (r2d2 logs through `log`, which the relay does not show).
#[derive(Debug)]
struct LogPoolErrors;

impl r2d2::HandleError<postgres::Error> for LogPoolErrors {
    fn handle_error(&self, error: postgres::Error) {
        tracing::warn!(%error, "cannot open a database connection");
    }
}

/// `url` with its password replaced by `***`, for logs and errors.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((userinfo, host)) = rest.split_once('@') else { return url.to_owned() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// What went wrong, for people: the server's message and SQLSTATE (`database "x" does not
/// exist (3D000)`), else the client's error with its cause (`error connecting to server:
/// Connection refused`).
pub(super) fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    match std::error::Error::source(e) {
        Some(cause) if !e.to_string().contains(&cause.to_string()) => format!("{e}: {cause}"),
        _ => e.to_string(),
    }
}

/// Whether `e` says the database could not be reached (rather than that a statement failed).
pub(super) fn is_unavailable(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        // Connection exceptions, and the server shutting down or starting up.
        Some(code) => code.code().starts_with("08") || code.code().starts_with("57P"),
        // No answer from the server at all: an I/O error on the connection.
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

fn migrate(client: &mut Client) -> Result<(), DbError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(SCHEMA)?;
    let version: Option<i64> = tx.query_opt("SELECT version FROM livecast_schema", &[])?.map(|r| r.get(0));
    match version {
        None => {
            tx.execute("INSERT INTO livecast_schema (version) VALUES ($1)", &[&SCHEMA_VERSION])?;
        }
        Some(v) if v > SCHEMA_VERSION => {
            return Err(DbError::Schema(format!("the database's schema is version {v}, newer than this relay's {SCHEMA_VERSION}")));
        }
        Some(_) => {
            tx.execute("UPDATE livecast_schema SET version = $1", &[&SCHEMA_VERSION])?;
        }
    }
    tx.commit()?;
    Ok(())
}

fn i64_of(v: u64) -> Result<i64, DbError> {
    i64::try_from(v).map_err(|_| DbError::NotStorable(v))
}

fn u64_at(r: &Row, i: usize) -> Result<u64, DbError> {
    let v: i64 = r.try_get(i)?;
    u64::try_from(v).map_err(|_| DbError::OutOfRange { column: i, value: v })
}

fn u32_at(r: &Row, i: usize) -> Result<u32, DbError> {
    let v: i64 = r.try_get(i)?;
    u32::try_from(v).map_err(|_| DbError::OutOfRange { column: i, value: v })
}

pub(super) fn insert_stream(c: &mut Client, s: &StreamRow) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO streams (id, name, key_hash, created_at_ms, ended_at_ms) VALUES ($1, $2, $3, $4, $5)",
        &[&s.id, &s.name, &s.key_hash, &s.created_at_ms, &s.ended_at_ms],
    )?;
    Ok(())
}

pub(super) fn get_stream(c: &mut Client, id: &str) -> Result<Option<StreamRow>, DbError> {
    let row = c.query_opt("SELECT id, name, key_hash, created_at_ms, ended_at_ms FROM streams WHERE id = $1", &[&id])?;
    row.map(|r| {
        row_read();
        Ok(StreamRow {
            id: r.try_get(0)?,
            name: r.try_get(1)?,
            key_hash: r.try_get(2)?,
            created_at_ms: r.try_get(3)?,
            ended_at_ms: r.try_get(4)?,
        })
    })
    .transpose()
}

pub(super) fn stream_ids(c: &mut Client) -> Result<Vec<String>, DbError> {
    c.query("SELECT id FROM streams", &[])?.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

pub(super) fn end_stream(c: &mut Client, id: &str, at_ms: i64) -> Result<bool, DbError> {
    let n = c.execute("UPDATE streams SET ended_at_ms = $2 WHERE id = $1 AND ended_at_ms IS NULL", &[&id, &at_ms])?;
    Ok(n == 1)
}

const SEGMENT_COLUMNS: &str = "seq, size, sha256, duration_secs, first_pts, last_pts, video_frames, \
     starts_with_keyframe, received_at_ms, capture_start_ms, declared_duration_ms";

fn segment_from_row(r: &Row) -> Result<SegmentRow, DbError> {
    row_read();
    Ok(SegmentRow {
        seq: u32_at(r, 0)?,
        size: u64_at(r, 1)?,
        sha256: r.try_get(2)?,
        duration_secs: r.try_get(3)?,
        first_pts: u64_at(r, 4)?,
        last_pts: u64_at(r, 5)?,
        video_frames: u32_at(r, 6)?,
        starts_with_keyframe: r.try_get(7)?,
        received_at_ms: r.try_get(8)?,
        capture_start_ms: r.try_get(9)?,
        declared_duration_ms: r.try_get(10)?,
    })
}

fn segments_of(c: &mut Client, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<SegmentRow>, DbError> {
    c.query(sql, params)?.iter().map(segment_from_row).collect()
}

pub(super) fn insert_segment(c: &mut Client, stream_id: &str, s: &SegmentRow) -> Result<(), DbError> {
    c.execute(
        &format!("INSERT INTO segments (stream_id, {SEGMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"),
        &[
            &stream_id,
            &i64::from(s.seq),
            &i64_of(s.size)?,
            &s.sha256,
            &s.duration_secs,
            &i64_of(s.first_pts)?,
            &i64_of(s.last_pts)?,
            &i64::from(s.video_frames),
            &s.starts_with_keyframe,
            &s.received_at_ms,
            &s.capture_start_ms,
            &s.declared_duration_ms,
        ],
    )?;
    Ok(())
}

pub(super) fn get_segment(c: &mut Client, stream_id: &str, seq: u32) -> Result<Option<SegmentRow>, DbError> {
    let sql = format!("SELECT {SEGMENT_COLUMNS} FROM segments WHERE stream_id = $1 AND seq = $2");
    c.query_opt(&sql, &[&stream_id, &i64::from(seq)])?.as_ref().map(segment_from_row).transpose()
}

pub(super) fn segments(c: &mut Client, stream_id: &str) -> Result<Vec<SegmentRow>, DbError> {
    segments_of(c, &format!("SELECT {SEGMENT_COLUMNS} FROM segments WHERE stream_id = $1 ORDER BY seq"), &[&stream_id])
}

pub(super) fn latest_segments(c: &mut Client, stream_id: &str, n: usize) -> Result<Vec<SegmentRow>, DbError> {
    let sql = format!("SELECT {SEGMENT_COLUMNS} FROM segments WHERE stream_id = $1 ORDER BY seq DESC LIMIT $2");
    let mut rows = segments_of(c, &sql, &[&stream_id, &(n as i64)])?;
    rows.reverse();
    Ok(rows)
}

pub(super) fn segments_between(c: &mut Client, stream_id: &str, after: Option<u32>, before: u32) -> Result<Vec<SegmentRow>, DbError> {
    let sql = format!("SELECT {SEGMENT_COLUMNS} FROM segments WHERE stream_id = $1 AND seq > $2 AND seq < $3 ORDER BY seq");
    segments_of(c, &sql, &[&stream_id, &after.map_or(-1, i64::from), &i64::from(before)])
}

pub(super) fn segment_summary(c: &mut Client, stream_id: &str) -> Result<SegmentSummary, DbError> {
    let stats = variant_stats(c, stream_id, "")?.unwrap_or_default();
    let row = c.query_one(
        "SELECT (SELECT seq FROM segments WHERE stream_id = $1 ORDER BY seq LIMIT 1), \
                (SELECT seq FROM segments WHERE stream_id = $1 ORDER BY seq DESC LIMIT 1)",
        &[&stream_id],
    )?;
    row_read();
    let seq = |i: usize| -> Result<Option<u32>, DbError> {
        let v: Option<i64> = row.try_get(i)?;
        v.map(|v| u32::try_from(v).map_err(|_| DbError::OutOfRange { column: i, value: v })).transpose()
    };
    Ok(SegmentSummary { count: stats.rows as usize, duration_secs: stats.duration_secs, first_seq: seq(0)?, last_seq: seq(1)? })
}

fn stats_from_row(r: &Row) -> Result<VariantStats, DbError> {
    row_read();
    Ok(VariantStats {
        rows: u64_at(r, 0)?,
        duration_secs: r.try_get(1)?,
        longest_secs: r.try_get(2)?,
        measured_bytes: u64_at(r, 3)?,
        measured_secs: r.try_get(4)?,
        measured_frames: u64_at(r, 5)?,
        peak_bps: r.try_get(6)?,
    })
}

pub(super) fn variant_stats(c: &mut Client, stream_id: &str, profile: &str) -> Result<Option<VariantStats>, DbError> {
    let row = c.query_opt(
        "SELECT rows, duration_secs, longest_secs, measured_bytes, measured_secs, measured_frames, peak_bps \
         FROM variant_stats WHERE stream_id = $1 AND profile = $2",
        &[&stream_id, &profile],
    )?;
    row.as_ref().map(stats_from_row).transpose()
}

pub(super) fn rendition_variants(c: &mut Client, stream_id: &str) -> Result<Vec<(VariantStats, RenditionRow)>, DbError> {
    let profiles: Vec<String> = c
        .query("SELECT profile FROM variant_stats WHERE stream_id = $1 AND profile <> '' ORDER BY profile", &[&stream_id])?
        .iter()
        .map(|r| {
            row_read();
            r.try_get(0)
        })
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(profiles.len());
    for profile in profiles {
        let (Some(stats), Some(last)) = (variant_stats(c, stream_id, &profile)?, latest_rendition(c, stream_id, &profile)?) else {
            continue;
        };
        out.push((stats, last));
    }
    Ok(out)
}

const RENDITION_COLUMNS: &str = "profile, seq, size, sha256, duration_secs, first_pts, video_frames, width, \
     height, codecs, pixels, bitrate_bps, transcoder, received_at_ms";

fn rendition_from_row(r: &Row) -> Result<RenditionRow, DbError> {
    row_read();
    Ok(RenditionRow {
        profile: r.try_get(0)?,
        seq: u32_at(r, 1)?,
        size: u64_at(r, 2)?,
        sha256: r.try_get(3)?,
        duration_secs: r.try_get(4)?,
        first_pts: u64_at(r, 5)?,
        video_frames: u32_at(r, 6)?,
        width: u32_at(r, 7)?,
        height: u32_at(r, 8)?,
        codecs: r.try_get(9)?,
        pixels: u64_at(r, 10)?,
        bitrate_bps: u64_at(r, 11)?,
        transcoder: r.try_get(12)?,
        received_at_ms: r.try_get(13)?,
    })
}

fn renditions_where(c: &mut Client, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<RenditionRow>, DbError> {
    c.query(sql, params)?.iter().map(rendition_from_row).collect()
}

pub(super) fn latest_rendition(c: &mut Client, stream_id: &str, profile: &str) -> Result<Option<RenditionRow>, DbError> {
    let sql = format!("SELECT {RENDITION_COLUMNS} FROM renditions WHERE stream_id = $1 AND profile = $2 ORDER BY seq DESC LIMIT 1");
    Ok(renditions_where(c, &sql, &[&stream_id, &profile])?.pop())
}

pub(super) fn scan_segments(
    c: &mut Client,
    stream_id: &str,
    profile: Option<&str>,
    after: Option<u32>,
    mut f: impl FnMut(Slot) -> bool,
) -> Result<(), DbError> {
    let after = after.map_or(-1, i64::from);
    let rows = match profile {
        None => c.query(
            &format!("SELECT {SEGMENT_COLUMNS}, TRUE, FALSE FROM segments WHERE stream_id = $1 AND seq > $2 ORDER BY seq"),
            &[&stream_id, &after],
        )?,
        Some(profile) => c.query(
            &format!(
                "SELECT {SEGMENT_COLUMNS}, \
                 EXISTS (SELECT 1 FROM renditions r WHERE r.stream_id = s.stream_id AND r.profile = $3 AND r.seq = s.seq), \
                 EXISTS (SELECT 1 FROM rendition_gaps g WHERE g.stream_id = s.stream_id AND g.seq = s.seq) \
                 FROM segments s WHERE s.stream_id = $1 AND s.seq > $2 ORDER BY s.seq"
            ),
            &[&stream_id, &after, &profile],
        )?,
    };
    for r in &rows {
        let slot = Slot { segment: segment_from_row(r)?, present: r.try_get(11)?, reported_gap: r.try_get(12)? };
        if !f(slot) {
            break;
        }
    }
    Ok(())
}

pub(super) fn recent_durations(c: &mut Client, stream_id: &str, n: usize) -> Result<crate::sanity::History, DbError> {
    let rows = c.query(
        "SELECT duration_secs, video_frames FROM segments WHERE stream_id = $1 ORDER BY seq DESC LIMIT $2",
        &[&stream_id, &(n as i64)],
    )?;
    let recent = rows.iter().map(|r| Ok((r.try_get::<_, f64>(0)?, u32_at(r, 1)?))).collect::<Result<_, DbError>>()?;
    Ok(crate::sanity::History { recent })
}

pub(super) fn delete_segment(c: &mut Client, stream_id: &str, seq: u32) -> Result<(), DbError> {
    c.execute("DELETE FROM segments WHERE stream_id = $1 AND seq = $2", &[&stream_id, &i64::from(seq)])?;
    Ok(())
}

pub(super) fn insert_rendition(c: &mut Client, stream_id: &str, s: &RenditionRow) -> Result<(), DbError> {
    c.execute(
        &format!(
            "INSERT INTO renditions (stream_id, {RENDITION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ),
        &[
            &stream_id,
            &s.profile,
            &i64::from(s.seq),
            &i64_of(s.size)?,
            &s.sha256,
            &s.duration_secs,
            &i64_of(s.first_pts)?,
            &i64::from(s.video_frames),
            &i64::from(s.width),
            &i64::from(s.height),
            &s.codecs,
            &i64_of(s.pixels)?,
            &i64_of(s.bitrate_bps)?,
            &s.transcoder,
            &s.received_at_ms,
        ],
    )?;
    Ok(())
}

pub(super) fn renditions(c: &mut Client, stream_id: &str) -> Result<Vec<RenditionRow>, DbError> {
    let sql = format!("SELECT {RENDITION_COLUMNS} FROM renditions WHERE stream_id = $1 ORDER BY profile, seq");
    renditions_where(c, &sql, &[&stream_id])
}

pub(super) fn renditions_of(c: &mut Client, stream_id: &str, seq: u32) -> Result<Vec<RenditionRow>, DbError> {
    let sql = format!("SELECT {RENDITION_COLUMNS} FROM renditions WHERE stream_id = $1 AND seq = $2 ORDER BY profile");
    renditions_where(c, &sql, &[&stream_id, &i64::from(seq)])
}

pub(super) fn get_rendition(c: &mut Client, stream_id: &str, profile: &str, seq: u32) -> Result<Option<RenditionRow>, DbError> {
    let sql = format!("SELECT {RENDITION_COLUMNS} FROM renditions WHERE stream_id = $1 AND profile = $2 AND seq = $3");
    Ok(renditions_where(c, &sql, &[&stream_id, &profile, &i64::from(seq)])?.pop())
}

pub(super) fn delete_rendition(c: &mut Client, stream_id: &str, profile: &str, seq: u32) -> Result<(), DbError> {
    c.execute(
        "DELETE FROM renditions WHERE stream_id = $1 AND profile = $2 AND seq = $3",
        &[&stream_id, &profile, &i64::from(seq)],
    )?;
    Ok(())
}

pub(super) fn insert_gap(c: &mut Client, stream_id: &str, seq: u32, at_ms: i64) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO rendition_gaps (stream_id, seq, reported_at_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        &[&stream_id, &i64::from(seq), &at_ms],
    )?;
    Ok(())
}

pub(super) fn gaps(c: &mut Client, stream_id: &str) -> Result<Vec<u32>, DbError> {
    let rows = c.query("SELECT seq FROM rendition_gaps WHERE stream_id = $1 ORDER BY seq", &[&stream_id])?;
    rows.iter()
        .map(|r| {
            row_read();
            u32_at(r, 0)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_parse() {
        assert_eq!(parse_change("segment abc 7"), Some(Change::Segment { stream_id: "abc".into(), seq: 7 }));
        assert_eq!(parse_change("rendition abc"), Some(Change::Rendition { stream_id: "abc".into() }));
        assert_eq!(parse_change("stream abc"), Some(Change::Stream { stream_id: "abc".into() }));
        for bad in ["", "segment", "segment abc", "segment abc x", "segment abc 1 2", "rendition abc 1", "other abc"] {
            assert_eq!(parse_change(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(redact("postgres://relay:s3cret@db:5432/live"), "postgres://relay:***@db:5432/live");
        assert_eq!(redact("postgres://relay@db/live"), "postgres://relay@db/live");
        assert_eq!(redact("host=/tmp user=relay"), "host=/tmp user=relay");
    }
}
