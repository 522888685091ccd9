//! The playback monitor, sans-I/O: what the Player does every 250 ms while a stream plays.
//!
//! [`Monitor::tick`] takes what the `<video>` element and the loader say at one instant
//! ([`Tick`]: the time, the playhead, the buffered ranges, paused/ended/seeking, a decode
//! error, the playing level's playlist) and answers the [`Action`]s to perform: jump over a
//! hole, count a stall, set the catch-up playback rate, jump to the live edge, report
//! latency. Time is an input, so every rule here is tested natively with a fake clock
//! (below); `js::player` only reads the element, calls `tick` and executes the answer.
//!
//! The rules:
//! - **Holes** (a skipped segment's timestamps, media starting after 0): the playhead jumps
//!   over one up to [`Tick::hole_limit`] long; a playhead that stopped moving counts as in
//!   the hole within [`buffer::HOLE_TOLERANCE_S`] of its range's end.
//! - **Stalls**: playing, not paused, ended or seeking (waiting after a seek of the page is
//!   not a stall, as hls.js counts it), less than 0.5 s buffered ahead and no progress for
//!   1 s. Each stall is counted once and, with automatic level selection, asks the loader
//!   for an emergency switch down.
//! - **DVR**: a viewer's seek back (the playhead went back, or sits before all media
//!   without the player having put it there) turns catch-up and jumps to the edge off until
//!   the latency is back within a second of the target.
//! - **Live edge**: latency from the segments' dates, else from the playlist; above the
//!   maximum, jump to the edge (seek if that media is buffered, else ask the loader to load
//!   from there); otherwise the catch-up rate of [`live::catch_up_rate`], set in steps
//!   ([`live::stepped_rate`]). A `latency` event
//!   at most once a second. A finished (VOD) playlist plays at rate 1 with no latency.
//! - **A rate change that freezes the picture**: for [`RATE_WATCH_MS`] after each change
//!   the decoded-frame count is watched; if the playhead moves [`RATE_FREEZE_AFTER_S`]
//!   while at most one new frame is decoded, catch-up by rate is turned off for the rest
//!   of the session ([`Monitor::catch_up_off`]; rate 1, jumps to the edge still work).
//!   WebKitGTK's GStreamer pipeline does this with sound: the clock (the audio) runs on at
//!   the new rate while the picture stands still.

use super::buffer;
use super::config::PlayerConfig;
use super::live;
use super::playlist::MediaPlaylist;
use super::seek;
use super::timeline::Timeline;

/// How long the playhead may stand still with too little buffered before it is a stall, ms.
pub const STALL_AFTER_MS: f64 = 1000.0;
/// Buffer ahead below which a playhead standing still is stalled, s.
pub const STALL_BUFFER_S: f64 = 0.5;
/// Least time between two `latency` events, ms.
pub const LATENCY_EVENT_INTERVAL_MS: f64 = 1000.0;
/// How long after a change of the playback rate the picture is watched, ms.
pub const RATE_WATCH_MS: f64 = 6000.0;
/// How far the playhead may move, after a rate change, while at most one new frame is
/// decoded before the change counts as having frozen the picture, s.
pub const RATE_FREEZE_AFTER_S: f64 = 2.0;

/// What the element and the loader say at one tick.
#[derive(Debug, Clone, Copy)]
pub struct Tick<'a> {
    /// Now, ms (any monotonic clock, the same at every tick).
    pub now_ms: f64,
    /// The element's `currentTime`, s.
    pub position: f64,
    /// The element's buffered ranges, s, in order.
    pub buffered: &'a [(f64, f64)],
    /// The element's `paused`.
    pub paused: bool,
    /// The element's `ended`.
    pub ended: bool,
    /// The element's `seeking`.
    pub seeking: bool,
    /// The element's `error.message`, when it has an error.
    pub media_error: Option<&'a str>,
    /// What was appended where.
    pub timeline: &'a Timeline,
    /// The playing level's media playlist and when it was loaded (ms, the `now_ms` clock).
    pub playlist: Option<(&'a MediaPlaylist, f64)>,
    /// The largest hole to jump over at `position`, s (2 s; unbounded where a VOD segment
    /// was given up).
    pub hole_limit: f64,
    /// The loader has a seek of its own pending (after a jump to the edge): the playhead
    /// sitting before the media is then the player's doing, not the viewer's.
    pub loader_seek_pending: bool,
    /// The next segment the loader will load.
    pub next_sequence: Option<u64>,
    /// The page chose a level (no emergency switches then).
    pub level_forced: bool,
    /// Frames the element has decoded (`getVideoPlaybackQuality().totalVideoFrames`), when
    /// it says; the count may start again from 0 when the engine flushes its pipeline.
    pub decoded_frames: Option<u64>,
}

/// What to do after a tick, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The element failed to decode: the loader rebuilds the pipeline.
    MediaFailed(String),
    /// Set the element's `currentTime`.
    Seek(f64),
    /// Set the element's `playbackRate`.
    SetRate(f64),
    /// Load `sequence` next and seek to it once appended (at `place_at` in the buffer, if
    /// known): the jump to the edge when that media is not buffered.
    LoadFrom {
        /// The segment to load next.
        sequence: u64,
        /// Where it goes in the SourceBuffer.
        place_at: Option<f64>,
    },
    /// Switch down at the next level choice (a stall with automatic levels).
    Emergency,
    /// The `stalled` event.
    Stalled {
        /// The playhead, s.
        position: f64,
        /// Stalls so far.
        count: u32,
        /// The level playing (-1: unknown).
        level: i32,
    },
    /// The `latency` event.
    Latency {
        /// Seconds behind the live edge.
        latency: f64,
        /// The latency aimed at.
        target: f64,
        /// The playback rate set.
        playback_rate: f64,
    },
}

/// The monitor's memory between ticks, and the figures it keeps for `stats`.
#[derive(Debug, Clone, PartialEq)]
pub struct Monitor {
    last_position: f64,
    last_progress_ms: f64,
    stalled_since: Option<f64>,
    started: bool,
    last_latency_event_ms: f64,
    stalls: u32,
    stalled_ms: f64,
    dvr: bool,
    latency: Option<f64>,
    playback_rate: f64,
    rate_watch: Option<RateWatch>,
    catch_up_off: bool,
}

/// The picture after a rate change: when, and at each tick since, the playhead and the
/// frames decoded since the change (at most one sample per tick of the watch).
#[derive(Debug, Clone, PartialEq)]
struct RateWatch {
    since_ms: f64,
    last_frames: Option<u64>,
    new_frames: u64,
    samples: Vec<(f64, u64)>,
}

impl Default for Monitor {
    fn default() -> Self {
        Monitor {
            last_position: 0.0,
            last_progress_ms: 0.0,
            stalled_since: None,
            started: false,
            last_latency_event_ms: f64::NEG_INFINITY,
            stalls: 0,
            stalled_ms: 0.0,
            dvr: false,
            latency: None,
            playback_rate: 1.0,
            rate_watch: None,
            catch_up_off: false,
        }
    }
}

impl Monitor {
    /// Whether the playhead has moved since the stream was loaded.
    pub fn started(&self) -> bool {
        self.started
    }

    /// Stalls counted.
    pub fn stalls(&self) -> u32 {
        self.stalls
    }

    /// Time spent stalled, ms, the current stall included.
    pub fn stalled_ms(&self, now_ms: f64) -> f64 {
        self.stalled_ms + self.stalled_since.map_or(0.0, |s| now_ms - s)
    }

    /// Live: the viewer watches behind the edge on purpose (DVR).
    pub fn dvr(&self) -> bool {
        self.dvr
    }

    /// The last latency measured, s (`None` for VOD or before it is known).
    pub fn latency(&self) -> Option<f64> {
        self.latency
    }

    /// The playback rate last set.
    pub fn playback_rate(&self) -> f64 {
        self.playback_rate
    }

    /// Whether catch-up by rate was turned off because a rate change froze the picture.
    pub fn catch_up_off(&self) -> bool {
        self.catch_up_off
    }

    /// The element got a new source (the loader rebuilt the pipeline): playback starts over
    /// in a new buffer, at the element's default rate. Stalls counted, time stalled (a stall
    /// in progress ends now), DVR and a catch-up turned off are kept.
    pub fn media_reset(&mut self, now_ms: f64) {
        if let Some(since) = self.stalled_since.take() {
            self.stalled_ms += now_ms - since;
        }
        *self = Monitor { stalls: self.stalls, stalled_ms: self.stalled_ms, dvr: self.dvr, latency: self.latency, catch_up_off: self.catch_up_off, ..Monitor::default() };
    }

    /// One tick: the actions to perform, in order.
    pub fn tick(&mut self, config: &PlayerConfig, t: Tick<'_>) -> Vec<Action> {
        let mut actions = Vec::new();
        if let Some(message) = t.media_error {
            actions.push(Action::MediaFailed(format!("the video element failed to decode: {message}")));
            return actions;
        }
        let position = t.position;
        let ahead = buffer::ahead(t.buffered, position);
        let stuck = self.started && !t.paused && (position - self.last_position).abs() <= 0.01;
        let end_margin = if stuck { buffer::HOLE_TOLERANCE_S } else { 0.05 };
        if let Some(to) = buffer::hole_skip(t.buffered, position, t.hole_limit, end_margin) {
            actions.push(Action::Seek(to));
            return actions;
        }
        let before_media = !t.loader_seek_pending && t.buffered.first().is_some_and(|r| position < r.0 - 0.5);
        self.dvr |= (self.started && seek::dvr_seek(self.last_position, position)) || before_media;
        let now = t.now_ms;
        if (position - self.last_position).abs() > 0.01 {
            self.last_position = position;
            self.last_progress_ms = now;
            self.started = true;
            if let Some(since) = self.stalled_since.take() {
                self.stalled_ms += now - since;
            }
        } else if self.started
            && !t.paused
            && !t.ended
            && !t.seeking
            && self.stalled_since.is_none()
            && now - self.last_progress_ms > STALL_AFTER_MS
            && ahead < STALL_BUFFER_S
        {
            self.stalled_since = Some(now);
            self.stalls += 1;
            if !t.level_forced {
                actions.push(Action::Emergency);
            }
            let level = t.timeline.at(position).map_or(-1, |e| e.level as i32);
            actions.push(Action::Stalled { position, count: self.stalls, level });
        }
        if !self.started && self.last_progress_ms == 0.0 {
            self.last_progress_ms = now;
        }
        if !t.paused && !t.seeking && self.watch_rate(now, position, t.decoded_frames) {
            self.catch_up_off = true;
            self.set_rate(1.0, &mut actions);
            self.rate_watch = None;
        }
        let Some((playlist, loaded_at_ms)) = t.playlist else { return actions };
        if playlist.ended {
            self.latency = None;
            self.dvr = false;
            self.set_rate_at(1.0, (now, position, t.decoded_frames), &mut actions);
            return actions;
        }
        let latency = t.timeline.dated_latency(position, now).or_else(|| {
            let e = t.timeline.at(position)?;
            live::latency_from_playlist(playlist, e.sequence, position - e.start, (now - loaded_at_ms) / 1000.0)
        });
        let Some(latency) = latency else { return actions };
        let target = config.target_latency(playlist.target_duration);
        let max = config.max_latency(playlist.target_duration);
        self.latency = Some(latency);
        // Watching behind the edge on purpose until the viewer comes back near it.
        self.dvr &= latency > target + 1.0;
        if t.paused {
            return actions;
        }
        if !self.dvr && live::should_jump(latency, max) {
            let to = live::start_sequence(playlist, config.live_sync_segments);
            // Already buffered? Seek there; else load it next and seek once it is appended.
            if let Some(entry) = t.timeline.first_from(to).filter(|e| e.start > position + 0.5) {
                actions.push(Action::Seek(entry.start + 0.05));
                return actions;
            }
            if !t.loader_seek_pending && t.next_sequence.is_some_and(|n| n < to) {
                actions.push(Action::LoadFrom { sequence: to, place_at: seek::live_place(playlist, t.timeline, to) });
            }
        }
        let wanted = if self.dvr || self.catch_up_off { 1.0 } else { live::catch_up_rate(latency, target, config.max_catch_up_rate, ahead) };
        let rate = live::stepped_rate(wanted, self.playback_rate, config.max_catch_up_rate);
        self.set_rate_at(rate, (now, position, t.decoded_frames), &mut actions);
        if now - self.last_latency_event_ms >= LATENCY_EVENT_INTERVAL_MS {
            self.last_latency_event_ms = now;
            actions.push(Action::Latency { latency, target, playback_rate: rate });
        }
        actions
    }

    fn set_rate(&mut self, rate: f64, actions: &mut Vec<Action>) {
        if (rate - self.playback_rate).abs() > 0.001 {
            self.playback_rate = rate;
            actions.push(Action::SetRate(rate));
        }
    }

    /// [`Monitor::set_rate`], and a change starts watching the picture (`at`: now, the
    /// playhead, the decoded frames).
    fn set_rate_at(&mut self, rate: f64, at: (f64, f64, Option<u64>), actions: &mut Vec<Action>) {
        let before = self.playback_rate;
        self.set_rate(rate, actions);
        if self.playback_rate != before {
            let (since_ms, position, last_frames) = at;
            self.rate_watch = Some(RateWatch { since_ms, last_frames, new_frames: 0, samples: vec![(position, 0)] });
        }
    }

    /// Counts the frames decoded since the last rate change (a count that starts again from
    /// 0, a flushed pipeline, counts from 0); `true` when, within the watch, the playhead
    /// moved [`RATE_FREEZE_AFTER_S`] while at most one frame was decoded.
    fn watch_rate(&mut self, now_ms: f64, position: f64, frames: Option<u64>) -> bool {
        let Some(w) = self.rate_watch.as_mut() else { return false };
        let Some(frames) = frames else { return false };
        if now_ms - w.since_ms > RATE_WATCH_MS {
            self.rate_watch = None;
            return false;
        }
        w.new_frames += match w.last_frames {
            Some(last) if frames >= last => frames - last,
            Some(_) => frames,
            None => 0,
        };
        w.last_frames = Some(frames);
        // A seek or a jump (faster than any playback rate over one tick) starts the count
        // again from here: only playback moves the playhead in the samples compared.
        if w.samples.last().is_some_and(|&(p, _)| position < p || position - p > 1.0) {
            w.samples.clear();
        }
        w.samples.push((position, w.new_frames));
        let now = (position, w.new_frames);
        w.samples.iter().any(|&(p, n)| now.0 - p >= RATE_FREEZE_AFTER_S && now.1 - n <= 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::player::timeline::Entry;

    fn playlist(n: usize, ended: bool, t0_ms: Option<f64>) -> MediaPlaylist {
        crate::player::playlist::test_playlist(n, ended, t0_ms)
    }

    /// A timeline of segments 10.. appended back to back from 0, 2 s each, dated like
    /// `playlist(.., Some(t0_ms))`.
    fn timeline(segments: u64, t0_ms: Option<f64>) -> Timeline {
        let mut t = Timeline::default();
        for i in 0..segments {
            let start = i as f64 * 2.0;
            t.push(Entry { sequence: 10 + i, level: 0, start, end: start + 2.0, date_ms: t0_ms.map(|t0| t0 + i as f64 * 2000.0) });
        }
        t
    }

    /// A tick template: playing, nothing wrong, automatic levels.
    fn tick<'a>(now_ms: f64, position: f64, buffered: &'a [(f64, f64)], timeline: &'a Timeline) -> Tick<'a> {
        Tick {
            now_ms,
            position,
            buffered,
            paused: false,
            ended: false,
            seeking: false,
            media_error: None,
            timeline,
            playlist: None,
            hole_limit: 2.0,
            loader_seek_pending: false,
            next_sequence: None,
            level_forced: false,
            decoded_frames: None,
        }
    }

    fn stalled(actions: &[Action]) -> Option<u32> {
        actions.iter().find_map(|a| match a {
            Action::Stalled { count, .. } => Some(*count),
            _ => None,
        })
    }

    #[test]
    fn a_playhead_that_stops_with_nothing_ahead_is_one_stall_until_it_moves_again() {
        let config = PlayerConfig::default();
        let tl = timeline(2, None);
        let buffered = [(0.0, 4.0)];
        let mut m = Monitor::default();
        // Plays up to the end of the buffer, 250 ms ticks.
        let mut now = 0.0;
        let mut position = 0.0;
        while position < 3.9 {
            assert!(stalled(&m.tick(&config, tick(now, position, &buffered, &tl))).is_none());
            now += 250.0;
            position = (position + 0.25).min(3.9);
        }
        // Stuck at 3.9 with 0.1 s ahead: a stall once more than a second passed.
        let mut counts = Vec::new();
        for _ in 0..12 {
            counts.push(stalled(&m.tick(&config, tick(now, 3.9, &buffered, &tl))));
            now += 250.0;
        }
        let at = counts.iter().position(Option::is_some).expect("a stall");
        assert!((4..=6).contains(&at), "stall reported at tick {at}: {counts:?}");
        assert_eq!(counts.iter().flatten().collect::<Vec<_>>(), vec![&1], "counted once");
        assert_eq!(m.stalls(), 1);
        let stalled_ms = m.stalled_ms(now);
        assert!(stalled_ms > 1000.0, "{stalled_ms}");
        // More media, the playhead moves: the stall ends and its time is kept.
        let more = [(0.0, 8.0)];
        m.tick(&config, tick(now, 4.0, &more, &tl));
        assert_eq!(m.stalled_ms(now + 10_000.0), m.stalled_ms(now), "no longer growing");
        // And a second stall counts as the second.
        let mut second = None;
        for k in 1..12 {
            second = second.or(stalled(&m.tick(&config, tick(now + k as f64 * 250.0, 7.9, &more, &tl))));
        }
        assert_eq!(second, Some(2));
    }

    #[test]
    fn no_stall_while_paused_seeking_ended_or_with_buffer_ahead_and_none_before_playback_starts() {
        let config = PlayerConfig::default();
        let tl = timeline(2, None);
        let buffered = [(0.0, 4.0)];
        for (what, paused, seeking, ended, position, buffered) in [
            ("paused", true, false, false, 3.9, &buffered[..]),
            ("seeking", false, true, false, 3.9, &buffered[..]),
            ("ended", false, false, true, 3.9, &buffered[..]),
            ("buffer ahead (a decoder slow to start)", false, false, false, 1.0, &buffered[..]),
        ] {
            let mut m = Monitor::default();
            m.tick(&config, tick(0.0, 0.0, buffered, &tl));
            m.tick(&config, tick(250.0, position, buffered, &tl));
            for k in 2..20 {
                let t = Tick { paused, seeking, ended, ..tick(k as f64 * 250.0, position, buffered, &tl) };
                assert!(stalled(&m.tick(&config, t)).is_none(), "{what}: no stall");
            }
        }
        // Never moved (autoplay refused): not a stall either.
        let mut m = Monitor::default();
        for k in 0..20 {
            assert!(stalled(&m.tick(&config, tick(k as f64 * 250.0, 0.0, &[], &tl))).is_none());
        }
        assert!(!m.started());
    }

    #[test]
    fn a_stall_asks_for_an_emergency_switch_only_with_automatic_levels() {
        let config = PlayerConfig::default();
        let tl = timeline(2, None);
        let buffered = [(0.0, 4.0)];
        for forced in [false, true] {
            let mut m = Monitor::default();
            m.tick(&config, tick(0.0, 3.0, &buffered, &tl));
            m.tick(&config, tick(250.0, 3.9, &buffered, &tl));
            let actions: Vec<Action> = (2..12).flat_map(|k| m.tick(&config, Tick { level_forced: forced, ..tick(k as f64 * 250.0, 3.9, &buffered, &tl) })).collect();
            assert!(stalled(&actions).is_some());
            assert_eq!(actions.contains(&Action::Emergency), !forced, "forced {forced}: {actions:?}");
        }
    }

    #[test]
    fn holes_are_jumped_up_to_the_limit_and_a_stuck_playhead_near_a_range_end_counts_as_in_one() {
        let config = PlayerConfig::default();
        let tl = timeline(4, None);
        let mut m = Monitor::default();
        // Media starts at 0.6: jump to it.
        assert_eq!(m.tick(&config, tick(0.0, 0.0, &[(0.6, 4.0)], &tl)), vec![Action::Seek(0.61)]);
        // A 1.5 s hole: jumped; a 3 s one: not, unless the limit allows it.
        let holed = [(0.0, 4.0), (5.5, 8.0)];
        assert_eq!(m.tick(&config, tick(250.0, 4.0, &holed, &tl)), vec![Action::Seek(5.51)]);
        let wide = [(0.0, 4.0), (7.0, 8.0)];
        assert!(!m.tick(&config, tick(500.0, 4.0, &wide, &tl)).iter().any(|a| matches!(a, Action::Seek(_))));
        assert_eq!(m.tick(&config, Tick { hole_limit: f64::INFINITY, ..tick(750.0, 4.0, &wide, &tl) }), vec![Action::Seek(7.01)]);
        // A playhead stuck 0.2 s before its range's end (a video stopping a frame early)
        // is in the hole; one still moving there is not.
        let mut m = Monitor::default();
        let near = [(0.0, 4.0), (4.5, 8.0)];
        assert!(m.tick(&config, tick(0.0, 3.6, &near, &tl)).is_empty());
        assert!(!m.tick(&config, tick(250.0, 3.8, &near, &tl)).iter().any(|a| matches!(a, Action::Seek(_))), "moving");
        assert_eq!(m.tick(&config, tick(500.0, 3.8, &near, &tl)), vec![Action::Seek(4.51)], "stuck");
    }

    #[test]
    fn a_media_reset_starts_playback_over_and_keeps_the_counts() {
        let config = PlayerConfig::default();
        let tl = timeline(2, None);
        let buffered = [(0.0, 4.0)];
        let mut m = Monitor::default();
        m.tick(&config, tick(0.0, 3.0, &buffered, &tl));
        for k in 1..10 {
            m.tick(&config, tick(k as f64 * 250.0, 3.9, &buffered, &tl));
        }
        assert_eq!(m.stalls(), 1);
        m.media_reset(3000.0);
        assert_eq!((m.stalls(), m.started(), m.playback_rate()), (1, false, 1.0));
        let stalled_ms = m.stalled_ms(3000.0);
        assert!(stalled_ms > 0.0 && m.stalled_ms(60_000.0) == stalled_ms, "the stall ended at the reset");
        // The new buffer starts at 0: not a seek back, and not a stall before it plays.
        for k in 0..10 {
            assert!(stalled(&m.tick(&config, tick(3000.0 + k as f64 * 250.0, 0.0, &buffered, &tl))).is_none());
        }
        assert!(!m.dvr());
    }

    #[test]
    fn a_decode_error_is_reported_before_anything_else() {
        let config = PlayerConfig::default();
        let tl = timeline(1, None);
        let mut m = Monitor::default();
        let actions = m.tick(&config, Tick { media_error: Some("PIPELINE_ERROR_DECODE"), ..tick(0.0, 0.0, &[(0.6, 2.0)], &tl) });
        assert_eq!(actions, vec![Action::MediaFailed("the video element failed to decode: PIPELINE_ERROR_DECODE".into())]);
    }

    /// A live tick: the playlist loaded just now, the loader at the segment after the
    /// timeline's last.
    fn live_tick<'a>(m: &mut Monitor, config: &PlayerConfig, now_ms: f64, position: f64, buffered: &'a [(f64, f64)], tl: &'a Timeline, p: &'a MediaPlaylist) -> Vec<Action> {
        m.tick(config, Tick { playlist: Some((p, now_ms)), next_sequence: Some(10 + tl.len() as u64), ..tick(now_ms, position, buffered, tl) })
    }

    #[test]
    fn live_latency_drives_the_catch_up_rate_and_one_event_a_second() {
        let config = PlayerConfig::default(); // target = 3 segments × 2 s = 6 s
        let t0 = 1_000_000.0;
        let p = playlist(8, false, Some(t0));
        let tl = timeline(8, Some(t0));
        let buffered = [(0.0, 16.0)];
        let mut m = Monitor::default();
        // Playhead at 4 s of media dated t0 + 4 s; now t0 + 12 s: 8 s behind, 12 s buffered.
        let mut events = 0;
        let mut rates = Vec::new();
        for k in 0..8 {
            let step = k as f64 * 250.0;
            let actions = live_tick(&mut m, &config, t0 + 12_000.0 + step, 4.0 + step / 1000.0, &buffered, &tl, &p);
            events += actions.iter().filter(|a| matches!(a, Action::Latency { .. })).count();
            rates.extend(actions.iter().filter_map(|a| if let Action::SetRate(r) = a { Some(*r) } else { None }));
        }
        assert_eq!(events, 2, "one latency event a second over 2 s");
        assert!((m.latency().unwrap() - 8.0).abs() < 0.01, "{:?}", m.latency());
        assert_eq!(rates.len(), 1, "the rate is set once: {rates:?}");
        assert_eq!(rates[0], live::stepped_rate(live::catch_up_rate(8.0, 6.0, config.max_catch_up_rate, 12.0), 1.0, config.max_catch_up_rate));
        assert!(m.playback_rate() > 1.0);
        // Paused: the latency is measured, the rate left alone.
        let before = m.playback_rate();
        let actions = m.tick(&config, Tick { paused: true, playlist: Some((&p, t0 + 20_000.0)), ..tick(t0 + 20_000.0, 6.0, &buffered, &tl) });
        assert!(actions.is_empty(), "{actions:?}");
        assert_eq!(m.playback_rate(), before);
    }

    /// Ticks `ticks` times, 250 ms apart, 8 s behind a live playlist dated from `t0`, the
    /// playhead moving at the rate last set and the element's decoded frames at tick `k`
    /// given by `frames(k)`; the actions of each tick.
    fn run_live(m: &mut Monitor, config: &PlayerConfig, t0: f64, ticks: usize, frames: impl Fn(usize) -> u64) -> Vec<Vec<Action>> {
        let p = playlist(8, false, Some(t0));
        let tl = timeline(8, Some(t0));
        let buffered = [(0.0, 16.0)];
        (0..ticks)
            .map(|k| {
                let step = k as f64 * 250.0;
                let position = 4.0 + m.playback_rate() * step / 1000.0;
                let t = Tick { playlist: Some((&p, t0 + 12_000.0 + step)), next_sequence: Some(18), decoded_frames: Some(frames(k)), ..tick(t0 + 12_000.0 + step, position, &buffered, &tl) };
                m.tick(config, t)
            })
            .collect()
    }

    #[test]
    fn a_rate_change_that_freezes_the_picture_turns_catch_up_off_for_the_session() {
        let config = PlayerConfig::default();
        let t0 = 1_000_000.0;
        // 8 s behind (target 6): catch-up sets 1.1 at the first tick. The pipeline flushes
        // (the count starts again), decodes a few frames, then no more while time runs on.
        let mut m = Monitor::default();
        let frozen = run_live(&mut m, &config, t0, 16, |k| if k == 0 { 500 } else { 20 + (k.min(3) as u64) });
        let rates: Vec<f64> = frozen.iter().flatten().filter_map(|a| if let Action::SetRate(r) = a { Some(*r) } else { None }).collect();
        assert!(m.catch_up_off(), "catch-up turned off: {frozen:?}");
        assert_eq!(rates.first().copied(), Some(1.1));
        assert_eq!(rates.last().copied(), Some(1.0), "back to rate 1: {rates:?}");
        assert_eq!(m.playback_rate(), 1.0);
        // Still 8 s behind later: no rate is set again; a media reset keeps it off.
        m.media_reset(t0 + 20_000.0);
        let later = run_live(&mut m, &config, t0 + 10_000.0, 8, |k| 1000 + 8 * k as u64);
        assert!(later.iter().flatten().all(|a| !matches!(a, Action::SetRate(_))), "{later:?}");

        // The same change with frames coming (even after a flush that restarts the count):
        // catch-up stays on.
        let mut m = Monitor::default();
        let fine = run_live(&mut m, &config, t0, 30, |k| if k == 0 { 500 } else { 8 * k as u64 });
        assert!(!m.catch_up_off(), "{fine:?}");
        assert!(m.playback_rate() > 1.0);

        // An element that does not count frames: nothing is judged.
        let mut m = Monitor::default();
        let p = playlist(8, false, Some(t0));
        let tl = timeline(8, Some(t0));
        let buffered = [(0.0, 16.0)];
        for k in 0..30 {
            let step = k as f64 * 250.0;
            let t = Tick { playlist: Some((&p, t0 + 12_000.0 + step)), ..tick(t0 + 12_000.0 + step, 4.0 + m.playback_rate() * step / 1000.0, &buffered, &tl) };
            m.tick(&config, t);
        }
        assert!(!m.catch_up_off());
    }

    #[test]
    fn far_behind_the_edge_it_seeks_to_buffered_media_or_asks_the_loader_to_load_the_edge() {
        let config = PlayerConfig::default(); // max latency 6 + 3 × 2 = 12 s
        let t0 = 1_000_000.0;
        let p = playlist(10, false, Some(t0)); // sequences 10..=19, edge start 17
        // Buffered up to the edge: a seek to segment 17's start.
        let all = timeline(10, Some(t0));
        let buffered = [(0.0, 20.0)];
        let mut m = Monitor::default();
        let actions = live_tick(&mut m, &config, t0 + 30_000.0, 2.0, &buffered, &all, &p);
        assert_eq!(actions, vec![Action::Seek(14.05)], "segment 17 starts at 14 s");
        // Only the first 3 appended: load 17 next, placed where the playlist puts it.
        let few = timeline(3, Some(t0));
        let buffered = [(0.0, 6.0)];
        let mut m = Monitor::default();
        let actions = live_tick(&mut m, &config, t0 + 30_000.0, 2.0, &buffered, &few, &p);
        assert!(matches!(actions.first(), Some(Action::LoadFrom { sequence: 17, place_at: Some(_) })), "{actions:?}");
        // Not twice while the loader's seek is pending, nor when the loader is past it.
        let mut m = Monitor::default();
        let t = Tick { playlist: Some((&p, t0 + 30_000.0)), loader_seek_pending: true, next_sequence: Some(13), ..tick(t0 + 30_000.0, 2.0, &buffered, &few) };
        assert!(!m.tick(&config, t).iter().any(|a| matches!(a, Action::LoadFrom { .. })));
        let t = Tick { playlist: Some((&p, t0 + 30_000.0)), next_sequence: Some(18), ..tick(t0 + 30_000.0, 2.0, &buffered, &few) };
        assert!(!Monitor::default().tick(&config, t).iter().any(|a| matches!(a, Action::LoadFrom { .. })));
    }

    #[test]
    fn a_viewer_seeking_back_is_dvr_no_catch_up_no_jump_until_back_near_the_edge() {
        let config = PlayerConfig::default();
        let t0 = 1_000_000.0;
        let p = playlist(10, false, Some(t0));
        let tl = timeline(10, Some(t0));
        let buffered = [(0.0, 20.0)];
        let mut m = Monitor::default();
        // Near the edge: 6 s behind.
        live_tick(&mut m, &config, t0 + 20_000.0, 14.0, &buffered, &tl, &p);
        assert!(!m.dvr());
        // The viewer seeks 12 s back: 18 s behind, past the 12 s maximum, but no jump.
        for k in 1..=8 {
            let actions = live_tick(&mut m, &config, t0 + 20_000.0 + k as f64 * 250.0, 2.0 + k as f64 * 0.25, &buffered, &tl, &p);
            assert!(!actions.iter().any(|a| matches!(a, Action::Seek(_) | Action::LoadFrom { .. })), "{actions:?}");
            assert_eq!(m.playback_rate(), 1.0);
        }
        assert!(m.dvr());
        // Back near the edge (the viewer pressed "go live"): DVR ends, catch-up again.
        live_tick(&mut m, &config, t0 + 23_000.0, 16.5, &buffered, &tl, &p);
        assert!(!m.dvr(), "latency {:?}", m.latency());
        // A playhead before all media, put there by nobody but the viewer, is DVR too; the
        // player's own pending seek is not.
        let mut m = Monitor::default();
        live_tick(&mut m, &config, t0 + 20_000.0, 2.0, &[(10.0, 20.0)], &tl, &p);
        assert!(m.dvr());
        let mut m = Monitor::default();
        let t = Tick { playlist: Some((&p, t0 + 20_000.0)), loader_seek_pending: true, ..tick(t0 + 20_000.0, 2.0, &[(10.0, 20.0)], &tl) };
        m.tick(&config, t);
        assert!(!m.dvr());
    }

    #[test]
    fn a_finished_playlist_plays_at_rate_one_with_no_latency() {
        let config = PlayerConfig::default();
        let t0 = 1_000_000.0;
        let live = playlist(10, false, Some(t0));
        let vod = playlist(10, true, Some(t0));
        let tl = timeline(10, Some(t0));
        let buffered = [(0.0, 20.0)];
        let mut m = Monitor::default();
        live_tick(&mut m, &config, t0 + 20_000.0, 8.0, &buffered, &tl, &live);
        assert!(m.playback_rate() > 1.0 && m.latency().is_some());
        let actions = live_tick(&mut m, &config, t0 + 20_250.0, 8.25, &buffered, &tl, &vod);
        assert_eq!(actions, vec![Action::SetRate(1.0)]);
        assert_eq!(m.latency(), None);
        assert!(live_tick(&mut m, &config, t0 + 20_500.0, 8.5, &buffered, &tl, &vod).is_empty());
    }
}
