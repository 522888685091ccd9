//! `Player`: HLS playback through Media Source Extensions, modelled on hls.js's API.
//!
//! Decisions (levels, ABR, live edge, retries, eviction) are made by `crate::player`, plain
//! Rust tested natively; this module performs them: it fetches playlists and segments
//! (`fetch`), turns MPEG-TS into fMP4 with `livecast_core::fmp4::Transmuxer` (fMP4 input
//! passes through) and appends to one `SourceBuffer` in `sequence` mode (`mse`), and
//! reports events. This file holds the `Player` class and the loader. The Promise wrappers
//! around the browser's APIs are in `js/player-mse.js`.
//!
//! Two loops run while a stream plays: the loader (playlists, segments, appends, eviction)
//! and a 250 ms monitor (stalls, latency, catch-up rate, jumps to the live edge, holes).
//!
//! Transmuxing runs on the page's thread, not in a Worker: the E2E long run
//! (`tests/e2e/player.test.mjs`, 3 minutes of a 720p ladder in 1 s TS segments) watches
//! with a `longtask` PerformanceObserver and sees no long task (≥ 50 ms) after start-up, so
//! a Worker would only add copies and latency. Move it if that test starts failing.

use super::events::Events;
use super::interop::{object, OptionsReader};
use crate::player::abr::{self, AbrInput, Estimator};
use crate::player::buffer;
use crate::player::error::{ErrorDetails, ParseFailures};
use crate::player::levels::{self, Choice, LevelView, Mode};
use crate::player::live;
use crate::player::loader::{self, LoaderInput, Next};
use crate::player::monitor::{Action as MonitorAction, Monitor, Tick};
use crate::player::playlist::{self, MediaPlaylist, Parsed, Variant};
use crate::player::seek;
use crate::player::timeline::{Entry, Timeline};
use crate::player::{Backoff, PlayerConfig, PlayerError, RetryPolicy};
use crate::{ErrorCode, LivecastError};
use js_sys::{Array, Float64Array, Function, Promise, Reflect, Uint8Array};
use livecast_core::fmp4::{probe_init, SegmentOptions, Transmuxer};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{EventTarget, HtmlMediaElement};

mod fetch;
mod monitor;
mod mse;
use fetch::{get_required, get_with_retry, Fetched};
use monitor::monitor;
use mse::{append, finish, open_pipeline, prepare, recover, remove, set_vod_duration, Failed};

#[wasm_bindgen(module = "/js/player-mse.js")]
extern "C" {
    #[wasm_bindgen(js_name = mseSupported)]
    fn mse_supported() -> bool;
    #[wasm_bindgen(js_name = typeSupported)]
    fn type_supported(mime: &str) -> bool;
    #[wasm_bindgen(js_name = openMediaSource)]
    fn open_media_source(video: &HtmlMediaElement) -> Promise;
    #[wasm_bindgen(js_name = streamingWanted)]
    fn streaming_wanted(ms: &JsValue) -> bool;
    #[wasm_bindgen(js_name = addSourceBuffer, catch)]
    fn add_source_buffer(ms: &JsValue, mime: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = changeType, catch)]
    fn change_type(sb: &JsValue, mime: &str) -> Result<(), JsValue>;
    #[wasm_bindgen(js_name = appendBuffer)]
    fn append_buffer(sb: &JsValue, bytes: &Uint8Array) -> Promise;
    #[wasm_bindgen(js_name = removeRange)]
    fn remove_range(sb: &JsValue, start: f64, end: f64) -> Promise;
    #[wasm_bindgen(js_name = endOfStream)]
    fn end_of_stream(ms: &JsValue, sb: &JsValue) -> Promise;
    #[wasm_bindgen(js_name = setTimestampOffset, catch)]
    fn set_timestamp_offset(sb: &JsValue, seconds: f64) -> Result<(), JsValue>;
    #[wasm_bindgen(js_name = setLiveSeekableRange)]
    fn set_live_seekable_range(ms: &JsValue, start: f64, end: f64);
    #[wasm_bindgen(js_name = setDuration)]
    fn set_duration(ms: &JsValue, sb: &JsValue, seconds: f64) -> Promise;
    #[wasm_bindgen(js_name = bufferedRanges)]
    fn buffered_ranges(target: &JsValue) -> Float64Array;
    #[wasm_bindgen(js_name = fetchBytes)]
    fn fetch_bytes(url: &str, timeout_ms: f64, seek_target: Option<&EventTarget>, is_superseded: Option<&Function>) -> Promise;
    #[wasm_bindgen(js_name = resolveUrl, catch)]
    fn resolve_url(relative: &str, base: &str) -> Result<String, JsValue>;
    #[wasm_bindgen(js_name = sleep)]
    fn sleep_promise(ms: f64) -> Promise;
    #[wasm_bindgen(js_name = sleepUntilEvent)]
    fn sleep_until_event(target: &EventTarget, kind: &str, ms: f64) -> Promise;
}

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** A retry policy: how often and how patiently a request is retried. */
export interface PlayerRetryPolicy {
  /** Retries after the first attempt. */
  maxRetries?: number;
  /** Delay before the first retry, ms. */
  retryDelayMs?: number;
  /** How the delay grows. */
  backoff?: "constant" | "linear" | "exponential";
}

/** Options of `new Player(video, config)`. Every one has a default. */
export interface PlayerConfig {
  /** Segments behind the live edge where playback starts. Default 3 (as hls.js). */
  liveSyncSegments?: number;
  /** Latency catch-up aims at, s. Default: `liveSyncSegments` × the target duration. */
  targetLatencySeconds?: number;
  /** Latency beyond which the player jumps to the live edge, s. Default: the target plus three target durations. */
  maxLatencySeconds?: number;
  /** Fastest catch-up playback rate, 1..2 (1: no catch-up). Default 1.1. */
  maxCatchUpRate?: number;
  /** Media loaded ahead of the playhead, s. Default 30. */
  maxBufferSeconds?: number;
  /** Media kept behind the playhead, s (older media is removed from the SourceBuffer). Default 30. */
  backBufferSeconds?: number;
  /** Playlist loads and live reloads. Default `{ maxRetries: 4, retryDelayMs: 500, backoff: "exponential" }`. */
  playlistRetry?: PlayerRetryPolicy;
  /** Segment loads; a segment still failing after them is skipped. Default `{ maxRetries: 3, retryDelayMs: 250, backoff: "exponential" }`. */
  segmentRetry?: PlayerRetryPolicy;
  /** Request timeout, ms. Default 10000. */
  requestTimeoutMs?: number;
  /** Throughput assumed before the first download, bit/s. Default 1000000. */
  defaultBandwidth?: number;
  /** Level to start with. Default: chosen from `defaultBandwidth`. */
  startLevel?: number;
}

/** One rendition. */
export interface PlayerLevel {
  /** "720p", or the bit rate when the playlist gives no resolution. */
  name: string;
  width: number | null;
  height: number | null;
  /** BANDWIDTH of the master playlist (bit/s); 0 for a lone media playlist. */
  bitrate: number;
  /** Its media playlist's URL. */
  url: string;
}

/** What failed, by hls.js's names (the Player `error` event's `details`). */
export type PlayerErrorDetails =
  | "manifestLoadError" | "manifestParsingError" | "levelLoadError" | "fragLoadError"
  | "fragGap" | "fragParsingError" | "bufferAppendError" | "bufferFullError" | "mediaError";

/**
 * The `error` event's detail: Livecast's `code`/`message`/`fatal` plus hls.js's `type` and
 * `details`. When `fatal` is true, playback stopped; call `load` again or give up.
 */
export interface PlayerErrorEvent extends LivecastErrorEvent {
  type: "network" | "media" | "mux" | "other";
  details: PlayerErrorDetails;
  /** The media sequence number of the segment concerned, if any. */
  sequence?: number;
  /** The URL concerned, if any. */
  url?: string;
}

/** Playback statistics (the `stats` getter). */
export interface PlayerStats {
  /** Throughput estimate, bit/s. */
  bandwidthEstimate: number;
  /** Media buffered ahead of the playhead, s. */
  bufferSeconds: number;
  /** Seconds behind live (null for VOD or before playback). */
  latency: number | null;
  /** Level of the segment playing (-1 before any). */
  level: number;
  /** Stalls since `load`, and their total time. */
  stalls: number;
  stalledMs: number;
  /** Segments appended, skipped (failed after retries, or gaps on every level). */
  fragments: number;
  skipped: number;
  /** Segment downloads (VOD) aborted because a seek made them unneeded. */
  abortedBySeek: number;
  /** SourceBuffer pipeline resets after media errors (at most one). */
  mediaResets: number;
  /** "mse" or "native" (the browser plays HLS itself). */
  mode: string;
  /** The audio codec of what plays (e.g. `"mp4a.40.2"`), null without audio (or in native mode). */
  audioCodec: string | null;
  /**
   * True once the Player turned live catch-up by playback rate off for this session: a rate
   * change froze the picture (WebKitGTK with sound). It then keeps near the edge by jumps.
   */
  catchUpOff: boolean;
}

/** Events and their details. */
export interface PlayerEventMap {
  manifestLoaded: { url: string; levels: PlayerLevel[]; live: boolean };
  levelSwitched: { level: number; previous: number; auto: boolean };
  fragmentBuffered: { sequence: number; level: number; duration: number; bytes: number; loadMs: number; start: number; end: number };
  stalled: { position: number; count: number; level: number };
  latency: { latency: number; target: number; playbackRate: number };
  error: PlayerErrorEvent;
}

export interface Player {
  /** hls.js-style subscription, typed per event; returns a function that unsubscribes. */
  on<K extends keyof PlayerEventMap>(kind: K, callback: (detail: PlayerEventMap[K]) => void): () => void;
}
"#;

/// Events sent by the player.
const EVENTS: [&str; 6] = ["manifestLoaded", "levelSwitched", "fragmentBuffered", "stalled", "latency", "error"];

/// A level: its variant, resolved URL and latest playlist.
struct Level {
    variant: Variant,
    url: String,
    playlist: Option<MediaPlaylist>,
    loaded_at_ms: f64,
    /// Failed reloads in a row.
    failures: u32,
}

/// The SourceBuffer side.
struct Pipeline {
    media_source: JsValue,
    source_buffer: Option<JsValue>,
    mime: String,
    /// The init segment last appended (by content), so it is appended again only on change.
    init: Option<Vec<u8>>,
    transmuxer: Transmuxer,
    /// The MediaSource's duration was set to the VOD's length.
    duration_set: bool,
}


struct Inner {
    config: PlayerConfig,
    video: HtmlMediaElement,
    events: Events,
    /// Bumped by `load` and `destroy`: loops of an older session end.
    session: u32,
    destroyed: bool,
    native: bool,
    levels: Vec<Level>,
    /// Level of the last appended segment (-1: none).
    loaded_level: Option<usize>,
    /// `currentLevel` set by the page (None: auto).
    forced_level: Option<usize>,
    next_sequence: Option<u64>,
    estimator: Estimator,
    timeline: Timeline,
    pipeline: Option<Pipeline>,
    /// The MediaSource `load` attached at once (resolves when open): the element has its
    /// new source before `load` returns, so a `video.play()` right after it is not aborted
    /// by a later change of `src` (WebKit rejects it with an AbortError).
    pending_source: Option<Promise>,
    init_cache: HashMap<String, Vec<u8>>,
    media_resets: u32,
    /// The audio track's codec of the last init segment appended (`mp4a.40.2`), if any.
    audio_codec: Option<String>,
    /// The video element reported a decode error (seen by the monitor, handled by the loader).
    media_failed: Option<String>,
    emergency: bool,
    /// After a jump to the edge: seek to the start of this sequence once appended.
    seek_to_sequence: Option<u64>,
    /// VOD: where the next segment must start in the SourceBuffer (after a seek outside the
    /// buffer); `None` appends it after the previous one.
    place_next_at: Option<f64>,
    /// VOD: where the playlist's clock starts in the SourceBuffer, s (set by the first append).
    vod_origin: Option<f64>,
    /// Segments given up this session (failed after retries, gaps, unparsable, media errors).
    failed: HashSet<u64>,
    ended_stream: bool,
    /// Lowered after a QuotaExceededError that eviction could not solve.
    buffer_cap_s: Option<f64>,
    /// Stalls, holes, DVR (the loader then follows the viewer's seeks as in a VOD),
    /// latency and catch-up: see [`Monitor`].
    monitor: Monitor,
    fragments: u32,
    skipped: u32,
    /// Bad segments in a row (back-off, then fatal).
    parse_failures: ParseFailures,
    /// Segment downloads aborted because a seek made them unneeded.
    superseded: u32,
}

type Shared = Rc<RefCell<Inner>>;

/// HLS playback in a `<video>` element, with hls.js's conventions.
///
/// Seek a VOD with the element's `currentTime`, as with hls.js: the element's `duration` is
/// the playlist's length, and a position outside the buffer loads the segment holding it.
///
/// ```js
/// import init, { Player } from 'livecast';
/// await init();
/// if (Player.isSupported()) {
///   const player = new Player(document.querySelector('video'), { liveSyncSegments: 2 });
///   player.on('levelSwitched', ({ level }) => console.log(player.levels[level].name));
///   player.on('error', (e) => e.fatal && console.error(e.details, e.message));
///   player.load('https://relay.example.com/hls/STREAM/master.m3u8');
/// }
/// ```
#[wasm_bindgen]
pub struct Player {
    inner: Shared,
}

#[wasm_bindgen]
extern "C" {
    /// The Player's options as the page passed them: typed `PlayerConfig`, and optional
    /// (`config?: PlayerConfig | null`), unlike an `unchecked_param_type` parameter.
    #[wasm_bindgen(typescript_type = "PlayerConfig")]
    pub type PlayerConfigValue;
}

#[wasm_bindgen]
impl Player {
    /// Whether this browser can play through the Player: Media Source Extensions with
    /// fMP4 H.264. (Where it cannot but plays HLS natively, `load` falls back to that.)
    #[wasm_bindgen(js_name = isSupported)]
    pub fn is_supported() -> bool {
        mse_supported()
    }

    /// A player for `video` (`config` optional: every option has a default); throws
    /// `INVALID_CONFIG` (TypeError or RangeError) naming a bad option.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "HTMLVideoElement")] video: JsValue,
        config: Option<PlayerConfigValue>,
    ) -> Result<Player, JsValue> {
        let config = config.map_or(JsValue::UNDEFINED, JsValue::from);
        let video = video.dyn_into::<HtmlMediaElement>().map_err(|_| LivecastError::ConfigType {
            object: "Player",
            message: "the first argument must be a <video> element".into(),
        })?;
        let config = parse_config(&config)?;
        let estimator = Estimator::new(config.default_bandwidth_bps);
        let inner = Inner {
            config,
            video,
            events: Events::new("Player", &EVENTS)?,
            session: 0,
            destroyed: false,
            native: false,
            levels: Vec::new(),
            loaded_level: None,
            forced_level: None,
            next_sequence: None,
            estimator,
            timeline: Timeline::default(),
            pipeline: None,
            pending_source: None,
            init_cache: HashMap::new(),
            media_resets: 0,
            audio_codec: None,
            media_failed: None,
            emergency: false,
            seek_to_sequence: None,
            place_next_at: None,
            vod_origin: None,
            failed: HashSet::new(),
            ended_stream: false,
            buffer_cap_s: None,
            monitor: Monitor::default(),
            fragments: 0,
            skipped: 0,
            parse_failures: ParseFailures::default(),
            superseded: 0,
        };
        Ok(Player { inner: Rc::new(RefCell::new(inner)) })
    }

    /// Starts playing the master or media playlist at `url` (relative URLs resolve against
    /// the page). Progress and failures are events; calling it again replaces the stream.
    pub fn load(&self, url: &str) -> Result<(), JsValue> {
        let base = web_sys::window().and_then(|w| w.location().href().ok()).unwrap_or_default();
        let url = resolve_url(url, &base).map_err(|_| LivecastError::ConfigType { object: "Player", message: format!("`{url}` is not a URL") })?;
        let session = {
            let mut i = self.inner.borrow_mut();
            if i.destroyed {
                return Err(LivecastError::Freed("Player").into());
            }
            i.session += 1;
            reset_session(&mut i);
            i.session
        };
        if !mse_supported() {
            let native = self.inner.borrow().video.can_play_type("application/vnd.apple.mpegurl");
            if native.is_empty() {
                return Err(player_error(ErrorCode::PlaybackUnsupported, "this browser has neither Media Source Extensions for H.264 nor native HLS").into());
            }
            let mut i = self.inner.borrow_mut();
            i.native = true;
            i.video.set_src(&url);
            return Ok(());
        }
        {
            let mut i = self.inner.borrow_mut();
            let source = open_media_source(&i.video);
            i.pending_source = Some(source);
        }
        let inner = self.inner.clone();
        spawn_local(async move {
            if let Err(e) = run(&inner, session, &url).await {
                if alive(&inner, session) {
                    report(&inner, &e, ErrorDetails::fatal(&e), true, None);
                }
            }
        });
        let inner = self.inner.clone();
        spawn_local(async move { monitor(&inner, session).await });
        Ok(())
    }

    /// Stops loading, detaches from the video element and frees the media. The object
    /// cannot be used again.
    pub fn destroy(&self) {
        let mut i = self.inner.borrow_mut();
        if i.destroyed {
            return;
        }
        i.destroyed = true;
        i.session += 1;
        reset_session(&mut i);
        let _ = i.video.remove_attribute("src");
        i.video.load();
    }

    /// The renditions (lowest bit rate first), empty before `manifestLoaded`.
    #[wasm_bindgen(getter, unchecked_return_type = "PlayerLevel[]")]
    pub fn levels(&self) -> Array {
        self.inner.borrow().levels.iter().map(level_to_js).collect()
    }

    /// Level of the segment playing now, -1 before any; see `nextLevel` for loads.
    #[wasm_bindgen(getter, js_name = currentLevel)]
    pub fn current_level(&self) -> i32 {
        let i = self.inner.borrow();
        let position = i.video.current_time();
        i.timeline.at(position).map_or(-1, |e| e.level as i32)
    }

    /// Forces a level (from the next segment on), or -1 for automatic selection.
    #[wasm_bindgen(setter, js_name = currentLevel)]
    pub fn set_current_level(&self, level: i32) -> Result<(), JsValue> {
        let mut i = self.inner.borrow_mut();
        if level == -1 {
            i.forced_level = None;
            return Ok(());
        }
        let count = i.levels.len();
        if level < 0 || level as usize >= count {
            return Err(LivecastError::InvalidConfig {
                object: "Player",
                message: format!("currentLevel must be -1 (auto) or 0..{count}, got {level}"),
            }
            .into());
        }
        i.forced_level = Some(level as usize);
        Ok(())
    }

    /// Level the next segment will be loaded from (-1 before the first).
    #[wasm_bindgen(getter, js_name = nextLevel)]
    pub fn next_level(&self) -> i32 {
        let i = self.inner.borrow();
        i.forced_level.or(i.loaded_level).map_or(-1, |l| l as i32)
    }

    /// Whether the level is chosen automatically (`currentLevel` is -1).
    #[wasm_bindgen(getter, js_name = autoLevelEnabled)]
    pub fn auto_level_enabled(&self) -> bool {
        self.inner.borrow().forced_level.is_none()
    }

    /// Seconds behind live, from EXT-X-PROGRAM-DATE-TIME (from the playlist without it);
    /// `undefined` for VOD and before playback.
    #[wasm_bindgen(getter)]
    pub fn latency(&self) -> Option<f64> {
        self.inner.borrow().monitor.latency()
    }

    /// Live: where "go live" should seek (as hls.js's `liveSyncPosition`): the end of the
    /// playlist's window less the target latency, on the element's clock. `undefined` for
    /// VOD and before the first segment is buffered.
    #[wasm_bindgen(getter, js_name = liveSyncPosition)]
    pub fn live_sync_position(&self) -> Option<f64> {
        let i = self.inner.borrow();
        let level = i.loaded_level?;
        let p = i.levels.get(level)?.playlist.as_ref()?;
        let (_, end) = seek::live_window(p, &i.timeline)?;
        Some((end - i.config.target_latency(p.target_duration)).max(0.0))
    }

    /// Throughput estimate, bit/s.
    #[wasm_bindgen(getter, js_name = bandwidthEstimate)]
    pub fn bandwidth_estimate(&self) -> f64 {
        self.inner.borrow().estimator.estimate_bps()
    }

    /// Playback statistics.
    #[wasm_bindgen(getter, unchecked_return_type = "PlayerStats")]
    pub fn stats(&self) -> JsValue {
        let i = self.inner.borrow();
        let position = i.video.current_time();
        let ahead = buffer::ahead(&pairs(&buffered_ranges(&i.video)), position);
        object(&[
            ("bandwidthEstimate", i.estimator.estimate_bps().into()),
            ("bufferSeconds", ahead.into()),
            ("latency", i.monitor.latency().map_or(JsValue::NULL, JsValue::from)),
            ("level", i.timeline.at(position).map_or(-1, |e| e.level as i32).into()),
            ("stalls", i.monitor.stalls().into()),
            ("stalledMs", i.monitor.stalled_ms(now_ms()).into()),
            ("fragments", i.fragments.into()),
            ("skipped", i.skipped.into()),
            ("abortedBySeek", i.superseded.into()),
            ("mediaResets", i.media_resets.into()),
            ("mode", if i.native { "native" } else { "mse" }.into()),
            ("audioCodec", i.audio_codec.as_deref().map_or(JsValue::NULL, JsValue::from)),
            ("catchUpOff", i.monitor.catch_up_off().into()),
        ])
        .into()
    }

    /// Adds a listener for one of `PlayerEventMap`'s events; it receives a `CustomEvent`
    /// whose `detail` is the payload.
    /// Throws `INVALID_CONFIG` (a `TypeError`) for a name this object never fires.
    #[wasm_bindgen(js_name = addEventListener)]
    pub fn add_event_listener(&self, kind: &str, listener: &Function) -> Result<(), JsValue> {
        self.inner.borrow().events.add(kind, listener)
    }

    /// Removes a listener added with `addEventListener`.
    #[wasm_bindgen(js_name = removeEventListener)]
    pub fn remove_event_listener(&self, kind: &str, listener: &Function) -> Result<(), JsValue> {
        self.inner.borrow().events.remove(kind, listener)
    }

    /// hls.js-style subscription: `callback` receives the payload itself. Returns a function
    /// that unsubscribes. (Typed per event by the `Player` interface in `TS_TYPES`.)
    /// Throws like `addEventListener` for an unknown name.
    #[wasm_bindgen(skip_typescript)]
    pub fn on(&self, kind: &str, callback: &Function) -> Result<Function, JsValue> {
        self.inner.borrow().events.on(kind, callback)
    }
}

fn player_error(code: ErrorCode, message: impl Into<String>) -> LivecastError {
    LivecastError::Broadcast { code, message: message.into() }
}

/// Forgets everything about the previous stream.
fn reset_session(i: &mut Inner) {
    i.native = false;
    i.levels.clear();
    i.loaded_level = None;
    i.next_sequence = None;
    i.timeline.clear();
    i.pipeline = None;
    i.pending_source = None;
    i.init_cache.clear();
    i.media_resets = 0;
    i.media_failed = None;
    i.emergency = false;
    i.seek_to_sequence = None;
    i.place_next_at = None;
    i.vod_origin = None;
    i.failed.clear();
    i.ended_stream = false;
    i.buffer_cap_s = None;
    i.monitor = Monitor::default();
    i.fragments = 0;
    i.skipped = 0;
    i.parse_failures.reset();
    i.superseded = 0;
}

fn parse_config(value: &JsValue) -> Result<PlayerConfig, LivecastError> {
    const OBJECT: &str = "Player";
    let mut c = PlayerConfig::default();
    if value.is_undefined() || value.is_null() {
        return Ok(c);
    }
    let r = OptionsReader::new(
        value,
        OBJECT,
        &[
            "liveSyncSegments", "targetLatencySeconds", "maxLatencySeconds", "maxCatchUpRate", "maxBufferSeconds",
            "backBufferSeconds", "playlistRetry", "segmentRetry", "requestTimeoutMs", "defaultBandwidth", "startLevel",
        ],
    )?;
    let range = |message: String| LivecastError::InvalidConfig { object: OBJECT, message };
    let whole = |key: &str, v: f64| -> Result<u32, LivecastError> {
        if v.fract() == 0.0 && (0.0..=1e6).contains(&v) { Ok(v as u32) } else { Err(range(format!("`{key}` must be a whole number ≥ 0, got {v}"))) }
    };
    if let Some(v) = r.number("liveSyncSegments")? {
        c.live_sync_segments = whole("liveSyncSegments", v)?;
    }
    c.target_latency_seconds = r.number("targetLatencySeconds")?.or(c.target_latency_seconds);
    c.max_latency_seconds = r.number("maxLatencySeconds")?.or(c.max_latency_seconds);
    c.max_catch_up_rate = r.number("maxCatchUpRate")?.unwrap_or(c.max_catch_up_rate);
    c.max_buffer_seconds = r.number("maxBufferSeconds")?.unwrap_or(c.max_buffer_seconds);
    c.back_buffer_seconds = r.number("backBufferSeconds")?.unwrap_or(c.back_buffer_seconds);
    c.request_timeout_ms = r.number("requestTimeoutMs")?.unwrap_or(c.request_timeout_ms);
    c.default_bandwidth_bps = r.number("defaultBandwidth")?.unwrap_or(c.default_bandwidth_bps);
    if let Some(v) = r.number("startLevel")? {
        c.start_level = Some(whole("startLevel", v)? as usize);
    }
    for (key, policy) in [("playlistRetry", &mut c.playlist_retry), ("segmentRetry", &mut c.segment_retry)] {
        let v = Reflect::get(value, &key.into()).unwrap_or(JsValue::UNDEFINED);
        if v.is_undefined() {
            continue;
        }
        let sub = OptionsReader::new(&v, OBJECT, &["maxRetries", "retryDelayMs", "backoff"]).map_err(|e| match e {
            LivecastError::ConfigType { object, message } => LivecastError::ConfigType { object, message: format!("`{key}`: {message}") },
            e => e,
        })?;
        if let Some(n) = sub.number("maxRetries")? {
            policy.max_retries = whole(&format!("{key}.maxRetries"), n)?;
        }
        policy.retry_delay_ms = sub.number("retryDelayMs")?.unwrap_or(policy.retry_delay_ms);
        if let Some(b) = sub.string("backoff")? {
            policy.backoff = Backoff::parse(&b).ok_or_else(|| range(format!("`{key}.backoff` must be \"constant\", \"linear\" or \"exponential\", got \"{b}\"")))?;
        }
    }
    c.validate().map_err(range)?;
    Ok(c)
}

fn level_to_js(l: &Level) -> JsValue {
    let opt = |v: Option<u32>| v.map_or(JsValue::NULL, JsValue::from);
    object(&[
        ("name", l.variant.name.as_str().into()),
        ("width", opt(l.variant.width)),
        ("height", opt(l.variant.height)),
        ("bitrate", (l.variant.bandwidth as f64).into()),
        ("url", l.url.as_str().into()),
    ])
    .into()
}

fn alive(inner: &Shared, session: u32) -> bool {
    let i = inner.borrow();
    !i.destroyed && i.session == session
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

async fn sleep(ms: f64) {
    let _ = JsFuture::from(sleep_promise(ms)).await;
}

fn pairs(flat: &Float64Array) -> Vec<(f64, f64)> {
    flat.to_vec().chunks_exact(2).map(|c| (c[0], c[1])).collect()
}

fn dispatch(inner: &Shared, kind: &str, detail: &JsValue) {
    let events = inner.borrow().events.clone();
    events.dispatch(kind, detail);
}

/// Sends an `error` event.
fn report(inner: &Shared, e: &PlayerError, details: ErrorDetails, fatal: bool, sequence: Option<u64>) {
    let mut entries = vec![
        ("code", JsValue::from(e.code().as_str())),
        ("fatal", JsValue::from(fatal)),
        ("type", e.kind().as_str().into()),
        ("details", details.as_str().into()),
        ("message", e.to_string().into()),
    ];
    if let Some(s) = sequence {
        entries.push(("sequence", (s as f64).into()));
    }
    if let PlayerError::Network { url, .. } | PlayerError::PlaylistParse { url, .. } | PlayerError::Mux { url, .. } = e {
        entries.push(("url", url.as_str().into()));
    }
    dispatch(inner, "error", &object(&entries).into());
}


/// The SourceBuffer's buffered ranges (none before the pipeline is open).
fn source_ranges(i: &Inner) -> Vec<(f64, f64)> {
    let sb = i.pipeline.as_ref().and_then(|p| p.source_buffer.clone());
    sb.map(|sb| pairs(&buffered_ranges(&sb))).unwrap_or_default()
}

/// Whether segment `sequence` of `level`, being downloaded, became unneeded: after a seek,
/// the loader's next step would jump elsewhere (`seek::jump` to another segment). A seek
/// inside that segment, or into media the download extends, keeps it.
fn superseded(i: &Inner, level: usize, sequence: u64) -> bool {
    let Some(p) = i.levels.get(level).and_then(|l| l.playlist.as_ref()) else { return false };
    let failed = |s: u64| i.failed.contains(&s);
    let origin = i.vod_origin.unwrap_or(0.0);
    let plan = seek::jump(p, &i.timeline, origin, &source_ranges(i), i.video.current_time(), sequence, &failed);
    plan.is_some_and(|j| j.sequence != sequence)
}

/// Loads (or reloads) level `index`'s media playlist, with the playlist retries unless
/// `once` (live reloads: their retries are scheduled by the loader, which keeps loading
/// segments meanwhile). Returns whether it grew.
async fn load_level(inner: &Shared, session: u32, index: usize, once: bool) -> Result<bool, PlayerError> {
    let (url, policy) = {
        let i = inner.borrow();
        let mut policy = i.config.playlist_retry;
        if once {
            policy.max_retries = 0;
        }
        (i.levels[index].url.clone(), policy)
    };
    let (bytes, _) = get_required(inner, session, &url, "playlist", policy, |e, _| {
        report(inner, e, ErrorDetails::LevelLoadError, false, None);
    })
    .await?;
    let parsed = playlist::parse(&bytes, &url)?;
    let Parsed::Media(media) = parsed else {
        return Err(PlayerError::Unsupported(format!("{url} is a master playlist where a media playlist was expected")));
    };
    let mut i = inner.borrow_mut();
    // Live: `video.seekable` spans the window (where DVR seeks can go).
    if let (Some((start, end)), Some(p)) = (seek::live_window(&media, &i.timeline), i.pipeline.as_ref()) {
        set_live_seekable_range(&p.media_source, start, end);
    }
    let level = &mut i.levels[index];
    let grew = level.playlist.as_ref().is_none_or(|p| p.end_sequence() != media.end_sequence() || p.ended != media.ended);
    level.playlist = Some(media);
    level.loaded_at_ms = now_ms();
    level.failures = 0;
    Ok(grew)
}

/// The loader: manifest, then segments until the stream ends or the session changes.
async fn run(inner: &Shared, session: u32, url: &str) -> Result<(), PlayerError> {
    let policy = inner.borrow().config.playlist_retry;
    let (bytes, _) = get_required(inner, session, url, "playlist", policy, |e, _| {
        report(inner, e, ErrorDetails::ManifestLoadError, false, None);
    })
    .await?;
    if !alive(inner, session) {
        return Ok(());
    }
    let (levels, single) = match playlist::parse(&bytes, url)? {
        Parsed::Master(variants) => (variants, None),
        Parsed::Media(p) => {
            let v = Variant { uri: url.to_string(), bandwidth: 0, width: None, height: None, codecs: None, name: "default".into() };
            (vec![v], Some(p))
        }
    };
    {
        let mut i = inner.borrow_mut();
        for v in levels {
            let url = resolve_url(&v.uri, url).unwrap_or_else(|_| v.uri.clone());
            i.levels.push(Level { variant: v, url, playlist: None, loaded_at_ms: 0.0, failures: 0 });
        }
        if let Some(p) = single {
            i.levels[0].playlist = Some(p);
            i.levels[0].loaded_at_ms = now_ms();
        }
    }
    let start = {
        let i = inner.borrow();
        let bitrates: Vec<u64> = i.levels.iter().map(|l| l.variant.bandwidth).collect();
        // A lone media playlist says its segment length; a master alone does not.
        let segment_duration_s = i.levels.first().and_then(|l| l.playlist.as_ref()).map_or(abr::UNKNOWN_SEGMENT_DURATION_S, |p| p.target_duration);
        let input = AbrInput { estimate_bps: i.estimator.estimate_bps(), buffer_ahead_s: 0.0, segment_duration_s };
        i.config.start_level.filter(|&l| l < bitrates.len()).or_else(|| abr::choose(&bitrates, 0, input, &|_| false)).unwrap_or(0)
    };
    if inner.borrow().levels[start].playlist.is_none() {
        load_level(inner, session, start, false).await?;
    }
    let (live_start, is_live, place) = {
        let i = inner.borrow();
        let p = i.levels[start].playlist.as_ref().ok_or_else(|| PlayerError::Unsupported("no media playlist".into()))?;
        let live_start = live::start_sequence(p, i.config.live_sync_segments);
        (live_start, !p.ended, seek::live_place(p, &i.timeline, live_start).filter(|_| !p.ended))
    };
    {
        let mut i = inner.borrow_mut();
        i.next_sequence = Some(live_start);
        i.loaded_level = None;
        // Live: media goes on the playlist's clock, the join point after the window behind it.
        if place.is_some() {
            i.place_next_at = place;
            i.seek_to_sequence = Some(live_start);
        }
    }
    let levels = inner.borrow().levels.iter().map(level_to_js).collect::<Array>();
    dispatch(inner, "manifestLoaded", &object(&[("url", url.into()), ("levels", levels.into()), ("live", is_live.into())]).into());
    open_pipeline(inner).await?;
    let mut current = start;
    let mut next_reload_ms = 0.0;
    while alive(inner, session) {
        // Live playlists: reload on the target-duration cadence.
        let (live, due) = {
            let i = inner.borrow();
            let p = i.levels[current].playlist.as_ref();
            (p.is_some_and(|p| !p.ended), now_ms() >= next_reload_ms)
        };
        if live && due {
            match load_level(inner, session, current, true).await {
                Ok(grew) => {
                    let i = inner.borrow();
                    if let Some(p) = i.levels[current].playlist.as_ref() {
                        next_reload_ms = now_ms() + live::reload_delay_ms(p, grew);
                    }
                }
                Err(e) => {
                    // Retry with the policy's backoff while the buffer plays and segments
                    // already listed keep loading; fatal once the retries are spent.
                    let mut i = inner.borrow_mut();
                    i.levels[current].failures += 1;
                    let failures = i.levels[current].failures;
                    let delay = i.config.playlist_retry.delay_ms(failures);
                    drop(i);
                    let Some(delay) = delay else { return Err(e) };
                    report(inner, &e, ErrorDetails::LevelLoadError, false, None);
                    next_reload_ms = now_ms() + delay;
                }
            }
            if !alive(inner, session) {
                break;
            }
        }
        match step(inner, session, &mut current).await {
            Ok(Step::Appended) => {}
            Ok(Step::Wait(ms)) => {
                let until_reload = if live { (next_reload_ms - now_ms()).max(0.0) } else { ms };
                wait_unless_seeking(inner, ms.min(until_reload).max(20.0)).await;
            }
            Ok(Step::Done) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sleeps `ms`, or less when the page seeks meanwhile (the loader then reacts at once).
/// Always yields: a seek already under way does not cut the sleep (the step that returned
/// a wait has seen it), so the loader never spins.
async fn wait_unless_seeking(inner: &Shared, ms: f64) {
    let video = inner.borrow().video.clone();
    let _ = JsFuture::from(sleep_until_event(&video, "seeking", ms)).await;
}

enum Step {
    /// A segment was appended (or skipped): go on at once.
    Appended,
    /// Nothing to do for this many ms.
    Wait(f64),
    /// The session ended (`load` again or `destroy`).
    Done,
}

/// One loader step: pick a level, load and append the next segment.
async fn step(inner: &Shared, session: u32, current: &mut usize) -> Result<Step, PlayerError> {
    let failed = inner.borrow_mut().media_failed.take();
    if let Some(message) = failed {
        recover(inner, &js_sys::Error::new(&message).into(), Failed::Playing).await?;
        return Ok(Step::Appended);
    }
    let source = inner.borrow().pipeline.as_ref().map(|p| p.media_source.clone());
    let plan = {
        let i = inner.borrow();
        let ranges = source_ranges(&i);
        let input = LoaderInput {
            position: i.video.current_time(),
            ranges: &ranges,
            playlist: i.levels[*current].playlist.as_ref(),
            timeline: &i.timeline,
            next_sequence: i.next_sequence,
            place_next_at: i.place_next_at,
            vod_origin: i.vod_origin,
            dvr: i.monitor.dvr(),
            max_buffer_s: i.buffer_cap_s.unwrap_or(i.config.max_buffer_seconds).min(i.config.max_buffer_seconds),
            back_buffer_s: i.config.back_buffer_seconds,
            streaming_wanted: source.as_ref().is_none_or(streaming_wanted),
            live_sync_segments: i.config.live_sync_segments,
        };
        loader::plan(&input, &|s| i.failed.contains(&s))
    };
    if let Some((start, end)) = plan.evict {
        remove(inner, start, end).await;
    }
    let (sequence, ahead) = match plan.next {
        Next::Load { sequence, ahead } => (sequence, ahead),
        Next::Jump { sequence, start } => {
            let mut i = inner.borrow_mut();
            i.next_sequence = Some(sequence);
            i.place_next_at = Some(start);
            i.seek_to_sequence = None;
            return Ok(Step::Appended);
        }
        Next::Wait { ms } => return Ok(Step::Wait(ms)),
        Next::WaitForStreaming => {
            if let Some(ms) = source {
                let _ = JsFuture::from(sleep_until_event(ms.unchecked_ref(), "startstreaming", 1000.0)).await;
            }
            return Ok(Step::Appended);
        }
        Next::Restart { sequence, place_at } => {
            let mut i = inner.borrow_mut();
            i.next_sequence = Some(sequence);
            i.seek_to_sequence = Some(sequence);
            i.place_next_at = place_at;
            return Ok(Step::Appended);
        }
        Next::Finish => {
            // Everything is buffered: end the stream, but keep serving seeks back into
            // media that was evicted.
            finish(inner).await;
            return Ok(Step::Wait(loader::IDLE_MS));
        }
        Next::NoPlaylist => return Err(PlayerError::Unsupported("no media playlist".into())),
    };
    let ended = inner.borrow().levels[*current].playlist.as_ref().is_some_and(|p| p.ended);
    let level = choose_level(inner, session, *current, sequence, ahead).await?;
    let Some(level) = level else {
        // Every level has a gap here: skip the slot.
        give_up(inner, *current, sequence);
        report(inner, &PlayerError::Unsupported(format!("segment {sequence} is a gap on every level; skipped")), ErrorDetails::FragGap, false, Some(sequence));
        return Ok(Step::Appended);
    };
    // Map the sequence onto the chosen level (aligned by date or by number).
    let mapped = {
        let i = inner.borrow();
        let from = i.levels[*current].playlist.as_ref().and_then(|p| p.segment(sequence)).cloned();
        let to = i.levels[level].playlist.as_ref();
        match (from, to) {
            (Some(seg), Some(p)) if level != *current => p.matching(&seg),
            _ => Some(sequence),
        }
    };
    let Some(mapped) = mapped else {
        return Ok(Step::Wait(250.0));
    };
    if level != *current {
        *current = level;
        inner.borrow_mut().next_sequence = Some(mapped);
    }
    let segment = {
        let i = inner.borrow();
        i.levels[level].playlist.as_ref().and_then(|p| p.segment(mapped)).cloned()
    };
    let Some(segment) = segment else { return Ok(Step::Wait(250.0)) };
    let base = inner.borrow().levels[level].url.clone();
    let url = resolve_url(&segment.uri, &base).unwrap_or_else(|_| segment.uri.clone());
    let policy = inner.borrow().config.segment_retry;
    let live = inner.borrow().levels[level].playlist.as_ref().is_some_and(|p| !p.ended);
    // A VOD download is watched: a seek elsewhere aborts it, and the next step jumps.
    let video: EventTarget = inner.borrow().video.clone().into();
    let weak = Rc::downgrade(inner);
    let check = Closure::<dyn FnMut() -> bool>::new(move || {
        // (The loader holds no borrow across the download; `try_borrow` is belt and braces.)
        weak.upgrade().is_some_and(|inner| inner.try_borrow().is_ok_and(|i| superseded(&i, level, mapped)))
    });
    let check: &Function = check.as_ref().unchecked_ref();
    let watch = (!live).then_some((&video, check));
    let loaded = get_with_retry(inner, session, &url, "segment", policy, live, watch, |e, _| {
        report(inner, e, ErrorDetails::FragLoadError, false, Some(mapped));
    })
    .await;
    if !alive(inner, session) {
        return Ok(Step::Done);
    }
    let (bytes, ms) = match loaded {
        Ok(Fetched::Bytes(bytes, ms)) => (bytes, ms),
        Ok(Fetched::Superseded) => {
            inner.borrow_mut().superseded += 1;
            return Ok(Step::Appended);
        }
        Err((e, retries)) => {
            // Retries are spent (or would outlast the buffer): skip it, the next one plays on.
            give_up(inner, level, mapped);
            let why = if retries < policy.max_retries { " (more would outlast the buffer)" } else { "" };
            let e = PlayerError::Network { what: "segment", url: url.clone(), reason: format!("{e}; skipped after {retries} retries{why}") };
            report(inner, &e, ErrorDetails::FragLoadError, false, Some(mapped));
            return Ok(Step::Appended);
        }
    };
    inner.borrow_mut().estimator.sample(bytes.len(), ms);
    // fMP4 input: the EXT-X-MAP init segment, cached by URL.
    let init = match &segment.init_uri {
        Some(uri) => {
            let init_url = resolve_url(uri, &base).unwrap_or_else(|_| uri.clone());
            let cached = inner.borrow().init_cache.get(&init_url).cloned();
            match cached {
                Some(b) => Some(b),
                None => {
                    let (b, _) = get_required(inner, session, &init_url, "segment", policy, |e, _| {
                        report(inner, e, ErrorDetails::FragLoadError, false, Some(mapped));
                    })
                    .await?;
                    inner.borrow_mut().init_cache.insert(init_url, b.clone());
                    Some(b)
                }
            }
        }
        None => None,
    };
    let discontinuity = segment.discontinuity || inner.borrow().timeline.last().is_some_and(|e| e.sequence + 1 != mapped);
    let media = match prepare(inner, &bytes, init, discontinuity, &url, segment.duration) {
        Ok(m) => m,
        Err(e) => {
            give_up(inner, level, mapped);
            // Back off between bad segments (the next one is likely bad too: a broken
            // encoder or packager), and give up after a few in a row.
            let wait = inner.borrow_mut().parse_failures.record();
            let Some(ms) = wait else {
                let count = inner.borrow().parse_failures.count();
                return Err(PlayerError::Mux { url: url.clone(), reason: format!("{count} segments in a row could not be parsed; the last: {e}") });
            };
            report(inner, &e, ErrorDetails::FragParsingError, false, Some(mapped));
            return Ok(Step::Wait(ms));
        }
    };
    let place_at = inner.borrow().place_next_at;
    match append(inner, session, media, place_at).await {
        Ok(Some((start, end))) => {
            let previous = {
                let mut i = inner.borrow_mut();
                i.place_next_at = None;
                i.ended_stream = false;
                i.parse_failures.reset();
                if ended && i.vod_origin.is_none() {
                    i.vod_origin = Some(start - segment.start);
                }
                let previous = i.loaded_level;
                i.loaded_level = Some(level);
                i.next_sequence = Some(mapped + 1);
                i.fragments += 1;
                i.timeline.push(Entry { sequence: mapped, level, start, end, date_ms: segment.program_date_time_ms });
                previous
            };
            if previous != Some(level) {
                let auto = inner.borrow().forced_level.is_none();
                dispatch(
                    inner,
                    "levelSwitched",
                    &object(&[("level", level.into()), ("previous", previous.map_or(-1, |p| p as i32).into()), ("auto", auto.into())]).into(),
                );
            }
            dispatch(
                inner,
                "fragmentBuffered",
                &object(&[
                    ("sequence", (mapped as f64).into()),
                    ("level", level.into()),
                    ("duration", segment.duration.into()),
                    ("bytes", (bytes.len() as f64).into()),
                    ("loadMs", ms.into()),
                    ("start", start.into()),
                    ("end", end.into()),
                ])
                .into(),
            );
            let seek = inner.borrow().seek_to_sequence == Some(mapped);
            if seek {
                let mut i = inner.borrow_mut();
                i.seek_to_sequence = None;
                i.video.set_current_time(start + 0.05);
            }
            if ended {
                set_vod_duration(inner, level).await;
            }
            Ok(Step::Appended)
        }
        Ok(None) => Ok(Step::Wait(1000.0)),
        Err(e) => Err(e),
    }
}

/// Gives segment `sequence` of `level` up for this session: loading goes on with the next.
/// In a VOD the next keeps its place on the playlist's clock; the monitor skips the hole.
fn give_up(inner: &Shared, level: usize, sequence: u64) {
    let mut i = inner.borrow_mut();
    i.next_sequence = Some(sequence + 1);
    i.skipped += 1;
    i.failed.insert(sequence);
    let origin = i.vod_origin.unwrap_or(0.0);
    let place = i.levels[level].playlist.as_ref().filter(|p| p.ended).and_then(|p| p.segment(sequence + 1)).map(|s| origin + s.start);
    if place.is_some() {
        i.place_next_at = place;
    }
}

/// The level for segment `sequence`, as [`levels::pick`] chooses it; loads the chosen
/// level's playlist first when [`levels::needs_reload`] says so, and asks again without a
/// level whose playlist failed to load or turned out to have a gap.
async fn choose_level(inner: &Shared, session: u32, current: usize, sequence: u64, ahead: f64) -> Result<Option<usize>, PlayerError> {
    let mut excluded: Vec<usize> = Vec::new();
    // (The count is read first: a `for` keeps its iterator expression's temporaries, a
    // RefCell borrow included, alive for the whole loop.)
    let count = inner.borrow().levels.len();
    for _ in 0..=count {
        let (pick, reload) = {
            let mut i = inner.borrow_mut();
            let mode = match i.forced_level {
                Some(forced) => Mode::Forced(forced),
                None if i.emergency => Mode::Emergency,
                None => Mode::Auto,
            };
            // An emergency is one step down, once.
            if mode == Mode::Emergency {
                i.emergency = false;
            }
            let views = level_views(&i);
            let choice = Choice { levels: &views, current, sequence, mode, estimate_bps: i.estimator.estimate_bps(), buffer_ahead_s: ahead, excluded: &excluded };
            let pick = levels::pick(&choice);
            (pick, pick.is_some_and(|l| levels::needs_reload(&views[l], l == current, now_ms())))
        };
        let Some(level) = pick else { return Ok(None) };
        if reload {
            if let Err(e) = load_level(inner, session, level, false).await {
                if level == current {
                    return Err(e);
                }
                report(inner, &e, ErrorDetails::LevelLoadError, false, None);
                excluded.push(level);
                continue;
            }
        }
        let gap = levels::is_gap(&level_views(&inner.borrow()), current, sequence, level);
        if !gap {
            return Ok(Some(level));
        }
        excluded.push(level);
    }
    Ok(None)
}

/// The levels as [`levels`] sees them.
fn level_views(i: &Inner) -> Vec<LevelView<'_>> {
    i.levels.iter().map(|l| LevelView { bandwidth: l.variant.bandwidth, playlist: l.playlist.as_ref(), loaded_at_ms: l.loaded_at_ms }).collect()
}
