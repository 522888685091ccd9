//! Live media playlists in O(window) per request, not O(stream), for a stream's source and
//! for each of its renditions; and an ended stream's finished playlists, built once.
//!
//! A live playlist shows the last `window` segments, but its header depends on the whole
//! stream: the media sequence number of the window's first segment (the stream's lowest
//! `seq` plus the rows before it) and the discontinuities that slid out
//! (`EXT-X-DISCONTINUITY-SEQUENCE`). [`Prefixes`] keeps those per stream and variant for the
//! rows before the window and extends them by the rows read since the last request; the
//! longest segment (`TARGETDURATION`) comes from the `variant_stats` row kept at insert time.
//! A request reads the window's rows, those that arrived since, and (for a rendition) the one
//! pending slot that ends it.
//!
//! A rendition's playlist is the source's up to the first pending slot (see
//! [`crate::playlist`]): every slot before it is settled (present, reported as a gap, or
//! overdue) and stays settled, since rows, gap reports and time only grow. So its rows before
//! the window can be summed once, like the source's. A segment stored below a cached prefix (a
//! hole filled late) drops the stream's prefixes, rebuilt once on the next request. The
//! results equal [`playlist::media_playlist`] and [`playlist::rendition_playlist`] over every
//! row (tested below).
//!
//! Once a stream has ended its playlists are VOD: every segment, O(stream) in output size.
//! They no longer change (no segment is accepted after the end; a rendition that a node
//! finishes late, or a late-filled hole, drops them), so each is built once and kept as text:
//! later requests read no segment row. Streaming the rows from SQLite instead would read
//! every row on every request and hold a database connection while a slow client reads.
//! The kept text is bounded ([`FINISHED_BUDGET_BYTES`]).
//!
//! Requests read rows on read-only connections beside the writer ([`crate::db::Db::read`]),
//! so a segment can be stored while a request is between two of its reads: what a request
//! computes is kept only when nothing was stored since [`Prefixes::begin`], taken before it
//! read anything.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use m3u8_rs::MediaPlaylist;
use crate::db::{Conn, DbError};

use crate::db::{self, SegmentRow};
use crate::playlist;

/// Most bytes of finished playlists kept (all streams); beyond, the oldest are dropped.
pub const FINISHED_BUDGET_BYTES: usize = 64 << 20;

/// What the rows before a window add up to.
#[derive(Debug, Clone, PartialEq)]
struct Prefix {
    /// Rows counted.
    rows: u64,
    /// Of those, how many (after the first) start a discontinuity.
    discontinuities: u64,
    /// The stream's lowest `seq`.
    first_seq: u32,
    /// The last row counted.
    last: SegmentRow,
}

impl Prefix {
    fn push(prefix: Option<Prefix>, row: SegmentRow) -> Prefix {
        match prefix {
            None => Prefix { rows: 1, discontinuities: 0, first_seq: row.seq, last: row },
            Some(mut p) => {
                p.rows += 1;
                if playlist::is_discontinuity(&p.last, &row) {
                    p.discontinuities += 1;
                }
                p.last = row;
                p
            }
        }
    }
}

/// A window's rows, each with whether it is an `EXT-X-GAP`.
type Tail = VecDeque<(SegmentRow, bool)>;

/// What is kept of one stream.
#[derive(Debug, Default)]
struct Entry {
    /// Bumped by every invalidation of `prefixes`, so a prefix computed across one is not kept.
    prefix_generation: u64,
    /// By variant (`""`: the source, else the profile).
    prefixes: HashMap<String, Prefix>,
    /// Bumped by every store, so a finished playlist built across one is not kept.
    finished_generation: u64,
    /// Finished playlists' text, by variant.
    finished: HashMap<String, Arc<[u8]>>,
}

/// What [`Prefixes::begin`] saw of one variant before a request read its rows.
#[derive(Debug, Default, Clone)]
pub struct Before {
    prefix_generation: u64,
    prefix: Option<Prefix>,
    finished_generation: u64,
    finished: Option<Arc<[u8]>>,
}

/// Per-stream prefixes of the rows before the live windows, and finished playlists.
#[derive(Debug, Default)]
pub struct Prefixes {
    inner: Mutex<HashMap<String, Entry>>,
    /// Finished playlists in the order kept, with their size, for the budget.
    finished_order: Mutex<VecDeque<(String, String, usize)>>,
}

impl Prefixes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Call after storing segment `seq`: a prefix that already counted past it is stale, and
    /// so is a finished playlist. Either way a prefix being computed now (from a read that may
    /// have begun before the row was committed) is not kept.
    pub fn stored(&self, stream_id: &str, seq: u32) {
        // The entry is made if missing: a request that began before may be about to keep
        // the first prefix, and must see the generation move.
        let mut map = self.lock();
        let entry = map.entry(stream_id.to_owned()).or_default();
        entry.prefix_generation += 1;
        if entry.prefixes.values().any(|p| p.last.seq >= seq) {
            entry.prefixes.clear();
        }
        entry.finished_generation += 1;
        entry.finished.clear();
    }

    /// Drops everything kept, of every stream (changes may have been missed).
    pub fn clear(&self) {
        let mut map = self.lock();
        for entry in map.values_mut() {
            entry.prefix_generation += 1;
            entry.prefixes.clear();
            entry.finished_generation += 1;
            entry.finished.clear();
        }
    }

    /// Call after storing renditions: finished rendition playlists may have had a gap there.
    /// (Live prefixes stay: a slot once settled stays settled.)
    pub fn rendition_stored(&self, stream_id: &str) {
        let mut map = self.lock();
        let entry = map.entry(stream_id.to_owned()).or_default();
        entry.finished_generation += 1;
        entry.finished.clear();
    }

    /// What is kept for one variant (`profile` `None`: the source) of a stream, taken before
    /// the request reads any row: a result computed from rows read afterwards is kept only if
    /// nothing was stored in between (readers run beside the writer, so a store can land
    /// between two of a request's reads; see [`crate::db::Db::read`]).
    pub fn begin(&self, stream_id: &str, profile: Option<&str>) -> Before {
        let key = profile.unwrap_or("");
        let map = self.lock();
        match map.get(stream_id) {
            None => Before::default(),
            Some(e) => Before {
                prefix_generation: e.prefix_generation,
                prefix: e.prefixes.get(key).cloned(),
                finished_generation: e.finished_generation,
                finished: e.finished.get(key).cloned(),
            },
        }
    }

    /// The live playlist of a stream's last `window` segments (blocking: runs on a database
    /// thread), with what [`Prefixes::begin`] saw before the rows were read.
    pub fn live_playlist(
        &self,
        conn: &mut Conn<'_>,
        stream_id: &str,
        window: usize,
        before: Before,
    ) -> Result<MediaPlaylist, DbError> {
        self.live(conn, stream_id, None, window, 0, before)
    }

    /// The live playlist of one rendition, `None` when it has no segment (blocking).
    pub fn live_rendition_playlist(
        &self,
        conn: &mut Conn<'_>,
        stream_id: &str,
        profile: &str,
        window: usize,
        now_ms: i64,
        before: Before,
    ) -> Result<Option<MediaPlaylist>, DbError> {
        if db::latest_rendition(conn, stream_id, profile)?.is_none() {
            return Ok(None);
        }
        self.live(conn, stream_id, Some(profile), window, now_ms, before).map(Some)
    }

    fn live(
        &self,
        conn: &mut Conn<'_>,
        stream_id: &str,
        profile: Option<&str>,
        window: usize,
        now_ms: i64,
        before: Before,
    ) -> Result<MediaPlaylist, DbError> {
        let window = window.max(1);
        let key = profile.unwrap_or("");
        let longest = db::variant_stats(conn, stream_id, "")?.map_or(0.0, |s| s.longest_secs);
        let last_rendition = match profile {
            Some(p) => db::latest_rendition(conn, stream_id, p)?.map(|r| r.seq),
            None => None,
        };
        let (generation, cached) = (before.prefix_generation, before.prefix);
        let from_cache = cached.is_some();
        let (mut prefix, mut tail) = self.scan(conn, stream_id, profile, window, now_ms, last_rendition, cached)?;
        if from_cache && tail.len() < window {
            // The cached prefix counted rows that are now in the window (a wider window than
            // when it was made): sum from the first row again.
            (prefix, tail) = self.scan(conn, stream_id, profile, window, now_ms, last_rendition, None)?;
        }
        {
            let mut map = self.lock();
            let entry = map.entry(stream_id.to_owned()).or_default();
            if entry.prefix_generation == generation {
                if let Some(p) = &prefix {
                    entry.prefixes.insert(key.to_owned(), p.clone());
                }
            }
        }
        let target = playlist::target_for_longest(longest);
        let Some(prefix) = prefix else {
            let (rows, gaps): (Vec<_>, Vec<_>) = tail.into_iter().unzip();
            return Ok(playlist::build(&rows, &gaps, target, false, window));
        };
        // The row before the window decides the first window row's discontinuity.
        let mut rows = Vec::with_capacity(tail.len() + 1);
        let mut gaps = Vec::with_capacity(tail.len() + 1);
        rows.push(prefix.last.clone());
        gaps.push(false);
        for (row, gap) in tail {
            rows.push(row);
            gaps.push(gap);
        }
        let mut list = playlist::build(&rows, &gaps, target, false, window);
        list.media_sequence = u64::from(prefix.first_seq) + prefix.rows;
        list.discontinuity_sequence = prefix.discontinuities;
        Ok(list)
    }

    /// Reads the rows after `prefix` up to the first pending slot: the last `window` of them
    /// (with their gap flags), the others summed into the prefix returned.
    #[allow(clippy::too_many_arguments)]
    fn scan(
        &self,
        conn: &mut Conn<'_>,
        stream_id: &str,
        profile: Option<&str>,
        window: usize,
        now_ms: i64,
        last_rendition: Option<u32>,
        mut prefix: Option<Prefix>,
    ) -> Result<(Option<Prefix>, Tail), DbError> {
        let mut tail = Tail::with_capacity(window + 1);
        db::scan_segments(conn, stream_id, profile, prefix.as_ref().map(|p| p.last.seq), |slot| {
            let s = slot.segment;
            let gap = if slot.present {
                false
            } else {
                let overdue = last_rendition.is_some_and(|last| last > s.seq)
                    && now_ms - s.received_at_ms > playlist::gap_grace_ms(s.duration_secs);
                if !(slot.reported_gap || overdue) {
                    return false; // pending: the playlist stops here
                }
                true
            };
            tail.push_back((s, gap));
            if tail.len() > window {
                let (row, _) = tail.pop_front().expect("not empty");
                prefix = Some(Prefix::push(prefix.take(), row));
            }
            true
        })?;
        Ok((prefix, tail))
    }

    /// The finished (VOD) playlist text of an ended stream's source (`profile` `None`) or
    /// rendition, built by `build` once and then kept (blocking); `before` is what
    /// [`Prefixes::begin`] saw for the same variant. `build` answering `None`
    /// (no such rendition) is not kept.
    pub fn finished(
        &self,
        stream_id: &str,
        profile: Option<&str>,
        before: Before,
        build: impl FnOnce() -> Result<Option<Vec<u8>>, DbError>,
    ) -> Result<Option<Arc<[u8]>>, DbError> {
        let key = profile.unwrap_or("");
        if let Some(text) = before.finished {
            return Ok(Some(text));
        }
        let generation = before.finished_generation;
        let Some(text) = build()? else { return Ok(None) };
        let text: Arc<[u8]> = text.into();
        if text.len() <= FINISHED_BUDGET_BYTES {
            let mut map = self.lock();
            let entry = map.entry(stream_id.to_owned()).or_default();
            if entry.finished_generation == generation {
                entry.finished.insert(key.to_owned(), Arc::clone(&text));
                let mut order = self.finished_order.lock().unwrap_or_else(|p| p.into_inner());
                order.push_back((stream_id.to_owned(), key.to_owned(), text.len()));
                // Drop the oldest until within budget (entries already dropped count too
                // until they reach the front; the budget is approximate, never exceeded).
                let mut total: usize = order.iter().map(|(_, _, n)| n).sum();
                while total > FINISHED_BUDGET_BYTES {
                    let Some((old_stream, old_key, n)) = order.pop_front() else { break };
                    total -= n;
                    if let Some(e) = map.get_mut(&old_stream) {
                        e.finished.remove(&old_key);
                    }
                }
            }
        }
        Ok(Some(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Db, StreamRow};

    /// The playlist tests' row, its timestamps moved by `pts_jump`.
    fn seg(seq: u32, duration_secs: f64, pts_jump: u64) -> SegmentRow {
        let row = crate::playlist::tests::seg(seq, duration_secs);
        SegmentRow { first_pts: row.first_pts + pts_jump, ..row }
    }

    #[test]
    fn equals_the_playlist_over_every_row_as_segments_arrive_late_and_out_of_order() {
        let db = Db::open_in_memory().unwrap();
        let prefixes = Prefixes::default();
        db.with_blocking(|c| {
            let row = StreamRow { id: "s".into(), name: None, key_hash: vec![0; 32], created_at_ms: 0, ended_at_ms: None };
            db::insert_stream(c, &row).unwrap();
            // Mostly in order; a hole at 7 filled after 20, 12 never sent, a timeline jump at
            // 15, one long segment at 9.
            let mut order: Vec<u32> = (0..30).filter(|s| *s != 7 && *s != 12).collect();
            order.insert(20, 7);
            for (i, seq) in order.into_iter().enumerate() {
                let jump = if seq >= 15 { 900_000 } else { 0 };
                let duration = if seq == 9 { 5.2 } else { 2.0 };
                db::insert_segment(c, "s", &seg(seq, duration, jump)).unwrap();
                prefixes.stored("s", seq);
                for window in [1, 3, 6] {
                    let all = db::segments(c, "s").unwrap();
                    let expected = playlist::media_playlist(&all, false, window);
                    let got = prefixes.live_playlist(c, "s", window, prefixes.begin("s", None)).unwrap();
                    assert_eq!(got, expected, "after {i} inserts (seq {seq}), window {window}");
                }
            }
        });
    }

    fn rendition(seq: u32, profile: &str) -> db::RenditionRow {
        db::RenditionRow::for_test(profile, seq, 188 + u64::from(seq))
    }

    #[test]
    fn rendition_playlists_equal_the_playlist_over_every_row() {
        let db = Db::open_in_memory().unwrap();
        let prefixes = Prefixes::default();
        db.with_blocking(|c| {
            let row = StreamRow { id: "s".into(), name: None, key_hash: vec![0; 32], created_at_ms: 0, ended_at_ms: None };
            db::insert_stream(c, &row).unwrap();
            let p = "P240p30fps16x9";
            // Source 0..40 (a hole at 7 filled late, a jump at 15); the rendition lags two
            // behind, skips 5 (reported), 11 (never: overdue later) and 20..23 (pending while
            // recent, overdue as time goes by).
            let mut order: Vec<u32> = (0..40).filter(|s| *s != 7).collect();
            order.insert(25, 7);
            let mut stored = Vec::new();
            for (i, seq) in order.into_iter().enumerate() {
                let jump = if seq >= 15 { 900_000 } else { 0 };
                db::insert_segment(c, "s", &seg(seq, if seq == 9 { 5.2 } else { 2.0 }, jump)).unwrap();
                prefixes.stored("s", seq);
                stored.push(seq);
                if let Some(&back) = stored.iter().rev().nth(2) {
                    if back != 11 && !(20..23).contains(&back) {
                        if back == 5 {
                            db::insert_gap(c, "s", 5, 0).unwrap();
                        } else {
                            db::insert_rendition(c, "s", &rendition(back, p)).unwrap();
                        }
                    }
                }
                let rows: Vec<_> = db::renditions(c, "s").unwrap().into_iter().filter(|r| r.profile == p).collect();
                if rows.is_empty() {
                    continue;
                }
                let all = db::segments(c, "s").unwrap();
                let gaps = db::gaps(c, "s").unwrap();
                // "now" moves 2 s a segment from the first one's arrival, so old holes become overdue.
                let now = 1_700_000_000_000 + i as i64 * 2000;
                for window in [1, 3, 6] {
                    let expected = playlist::rendition_playlist(&all, &rows, &gaps, false, window, now);
                    let got = prefixes.live_rendition_playlist(c, "s", p, window, now, prefixes.begin("s", Some(p))).unwrap().unwrap();
                    assert_eq!(got, expected, "after {i} inserts (seq {seq}), window {window}");
                }
            }
            let now = 1_700_000_000_000 + 40 * 2000;
            let last = prefixes.live_rendition_playlist(c, "s", p, 40, now, prefixes.begin("s", Some(p))).unwrap().unwrap();
            let gaps: Vec<_> =
                last.segments.iter().filter(|s| !s.unknown_tags.is_empty()).map(|s| s.uri.as_str()).collect();
            assert_eq!(gaps, ["5.ts", "11.ts"], "reported, then overdue; 20..23 still pending");
            assert_eq!(last.segments.last().unwrap().uri, "19.ts");
            assert!(prefixes.live_rendition_playlist(c, "s", "P144p30fps16x9", 3, 0, prefixes.begin("s", Some("P144p30fps16x9"))).unwrap().is_none());
        });
    }

    /// A request reads on its own snapshot beside the writer: a hole below the window filled
    /// between its first read and its prefix being kept must not leave a prefix without that
    /// row (it would give every later playlist a media sequence one short).
    #[test]
    fn a_prefix_computed_across_a_store_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("relay.db")).unwrap();
        assert!(db.has_readers());
        let prefixes = Prefixes::default();
        db.with_blocking(|c| {
            let row = StreamRow { id: "s".into(), name: None, key_hash: vec![0; 32], created_at_ms: 0, ended_at_ms: None };
            db::insert_stream(c, &row).unwrap();
            for seq in (0..10).filter(|s| *s != 3) {
                db::insert_segment(c, "s", &seg(seq, 2.0, 0)).unwrap();
            }
        });
        let stale = db
            .read_blocking(|c| {
                let before = prefixes.begin("s", None);
                // The snapshot starts here, without 3...
                assert_eq!(db::segments(c, "s")?.len(), 9);
                // ...then the writer fills the hole and says so...
                db.with_blocking(|w| db::insert_segment(w, "s", &seg(3, 2.0, 0)))?;
                prefixes.stored("s", 3);
                // ...and this request goes on with its snapshot.
                prefixes.live_playlist(c, "s", 3, before)
            })
            .unwrap();
        assert_eq!(stale.media_sequence, 6, "the request's own snapshot had 6 rows before its window");
        let all = db.with_blocking(|c| db::segments(c, "s")).unwrap();
        let expected = playlist::media_playlist(&all, false, 3);
        assert_eq!(expected.media_sequence, 7);
        let now = db.read_blocking(|c| prefixes.live_playlist(c, "s", 3, prefixes.begin("s", None))).unwrap();
        assert_eq!(now, expected, "a later request");
    }

    #[test]
    fn a_long_stream_costs_its_window() {
        let db = Db::open_in_memory().unwrap();
        let prefixes = Prefixes::default();
        db.with_blocking(|c| {
            let row = StreamRow { id: "s".into(), name: None, key_hash: vec![0; 32], created_at_ms: 0, ended_at_ms: None };
            db::insert_stream(c, &row).unwrap();
            c.batch("BEGIN").unwrap();
            for seq in 0..21_200 {
                db::insert_segment(c, "s", &seg(seq, 2.0, 0)).unwrap();
            }
            c.batch("COMMIT").unwrap();
            let t = std::time::Instant::now();
            let full = playlist::media_playlist(&db::segments(c, "s").unwrap(), false, 6);
            let full_time = t.elapsed();
            let first = prefixes.live_playlist(c, "s", 6, prefixes.begin("s", None)).unwrap();
            db::insert_segment(c, "s", &seg(21_200, 2.0, 0)).unwrap();
            prefixes.stored("s", 21_200);
            let t = std::time::Instant::now();
            let next = prefixes.live_playlist(c, "s", 6, prefixes.begin("s", None)).unwrap();
            let windowed_time = t.elapsed();
            assert_eq!(first, full);
            assert_eq!(next.media_sequence, full.media_sequence + 1);
            eprintln!("21,200 segments: every row {full_time:?}, windowed {windowed_time:?}");
        });
    }
}
