//! Live media playlists in O(window) per request, not O(stream).
//!
//! A live playlist shows the last `window` segments, but its header depends on the whole
//! stream: the media sequence number of the window's first segment (the stream's lowest
//! `seq` plus the rows before it), the discontinuities that slid out
//! (`EXT-X-DISCONTINUITY-SEQUENCE`) and the longest segment (`TARGETDURATION`). [`Prefixes`]
//! keeps those per stream for the rows before the window and extends them by the few rows
//! that slid out since the last request. A segment stored below the cached prefix (a hole
//! filled late) drops that stream's entry, which is rebuilt once on the next request. The
//! result equals [`playlist::media_playlist`] over every row (tested below).

use std::collections::HashMap;
use std::sync::Mutex;

use m3u8_rs::MediaPlaylist;
use rusqlite::Connection;

use crate::db::{self, SegmentRow};
use crate::playlist;

/// What the rows before a stream's window add up to.
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
    /// The longest row counted.
    longest: SegmentRow,
}

impl Prefix {
    fn push(prefix: Option<Prefix>, row: SegmentRow) -> Prefix {
        match prefix {
            None => Prefix { rows: 1, discontinuities: 0, first_seq: row.seq, last: row.clone(), longest: row },
            Some(mut p) => {
                p.rows += 1;
                if playlist::is_discontinuity(&p.last, &row) {
                    p.discontinuities += 1;
                }
                if row.duration_secs > p.longest.duration_secs {
                    p.longest = row.clone();
                }
                p.last = row;
                p
            }
        }
    }
}

/// Per-stream prefixes of the rows before the live window.
#[derive(Debug, Default)]
pub struct Prefixes {
    /// Per stream: a generation (bumped by every invalidation, so a prefix computed across
    /// one is not stored) and the prefix.
    inner: Mutex<HashMap<String, (u64, Option<Prefix>)>>,
}

impl Prefixes {
    /// Call after storing segment `seq`: a prefix that already counted past it is stale.
    pub fn stored(&self, stream_id: &str, seq: u32) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((generation, prefix)) = map.get_mut(stream_id) {
            if prefix.as_ref().is_some_and(|p| p.last.seq >= seq) {
                *generation += 1;
                *prefix = None;
            }
        }
    }

    /// The live playlist of a stream's last `window` segments (blocking: runs on the
    /// database thread).
    pub fn live_playlist(&self, conn: &Connection, stream_id: &str, window: usize) -> rusqlite::Result<MediaPlaylist> {
        let window = window.max(1);
        let rows = db::latest_segments(conn, stream_id, window)?;
        let Some(start) = rows.first().map(|r| r.seq) else {
            return Ok(playlist::media_playlist(&[], false, window));
        };
        let (generation, cached) = {
            let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            map.get(stream_id).cloned().unwrap_or_default()
        };
        let mut prefix = cached.filter(|p| p.last.seq < start);
        for row in db::segments_between(conn, stream_id, prefix.as_ref().map(|p| p.last.seq), start)? {
            prefix = Some(Prefix::push(prefix, row));
        }
        {
            let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let entry = map.entry(stream_id.to_owned()).or_default();
            if entry.0 == generation {
                entry.1 = prefix.clone();
            }
        }
        let Some(prefix) = prefix else {
            return Ok(playlist::media_playlist(&rows, false, window));
        };
        // The row before the window decides the first window row's discontinuity.
        let mut with_previous = Vec::with_capacity(rows.len() + 1);
        with_previous.push(prefix.last.clone());
        with_previous.extend(rows.iter().cloned());
        let mut list = playlist::media_playlist(&with_previous, false, window);
        list.media_sequence = u64::from(prefix.first_seq) + prefix.rows;
        list.discontinuity_sequence = prefix.discontinuities;
        let mut longest = rows;
        longest.push(prefix.longest);
        list.target_duration = playlist::target_duration(&longest);
        Ok(list)
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
                    let got = prefixes.live_playlist(c, "s", window).unwrap();
                    assert_eq!(got, expected, "after {i} inserts (seq {seq}), window {window}");
                }
            }
        });
    }

    #[test]
    fn a_long_stream_costs_its_window() {
        let db = Db::open_in_memory().unwrap();
        let prefixes = Prefixes::default();
        db.with_blocking(|c| {
            let row = StreamRow { id: "s".into(), name: None, key_hash: vec![0; 32], created_at_ms: 0, ended_at_ms: None };
            db::insert_stream(c, &row).unwrap();
            let tx = c.transaction().unwrap();
            for seq in 0..21_200 {
                db::insert_segment(&tx, "s", &seg(seq, 2.0, 0)).unwrap();
            }
            tx.commit().unwrap();
            let t = std::time::Instant::now();
            let full = playlist::media_playlist(&db::segments(c, "s").unwrap(), false, 6);
            let full_time = t.elapsed();
            let first = prefixes.live_playlist(c, "s", 6).unwrap();
            db::insert_segment(c, "s", &seg(21_200, 2.0, 0)).unwrap();
            prefixes.stored("s", 21_200);
            let t = std::time::Instant::now();
            let next = prefixes.live_playlist(c, "s", 6).unwrap();
            let windowed_time = t.elapsed();
            assert_eq!(first, full);
            assert_eq!(next.media_sequence, full.media_sequence + 1);
            eprintln!("21,200 segments: every row {full_time:?}, windowed {windowed_time:?}");
        });
    }
}
