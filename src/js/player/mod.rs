//! `Player`: HLS playback through Media Source Extensions, modelled on hls.js's API.
//!
//! Decisions (levels, ABR, live edge, retries, eviction) are made by `crate::player`, plain
//! Rust tested natively; this module performs them: it fetches playlists and segments
//! (`fetch`), turns MPEG-TS into fMP4 with `livecast_core::fmp4::Transmuxer` (fMP4 input
//! passes through) and appends to one `SourceBuffer` in `sequence` mode (`mse`), and
//! reports events. This file holds the `Player` class, its options and shared state;
//! `types` its TypeScript declarations. The Promise wrappers around the browser's APIs are
//! in `js/player-mse.js`.
//!
//! Two loops run while a stream plays: the loader (`load_loop`: playlists, segments,
//! appends, eviction) and a 250 ms monitor (`monitor`: stalls, latency, catch-up rate,
//! jumps to the live edge, holes).
//!
//! Transmuxing runs on the page's thread, not in a Worker: the E2E long run
//! (`tests/e2e/player.test.mjs`, 3 minutes of a 720p ladder in 1 s TS segments) watches
//! with a `longtask` PerformanceObserver and sees no long task (≥ 50 ms) after start-up, so
//! a Worker would only add copies and latency. Move it if that test starts failing.

use super::events::Events;
use super::interop::{object, OptionsReader};
use crate::player::abr::{self, AbrInput, Estimator};
use crate::player::buffer;
use crate::player::error::ErrorDetails;
use crate::player::session::{Action, Appended, Event, Failed, Session};
use crate::player::levels::{self, Choice, LevelView, Mode};
use crate::player::live;
use crate::player::loader::{self, LoaderInput, Next};
use crate::player::monitor::{Action as MonitorAction, Monitor, Tick};
use crate::player::playlist::{self, MediaPlaylist, Parsed, Variant};
use crate::player::seek;
use crate::player::{Backoff, PlayerConfig, PlayerError, RetryPolicy};
use crate::{ErrorCode, LivecastError};
use js_sys::{Array, Float64Array, Function, Promise, Reflect, Uint8Array};
use livecast_core::fmp4::{probe_init, SegmentOptions, Transmuxer};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{EventTarget, HtmlMediaElement};

mod fetch;
mod load_loop;
mod monitor;
mod mse;
mod types;
use fetch::{get_required, get_with_retry, Fetched};
use load_loop::run;
use monitor::monitor;
use mse::{append, finish, open_pipeline, prepare, recover, remove, set_vod_duration};

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
    /// `currentLevel` set by the page (None: auto).
    forced_level: Option<usize>,
    estimator: Estimator,
    /// Where the loader stands, what was appended and given up: see [`Session`].
    state: Session,
    pipeline: Option<Pipeline>,
    /// The MediaSource `load` attached at once (resolves when open): the element has its
    /// new source before `load` returns, so a `video.play()` right after it is not aborted
    /// by a later change of `src` (WebKit rejects it with an AbortError).
    pending_source: Option<Promise>,
    init_cache: HashMap<String, Vec<u8>>,
    /// The audio track's codec of the last init segment appended (`mp4a.40.2`), if any.
    audio_codec: Option<String>,
    /// The video element reported a decode error (seen by the monitor, handled by the loader).
    media_failed: Option<String>,
    emergency: bool,
    ended_stream: bool,
    /// Lowered after a QuotaExceededError that eviction could not solve.
    buffer_cap_s: Option<f64>,
    /// Stalls, holes, DVR (the loader then follows the viewer's seeks as in a VOD),
    /// latency and catch-up: see [`Monitor`].
    monitor: Monitor,
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
            forced_level: None,
            estimator,
            state: Session::default(),
            pipeline: None,
            pending_source: None,
            init_cache: HashMap::new(),
            audio_codec: None,
            media_failed: None,
            emergency: false,
            ended_stream: false,
            buffer_cap_s: None,
            monitor: Monitor::default(),
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
        i.state.timeline.at(position).map_or(-1, |e| e.level as i32)
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
        i.forced_level.or(i.state.loaded_level).map_or(-1, |l| l as i32)
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
        let level = i.state.loaded_level?;
        let p = i.levels.get(level)?.playlist.as_ref()?;
        let (_, end) = seek::live_window(p, &i.state.timeline)?;
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
            ("level", i.state.timeline.at(position).map_or(-1, |e| e.level as i32).into()),
            ("stalls", i.monitor.stalls().into()),
            ("stalledMs", i.monitor.stalled_ms(now_ms()).into()),
            ("fragments", i.state.fragments.into()),
            ("skipped", i.state.skipped.into()),
            ("abortedBySeek", i.state.superseded.into()),
            ("mediaResets", i.state.media_resets().into()),
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
    i.state = Session::default();
    i.pipeline = None;
    i.pending_source = None;
    i.init_cache.clear();
    i.media_failed = None;
    i.emergency = false;
    i.ended_stream = false;
    i.buffer_cap_s = None;
    i.monitor = Monitor::default();
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

/// Sends an event the session answered, in the shape the `.d.ts` declares.
fn emit(inner: &Shared, event: Event) {
    match event {
        Event::LevelSwitched { level, previous, auto } => {
            let previous = previous.map_or(-1, |p| p as i32);
            dispatch(inner, "levelSwitched", &object(&[("level", level.into()), ("previous", previous.into()), ("auto", auto.into())]).into());
        }
        Event::FragmentBuffered { sequence, level, duration, bytes, load_ms, start, end } => dispatch(
            inner,
            "fragmentBuffered",
            &object(&[
                ("sequence", (sequence as f64).into()),
                ("level", level.into()),
                ("duration", duration.into()),
                ("bytes", (bytes as f64).into()),
                ("loadMs", load_ms.into()),
                ("start", start.into()),
                ("end", end.into()),
            ])
            .into(),
        ),
        Event::Error { error, details, sequence } => report(inner, &error, details, false, sequence),
    }
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
