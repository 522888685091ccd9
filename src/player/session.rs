//! One stream's loading state and what each outcome of the loader does to it, sans-I/O.
//!
//! [`Session`] holds where the loader stands (the next segment, where it goes, a seek to
//! make once it is appended), what was appended where ([`Timeline`]), what was given up,
//! the VOD's origin, the bad-segment and media-reset counts and the counters `stats()`
//! reports. The loader tells it what happened (a [`Next`] step planned, a segment
//! appended, given up, unparsable, a media error) and performs the [`Action`]s it answers:
//! events to emit, a seek, the VOD duration to set, a wait. Nothing here touches the
//! browser or a clock; `js::player` fetches, appends and dispatches.

use super::error::{ErrorDetails, ParseFailures, PlayerError};
use super::loader::Next;
use super::playlist::{MediaPlaylist, Segment};
use super::seek;
use super::timeline::{Entry, Timeline};
use std::collections::HashSet;

/// An event for the page, as the Player emits it (the facade turns it into the JS object
/// the `.d.ts` declares).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The level of the appended media changed (`levelSwitched`).
    LevelSwitched {
        /// The new level.
        level: usize,
        /// The level before (`None`: the first append).
        previous: Option<usize>,
        /// Chosen by ABR (not forced by the page).
        auto: bool,
    },
    /// A segment was appended (`fragmentBuffered`).
    FragmentBuffered {
        /// Its media sequence number.
        sequence: u64,
        /// Its level.
        level: usize,
        /// Its playlist duration, s.
        duration: f64,
        /// Bytes downloaded.
        bytes: usize,
        /// Download time, ms.
        load_ms: f64,
        /// Where it went in the SourceBuffer, s.
        start: f64,
        /// Where it ends there, s.
        end: f64,
    },
    /// A non-fatal error (`error` with `fatal: false`).
    Error {
        /// What failed.
        error: PlayerError,
        /// hls.js-style details.
        details: ErrorDetails,
        /// The segment it concerns.
        sequence: Option<u64>,
    },
}

/// What the loader performs for the session.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Dispatch this event.
    Emit(Event),
    /// Set the element's `currentTime`.
    Seek(f64),
    /// VOD: make the MediaSource's duration the playlist's length (at `level`).
    SetVodDuration {
        /// The level whose playlist says the length.
        level: usize,
    },
    /// Wait this long before the next step, ms.
    Wait(f64),
}

/// A segment appended to the SourceBuffer.
#[derive(Debug, Clone, Copy)]
pub struct Appended<'a> {
    /// Its level.
    pub level: usize,
    /// The segment (its number on that level).
    pub segment: &'a Segment,
    /// Its level's playlist has ended (a VOD).
    pub ended: bool,
    /// Where the media went in the SourceBuffer, s.
    pub start: f64,
    /// Where it ends there, s.
    pub end: f64,
    /// Bytes downloaded.
    pub bytes: usize,
    /// Download time, ms.
    pub load_ms: f64,
    /// The level was ABR's choice (the page forces none).
    pub auto: bool,
}

/// Which segment a media error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// The one being appended (the next in line).
    Appending,
    /// The one at the playhead (the video element failed to decode it).
    Playing,
}

/// How to go on after a media error: the pipeline is rebuilt (a new MediaSource), then
/// [`Session::reset_done`] puts the loader here.
#[derive(Debug, Clone, PartialEq)]
pub struct Reset {
    /// The segment to load next.
    pub next_sequence: Option<u64>,
    /// VOD: where it goes on the playlist's clock.
    vod_place: Option<f64>,
    /// Live: where it goes behind the window.
    live_place: Option<f64>,
}

/// Media resets a session may make; the next media error is fatal.
pub const MAX_MEDIA_RESETS: u32 = 1;

/// A stream's loading state (see the module comment).
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// The segment to load next (`None` before the start point is known).
    pub next_sequence: Option<u64>,
    /// Where the next segment must start in the SourceBuffer (after a seek outside the
    /// buffer, a jump or a restart); `None` appends it after the previous one.
    pub place_next_at: Option<f64>,
    /// Once this segment is appended, seek to its start (joining live, a jump to the edge).
    pub seek_to_sequence: Option<u64>,
    /// VOD: where the playlist's clock starts in the SourceBuffer, s (set by the first append).
    pub vod_origin: Option<f64>,
    /// Level of the last appended segment.
    pub loaded_level: Option<usize>,
    /// What was appended where.
    pub timeline: Timeline,
    /// Segments given up this session (failed after retries, gaps, unparsable, media errors).
    failed: HashSet<u64>,
    /// Bad segments in a row.
    parse_failures: ParseFailures,
    /// Media resets made.
    media_resets: u32,
    /// Segments appended.
    pub fragments: u32,
    /// Segments given up.
    pub skipped: u32,
    /// Downloads aborted because a seek made them unneeded.
    pub superseded: u32,
}

impl Session {
    /// Media resets made this session.
    pub fn media_resets(&self) -> u32 {
        self.media_resets
    }

    /// Whether segment `sequence` was given up this session.
    pub fn given_up(&self, sequence: u64) -> bool {
        self.failed.contains(&sequence)
    }

    /// The start point is known: load `sequence` first; live, placed at `place` on the
    /// playlist's clock and seek there once it is appended.
    pub fn start(&mut self, sequence: u64, place: Option<f64>) {
        self.next_sequence = Some(sequence);
        self.loaded_level = None;
        if place.is_some() {
            self.place_next_at = place;
            self.seek_to_sequence = Some(sequence);
        }
    }

    /// The loader planned `next`: a jump or a restart moves it (other steps leave it).
    pub fn planned(&mut self, next: &Next) {
        match *next {
            Next::Jump { sequence, start } => {
                self.next_sequence = Some(sequence);
                self.place_next_at = Some(start);
                self.seek_to_sequence = None;
            }
            Next::Restart { sequence, place_at } => self.load_from(sequence, place_at),
            _ => {}
        }
    }

    /// Load `sequence` next, placed at `place_at`, and seek there once appended (a restart
    /// behind the live edge, the monitor's jump to it).
    pub fn load_from(&mut self, sequence: u64, place_at: Option<f64>) {
        self.next_sequence = Some(sequence);
        self.seek_to_sequence = Some(sequence);
        self.place_next_at = place_at;
    }

    /// The loader switched level: `sequence` is the same media on the new level.
    pub fn switched(&mut self, sequence: u64) {
        self.next_sequence = Some(sequence);
    }

    /// Whether `segment` (numbered `sequence`) starts a discontinuity: marked so, or not
    /// the one after the last appended.
    pub fn discontinuity(&self, segment: &Segment, sequence: u64) -> bool {
        segment.discontinuity || self.timeline.last().is_some_and(|e| e.sequence + 1 != sequence)
    }

    /// Gives segment `sequence` up (of the level whose playlist is `playlist`): loading
    /// goes on with the next, which in a VOD keeps its place on the playlist's clock (the
    /// monitor skips the hole).
    pub fn give_up(&mut self, playlist: Option<&MediaPlaylist>, sequence: u64) {
        self.next_sequence = Some(sequence + 1);
        self.skipped += 1;
        self.failed.insert(sequence);
        let origin = self.vod_origin.unwrap_or(0.0);
        if let Some(place) = playlist.filter(|p| p.ended).and_then(|p| p.segment(sequence + 1)).map(|s| origin + s.start) {
            self.place_next_at = Some(place);
        }
    }

    /// Segment `sequence` could not be parsed: it is given up, and the loader backs off
    /// before the next (likely bad too: a broken encoder or packager). `Err`: this one
    /// makes [`ParseFailures::LIMIT`] in a row, fatal.
    pub fn unparsable(&mut self, playlist: Option<&MediaPlaylist>, sequence: u64, error: PlayerError, url: &str) -> Result<Vec<Action>, PlayerError> {
        self.give_up(playlist, sequence);
        let Some(ms) = self.parse_failures.record() else {
            let count = self.parse_failures.count();
            return Err(PlayerError::Mux { url: url.to_string(), reason: format!("{count} segments in a row could not be parsed; the last: {error}") });
        };
        Ok(vec![Action::Emit(Event::Error { error, details: ErrorDetails::FragParsingError, sequence: Some(sequence) }), Action::Wait(ms)])
    }

    /// A segment was appended: the loader moves past it, and the page hears of it.
    pub fn appended(&mut self, a: Appended<'_>) -> Vec<Action> {
        let sequence = a.segment.sequence;
        self.place_next_at = None;
        self.parse_failures.reset();
        if a.ended && self.vod_origin.is_none() {
            self.vod_origin = Some(a.start - a.segment.start);
        }
        let previous = self.loaded_level.replace(a.level);
        self.next_sequence = Some(sequence + 1);
        self.fragments += 1;
        self.timeline.push(Entry { sequence, level: a.level, start: a.start, end: a.end, date_ms: a.segment.program_date_time_ms });
        let mut actions = Vec::new();
        if previous != Some(a.level) {
            actions.push(Action::Emit(Event::LevelSwitched { level: a.level, previous, auto: a.auto }));
        }
        actions.push(Action::Emit(Event::FragmentBuffered {
            sequence,
            level: a.level,
            duration: a.segment.duration,
            bytes: a.bytes,
            load_ms: a.load_ms,
            start: a.start,
            end: a.end,
        }));
        if self.seek_to_sequence == Some(sequence) {
            self.seek_to_sequence = None;
            actions.push(Action::Seek(a.start + 0.05));
        }
        if a.ended {
            actions.push(Action::SetVodDuration { level: a.level });
        }
        actions
    }

    /// A media error (`failed` says from which segment; `playlist` is the loaded level's,
    /// `position` the playhead): the first one resets the pipeline and loads on from the
    /// segment after the bad one (which would most likely fail again), given up; the next
    /// is fatal (`Err`). A VOD keeps its clock; a live stream restarts behind its window on
    /// the playlist's clock and the playhead goes there.
    pub fn media_error(&mut self, failed: Failed, playlist: Option<&MediaPlaylist>, position: f64, error: PlayerError) -> Result<(Reset, Event), PlayerError> {
        if self.media_resets >= MAX_MEDIA_RESETS {
            return Err(error);
        }
        self.media_resets += 1;
        let bad = match failed {
            Failed::Appending => self.next_sequence,
            Failed::Playing => self.timeline.at(position).map(|e| e.sequence),
        };
        let restart = bad.map(|s| s + 1).or(self.next_sequence);
        if let Some(bad) = bad {
            self.failed.insert(bad);
        }
        let (vod_place, live_place) = match (playlist, restart) {
            (Some(p), Some(r)) if p.ended => (p.segment(r).map(|s| self.vod_origin.unwrap_or(0.0) + s.start), None),
            (Some(p), Some(r)) => (None, seek::live_place(p, &Timeline::default(), r)),
            _ => (None, None),
        };
        self.skipped += 1;
        self.timeline.clear();
        let details = if failed == Failed::Appending { ErrorDetails::BufferAppendError } else { ErrorDetails::MediaError };
        Ok((Reset { next_sequence: restart, vod_place, live_place }, Event::Error { error, details, sequence: None }))
    }

    /// The pipeline was rebuilt after [`Self::media_error`]: the loader goes where `reset` says.
    pub fn reset_done(&mut self, reset: Reset) {
        self.next_sequence = reset.next_sequence;
        match reset.vod_place {
            Some(t) => self.place_next_at = Some(t),
            None => {
                self.place_next_at = reset.live_place;
                self.seek_to_sequence = reset.next_sequence;
            }
        }
    }

    /// The largest hole the monitor jumps at `position` (`playlist`: the loaded level's):
    /// 2 s, or any size where a VOD segment that was given up would be.
    pub fn hole_limit(&self, playlist: Option<&MediaPlaylist>, position: f64) -> f64 {
        let given_up = playlist
            .filter(|p| p.ended)
            .and_then(|p| seek::segment_at(p, position - self.vod_origin.unwrap_or(0.0)))
            .is_some_and(|s| self.given_up(s));
        if given_up {
            f64::INFINITY
        } else {
            2.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::player::playlist::test_playlist;

    fn appended<'a>(level: usize, segment: &'a Segment, ended: bool, start: f64) -> Appended<'a> {
        Appended { level, segment, ended, start, end: start + segment.duration, bytes: 1000, load_ms: 20.0, auto: true }
    }

    fn events(actions: &[Action]) -> Vec<&Event> {
        actions.iter().filter_map(|a| if let Action::Emit(e) = a { Some(e) } else { None }).collect()
    }

    #[test]
    fn appends_advance_the_loader_and_report_a_level_switch_only_on_change() {
        let p = test_playlist(5, false, None);
        let mut s = Session::default();
        s.start(10, None);
        let first = s.appended(appended(1, p.segment(10).unwrap(), false, 0.0));
        assert_eq!(events(&first)[0], &Event::LevelSwitched { level: 1, previous: None, auto: true });
        assert!(matches!(events(&first)[1], Event::FragmentBuffered { sequence: 10, level: 1, .. }));
        let second = s.appended(appended(1, p.segment(11).unwrap(), false, 2.0));
        assert_eq!(events(&second).len(), 1, "same level: only fragmentBuffered");
        let third = s.appended(appended(0, p.segment(12).unwrap(), false, 4.0));
        assert_eq!(events(&third)[0], &Event::LevelSwitched { level: 0, previous: Some(1), auto: true });
        assert_eq!((s.next_sequence, s.loaded_level, s.fragments), (Some(13), Some(0), 3));
        assert_eq!(s.timeline.at(3.0).map(|e| e.sequence), Some(11));
    }

    #[test]
    fn joining_live_seeks_to_the_first_segment_once_it_is_appended() {
        let p = test_playlist(6, false, None);
        let mut s = Session::default();
        s.start(13, Some(6.0));
        assert_eq!(s.place_next_at, Some(6.0));
        let actions = s.appended(appended(0, p.segment(13).unwrap(), false, 6.0));
        assert!(actions.contains(&Action::Seek(6.05)), "{actions:?}");
        assert_eq!((s.place_next_at, s.seek_to_sequence), (None, None));
        let next = s.appended(appended(0, p.segment(14).unwrap(), false, 8.0));
        assert!(!next.iter().any(|a| matches!(a, Action::Seek(_))), "one seek only");
        assert!(!next.iter().any(|a| matches!(a, Action::SetVodDuration { .. })), "live: no VOD duration");
    }

    #[test]
    fn a_vod_sets_its_origin_from_the_first_append_and_its_duration() {
        let p = test_playlist(5, true, None);
        let mut s = Session::default();
        s.planned(&Next::Jump { sequence: 12, start: 4.0 });
        assert_eq!((s.next_sequence, s.place_next_at), (Some(12), Some(4.0)));
        // The SourceBuffer put segment 12 (4 s into the playlist) at 4.5 s.
        let actions = s.appended(appended(0, p.segment(12).unwrap(), true, 4.5));
        assert_eq!(s.vod_origin, Some(0.5));
        assert!(actions.contains(&Action::SetVodDuration { level: 0 }));
        s.appended(appended(0, p.segment(13).unwrap(), true, 6.5));
        assert_eq!(s.vod_origin, Some(0.5), "set once");
    }

    #[test]
    fn a_segment_given_up_in_a_vod_keeps_the_next_in_its_place() {
        let vod = test_playlist(5, true, None);
        let mut s = Session { vod_origin: Some(1.0), ..Session::default() };
        s.give_up(Some(&vod), 11);
        assert_eq!((s.next_sequence, s.place_next_at, s.skipped), (Some(12), Some(5.0), 1));
        assert!(s.given_up(11) && !s.given_up(12));
        assert_eq!(s.hole_limit(Some(&vod), 3.5), f64::INFINITY, "the hole where 11 would be is jumped whatever its size");
        assert_eq!(s.hole_limit(Some(&vod), 5.5), 2.0);
        let live = test_playlist(5, false, None);
        let mut l = Session::default();
        l.give_up(Some(&live), 11);
        assert_eq!((l.next_sequence, l.place_next_at), (Some(12), None), "live: the next follows on");
        assert_eq!(l.hole_limit(Some(&live), 3.0), 2.0);
    }

    #[test]
    fn bad_segments_back_off_then_are_fatal_and_a_good_one_starts_over() {
        let p = test_playlist(20, false, None);
        let bad = || PlayerError::Mux { url: "s.ts".into(), reason: "no sync byte".into() };
        let mut s = Session::default();
        let mut waits = Vec::new();
        for seq in 10..15 {
            let actions = s.unparsable(Some(&p), seq, bad(), "s.ts").expect("not yet fatal");
            assert!(matches!(events(&actions)[0], Event::Error { details: ErrorDetails::FragParsingError, sequence: Some(q), .. } if *q == seq));
            waits.extend(actions.iter().filter_map(|a| if let Action::Wait(ms) = a { Some(*ms) } else { None }));
        }
        assert_eq!(waits, vec![250.0, 500.0, 1000.0, 2000.0, 4000.0], "backs off: no busy loop over bad segments");
        let fatal = s.unparsable(Some(&p), 15, bad(), "s.ts").expect_err("the sixth in a row is fatal");
        assert!(fatal.to_string().contains("6 segments in a row"), "{fatal}");
        assert_eq!((s.next_sequence, s.skipped), (Some(16), 6));
        // A good segment in between starts the count over.
        let mut t = Session::default();
        for seq in 10..14 {
            t.unparsable(Some(&p), seq, bad(), "s.ts").unwrap();
        }
        t.appended(appended(0, p.segment(14).unwrap(), false, 0.0));
        let after = t.unparsable(Some(&p), 15, bad(), "s.ts").unwrap();
        assert!(after.contains(&Action::Wait(250.0)));
    }

    #[test]
    fn one_media_reset_then_fatal() {
        let live = test_playlist(8, false, None); // 10..=17
        let mut s = Session::default();
        s.start(13, Some(6.0));
        s.appended(appended(0, live.segment(13).unwrap(), false, 6.0));
        s.appended(appended(0, live.segment(14).unwrap(), false, 8.0));
        // Appending 15 failed: given up, the loader goes on from 16 behind the window,
        // seeking there once it is appended.
        let (reset, event) = s.media_error(Failed::Appending, Some(&live), 8.5, PlayerError::Media("decode".into())).expect("first: a reset");
        assert!(matches!(event, Event::Error { details: ErrorDetails::BufferAppendError, .. }));
        assert!(s.given_up(15) && s.timeline.last().is_none());
        s.reset_done(reset);
        assert_eq!((s.next_sequence, s.seek_to_sequence), (Some(16), Some(16)));
        assert_eq!(s.place_next_at, Some(12.0), "16 at its place in the window (6 segments of 2 s in)");
        let again = s.media_error(Failed::Playing, Some(&live), 12.0, PlayerError::Media("decode again".into()));
        assert_eq!(again.unwrap_err(), PlayerError::Media("decode again".into()));
    }

/// What a loader made of [`loader::plan`] and a [`Session`] does over a whole VOD, with
    /// a SourceBuffer that buffers each appended segment where it is placed (the facade's
    /// loop without its I/O): `outcome(sequence)` says whether segment `sequence` appends,
    /// fails to download or does not parse. Returns the sequences appended in order, the
    /// time spent waiting (ms), the steps taken and how it ended.
    fn play_vod(p: &MediaPlaylist, outcome: &dyn Fn(u64) -> Outcome) -> (Vec<u64>, f64, usize, Result<(), PlayerError>) {
        use crate::player::loader::{self, LoaderInput};
        let mut s = Session::default();
        s.start(p.media_sequence, None);
        let mut ranges: Vec<(f64, f64)> = Vec::new();
        let (mut appended_order, mut waited, mut steps) = (Vec::new(), 0.0, 0);
        let result = loop {
            steps += 1;
            assert!(steps < 1000, "the loader spins: {appended_order:?}");
            let input = LoaderInput {
                position: 0.0,
                ranges: &ranges,
                playlist: Some(p),
                timeline: &s.timeline,
                next_sequence: s.next_sequence,
                place_next_at: s.place_next_at,
                vod_origin: s.vod_origin,
                dvr: false,
                max_buffer_s: 1000.0,
                back_buffer_s: 1000.0,
                streaming_wanted: true,
                live_sync_segments: 3,
            };
            let plan = loader::plan(&input, &|q| s.given_up(q));
            let sequence = match plan.next {
                Next::Load { sequence, .. } => sequence,
                Next::Finish => break Ok(()),
                Next::Wait { ms } => {
                    waited += ms;
                    continue;
                }
                other @ (Next::Jump { .. } | Next::Restart { .. }) => {
                    s.planned(&other);
                    continue;
                }
                other => panic!("unexpected {other:?}"),
            };
            match outcome(sequence) {
                Outcome::Appends => {
                    let segment = p.segment(sequence).unwrap();
                    let start = s.place_next_at.or(s.timeline.last().map(|e| e.end)).unwrap_or(0.0);
                    let end = start + segment.duration;
                    match ranges.last_mut() {
                        Some(last) if (last.1 - start).abs() < 0.01 => last.1 = end,
                        _ => ranges.push((start, end)),
                    }
                    s.appended(appended(0, segment, true, start));
                    appended_order.push(sequence);
                }
                Outcome::DownloadFails => s.give_up(Some(p), sequence),
                Outcome::Unparsable => match s.unparsable(Some(p), sequence, PlayerError::Mux { url: "s.ts".into(), reason: "bad".into() }, "s.ts") {
                    Ok(actions) => waited += actions.iter().map(|a| if let Action::Wait(ms) = a { *ms } else { 0.0 }).sum::<f64>(),
                    Err(e) => break Err(e),
                },
            }
        };
        (appended_order, waited, steps, result)
    }

    #[derive(Clone, Copy)]
    enum Outcome {
        Appends,
        DownloadFails,
        Unparsable,
    }

    #[test]
    fn a_vod_with_a_segment_that_fails_plays_every_other_once_and_ends() {
        let p = test_playlist(8, true, None); // 10..=17
        let (order, _, steps, result) = play_vod(&p, &|q| if q == 12 { Outcome::DownloadFails } else { Outcome::Appends });
        assert_eq!(result, Ok(()));
        assert_eq!(order, vec![10, 11, 13, 14, 15, 16, 17], "each once, 12 skipped");
        assert!(steps < 20, "{steps} steps");
    }

    #[test]
    fn a_stream_of_only_bad_segments_ends_fatal_after_backing_off_never_spinning() {
        let p = test_playlist(20, true, None);
        let (order, waited, steps, result) = play_vod(&p, &|_| Outcome::Unparsable);
        assert!(order.is_empty());
        let e = result.expect_err("fatal");
        assert!(matches!(e, PlayerError::Mux { .. }), "{e}");
        assert_eq!(steps, ParseFailures::LIMIT as usize, "one step per bad segment");
        assert_eq!(waited, 250.0 + 500.0 + 1000.0 + 2000.0 + 4000.0, "backed off between them");
    }

    #[test]
    fn bad_segments_between_good_ones_are_skipped_and_the_rest_plays() {
        let p = test_playlist(12, true, None); // 10..=21
        let bad = |q: u64| q.is_multiple_of(3); // 12, 15, 18, 21
        let (order, waited, _, result) = play_vod(&p, &|q| if bad(q) { Outcome::Unparsable } else { Outcome::Appends });
        assert_eq!(result, Ok(()), "never five in a row");
        assert_eq!(order, (10..22).filter(|q| !bad(*q)).collect::<Vec<_>>());
        assert_eq!(waited, 4.0 * 250.0, "each bad one alone: the shortest back-off");
    }

    #[test]
    fn a_vod_media_reset_keeps_the_playlists_clock() {
        let vod = test_playlist(5, true, None);
        let mut s = Session::default();
        s.start(10, None);
        s.appended(appended(0, vod.segment(10).unwrap(), true, 0.0));
        s.appended(appended(0, vod.segment(11).unwrap(), true, 2.0));
        // The element failed to decode what plays at 2.5 s (segment 11).
        let (reset, event) = s.media_error(Failed::Playing, Some(&vod), 2.5, PlayerError::Media("decode".into())).unwrap();
        assert!(matches!(event, Event::Error { details: ErrorDetails::MediaError, .. }));
        s.reset_done(reset);
        assert_eq!((s.next_sequence, s.place_next_at, s.seek_to_sequence), (Some(12), Some(4.0), None));
        assert!(s.given_up(11));
    }
}
