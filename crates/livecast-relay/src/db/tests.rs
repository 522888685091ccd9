//! The metadata store's tests, each run against SQLite and a real PostgreSQL server
//! ([`crate::test_postgres`]) unless it tests what only one of them has.

use super::*;
use crate::test_postgres;

/// A database of each kind: SQLite (in memory when `file` is `None`, else `relay.db` in that
/// directory) and a fresh PostgreSQL database.
fn both(file: Option<&Path>) -> [Db; 2] {
    let sqlite = match file {
        None => Db::open_in_memory().unwrap(),
        Some(dir) => Db::open(&dir.join("relay.db")).unwrap(),
    };
    [sqlite, Db::connect(&test_postgres::server().database()).unwrap()]
}

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
    for db in both(None) {
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
        assert!(insert_segment(c, "abc", &segment(1)).unwrap_err().is_duplicate_key(), "{}", c.backend());
        assert!(!insert_segment(c, "zzz", &segment(1)).unwrap_err().is_duplicate_key());
    });
    }
}

#[test]
fn renditions_and_gaps() {
    for db in both(None) {
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
}

/// `variant_stats` as the aggregates over every row would give it.
fn stats_by_scan(c: &mut Conn<'_>, id: &str, profile: &str) -> VariantStats {
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

/// Fills a stream `abc` with 20 segments and renditions of varied sizes and durations.
fn fill_for_stats(c: &mut Conn<'_>) {
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
}

fn check_stats(c: &mut Conn<'_>) {
    for profile in ["", "P240p30fps16x9"] {
        let expected = stats_by_scan(c, "abc", profile);
        assert_eq!(variant_stats(c, "abc", profile).unwrap().unwrap(), expected, "{profile:?} in {}", c.backend());
    }
}

#[test]
fn variant_stats_follow_inserts_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    for db in both(Some(dir.path())) {
        db.with_blocking(|c| {
            fill_for_stats(c);
            check_stats(c);
            // Deleting the peak row takes its peak back.
            let peak = segments(c, "abc").unwrap().into_iter().filter(|s| s.duration_secs > 0.0)
                .max_by(|a, b| (a.size as f64 / a.duration_secs).total_cmp(&(b.size as f64 / b.duration_secs))).unwrap();
            delete_segment(c, "abc", peak.seq).unwrap();
            delete_rendition(c, "abc", "P240p30fps16x9", 19).unwrap();
            check_stats(c);
            assert_eq!(segment_summary(c, "abc").unwrap().count, 19);
        });
    }
}

#[test]
fn sqlite_variant_stats_are_filled_on_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.db");
    let db = Db::open(&path).unwrap();
    db.with_blocking(|c| {
        fill_for_stats(c);
        // A version-2 database (no stats) is filled on upgrade.
        c.as_sqlite().unwrap().execute_batch("DROP TABLE variant_stats; PRAGMA user_version = 2;").unwrap();
    });
    drop(db);
    let db = Db::open(&path).unwrap();
    db.with_blocking(|c| {
        check_stats(c);
        let v: i64 = c.as_sqlite().unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, sqlite::SCHEMA_VERSION);
    });
}

#[test]
fn postgres_migrations_run_once_per_database_and_twice_is_harmless() {
    let url = test_postgres::server().database();
    // Two relays starting at once on an empty database: both migrate, neither fails.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Db::connect(&url));
        let b = s.spawn(|| Db::connect(&url));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (a, b) = (a.unwrap(), b.unwrap());
    a.with_blocking(fill_for_stats);
    b.with_blocking(check_stats);
    drop((a, b));
    let again = Db::connect(&url).unwrap();
    again.with_blocking(check_stats);
}

/// The error of the async calls in these tests.
#[derive(Debug)]
enum TestError {
    Db(#[allow(dead_code)] DbError),
    Join(#[allow(dead_code)] tokio::task::JoinError),
}
impl From<DbError> for TestError {
    fn from(e: DbError) -> Self {
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
    f: impl FnOnce(&mut Conn<'_>) -> Result<R, DbError> + Send + 'static,
) -> Result<R, TestError> {
    let f = move |c: &mut Conn<'_>| f(c).map_err(TestError::from);
    match stream {
        None => db.call(f).await,
        Some(id) => db.call_on(id, f).await,
    }
}

/// [`Db::read`] of a plain database function.
async fn read<R: Send + 'static>(
    db: &Db,
    f: impl FnOnce(&mut Conn<'_>) -> Result<R, DbError> + Send + 'static,
) -> Result<R, TestError> {
    db.read(move |c| f(c).map_err(TestError::from)).await
}

fn stream(id: &str) -> StreamRow {
    StreamRow { id: id.into(), name: None, key_hash: vec![1; 32], created_at_ms: 5, ended_at_ms: None }
}

#[tokio::test]
async fn readers_see_what_the_writer_committed_at_once_and_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    for db in both(Some(dir.path())) {
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
}

#[tokio::test]
async fn many_reads_at_once_while_the_writer_writes() {
    let dir = tempfile::tempdir().unwrap();
    for db in both(Some(dir.path())) {
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
    let [file, postgres] = both(Some(dir.path()));
    for db in [file, Db::open_in_memory().unwrap(), postgres] {
        db.count_vm_steps();
        write(&db, None, |c| insert_stream(c, &stream("a"))).await.unwrap();
        for seq in 0..5 {
            write(&db, Some("a"), move |c| insert_segment(c, "a", &segment(seq))).await.unwrap();
        }
        let (rows, steps) = (db.rows_read(), db.vm_steps());
        let n = read(&db, |c| Ok(segments(c, "a")?.len())).await.unwrap();
        assert_eq!(n, 5);
        assert_eq!(db.rows_read() - rows, 5, "readers: {}", db.has_readers());
        if db.backend() == "sqlite" {
            assert!(db.vm_steps() - steps >= 5, "readers: {}", db.has_readers());
        }
    }
}

#[test]
fn file_database_is_wal() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("relay.db")).unwrap();
    let mode: String = db.with_blocking(|c| c.as_sqlite().unwrap().query_row("PRAGMA journal_mode", [], |r| r.get(0))).unwrap();
    assert_eq!(mode, "wal");
}

/// Waits up to `secs` for `cond`.
async fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    cond()
}

#[tokio::test]
async fn postgres_a_write_through_one_relay_is_heard_by_another() {
    let url = test_postgres::server().database();
    let (a, b) = (Db::connect(&url).unwrap(), Db::connect(&url).unwrap());
    let heard = Arc::new(Mutex::new(Vec::new()));
    let h = Arc::clone(&heard);
    b.on_change(move |c| h.lock().unwrap().push(c.clone()));
    write(&a, None, |c| insert_stream(c, &stream("s"))).await.unwrap();
    let before = b.generation("s");
    write(&a, Some("s"), |c| insert_segment(c, "s", &segment(4))).await.unwrap();
    // Heard through NOTIFY, well within a segment's duration, and B reads the row at once.
    assert!(eventually(5, || b.generation("s") != before).await, "B's generation did not move");
    assert!(eventually(5, || heard.lock().unwrap().contains(&Change::Segment { stream_id: "s".into(), seq: 4 })).await);
    assert_eq!(read(&b, |c| get_segment(c, "s", 4)).await.unwrap(), Some(segment(4)));
    write(&a, Some("s"), |c| insert_rendition(c, "s", &RenditionRow::for_test("P240p30fps16x9", 4, 100))).await.unwrap();
    write(&a, None, |c| end_stream(c, "s", 9)).await.unwrap();
    assert!(eventually(5, || {
        let heard = heard.lock().unwrap();
        // The stream's creation and its end.
        let streams = heard.iter().filter(|c| **c == Change::Stream { stream_id: "s".into() }).count();
        heard.contains(&Change::Rendition { stream_id: "s".into() }) && streams == 2
    })
    .await);
    // A failed write (rolled back) notifies nothing.
    let n = heard.lock().unwrap().len();
    assert!(write(&a, Some("s"), |c| insert_segment(c, "s", &segment(4))).await.is_err());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let after = heard.lock().unwrap().clone();
    assert_eq!(after.len(), n, "{after:?}");
}

#[tokio::test]
async fn postgres_down_is_unavailable_never_a_false_success_and_then_back() {
    // A server of its own: this test stops it.
    let server = tokio::task::spawn_blocking(test_postgres::Postgres::start).await.unwrap();
    let url = server.database();
    let db = Db::connect(&url).unwrap();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let h = Arc::clone(&heard);
    db.on_change(move |c| h.lock().unwrap().push(c.clone()));
    write(&db, None, |c| insert_stream(c, &stream("s"))).await.unwrap();
    write(&db, Some("s"), |c| insert_segment(c, "s", &segment(0))).await.unwrap();
    let server = Arc::new(server);
    let s = Arc::clone(&server);
    tokio::task::spawn_blocking(move || s.stop()).await.unwrap();

    let started = std::time::Instant::now();
    let err = write(&db, Some("s"), |c| insert_segment(c, "s", &segment(1))).await.unwrap_err();
    let TestError::Db(e) = err else { panic!("{err:?}") };
    assert!(e.is_unavailable(), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(15), "took {:?}", started.elapsed());
    let TestError::Db(e) = read(&db, |c| get_segment(c, "s", 0)).await.unwrap_err() else { panic!() };
    assert!(e.is_unavailable(), "{e}");

    let s = Arc::clone(&server);
    tokio::task::spawn_blocking(move || s.run()).await.unwrap();
    // The pool reconnects: the next writes and reads work, the segment that failed was not
    // stored, and the listener says it may have missed changes.
    let mut wrote = false;
    for _ in 0..100 {
        if write(&db, Some("s"), |c| insert_segment(c, "s", &segment(1))).await.is_ok() {
            wrote = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(wrote, "no write succeeded after the restart");
    let seqs: Vec<u32> = read(&db, |c| segments(c, "s")).await.unwrap().iter().map(|s| s.seq).collect();
    assert_eq!(seqs, [0, 1]);
    assert!(eventually(10, || heard.lock().unwrap().contains(&Change::Unknown)).await, "no Unknown after reconnecting");
}

#[tokio::test]
async fn a_relay_starting_before_its_database_waits_for_it_and_a_wrong_name_fails_at_once() {
    // A server of its own: this test stops it before the relay connects.
    let server = Arc::new(tokio::task::spawn_blocking(test_postgres::Postgres::start).await.unwrap());
    let url = server.database();
    let missing = format!("{}_missing", url);
    let s = Arc::clone(&server);
    tokio::task::spawn_blocking(move || s.stop()).await.unwrap();

    let started = std::time::Instant::now();
    let connecting = tokio::task::spawn_blocking(move || Db::connect(&url).map(|_| ()));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(!connecting.is_finished(), "gave up while the server was down");
    let s = Arc::clone(&server);
    tokio::task::spawn_blocking(move || s.run()).await.unwrap();
    connecting.await.unwrap().expect("connected once the server answered");
    assert!(started.elapsed() >= std::time::Duration::from_millis(1500));

    // A database that does not exist is not a server starting up: reported at once.
    let started = std::time::Instant::now();
    let err = tokio::task::spawn_blocking(move || Db::connect(&missing).map(|_| ())).await.unwrap().unwrap_err();
    assert!(!err.is_unavailable(), "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());
}
