//! `Broadcaster`: camera → encode Worker (openh264 + MPEG-TS) → uploads to the relay.
//!
//! The page's thread only moves data: frames go to the Worker as a transferred
//! `ReadableStream`, segments come back as transferred buffers and are uploaded with
//! `fetch` (retries with backoff and jitter, a bounded queue). State changes, stats,
//! acknowledged segments and errors are events on the object.
//!
//! This file holds the class, its options, start-up (camera, microphone, the Worker) and
//! teardown; [`uploads`] the upload loop and its HTTP calls, [`transcoders`] the nodes and
//! their payments, [`stats`] the `stats` events. The decisions they execute are plain Rust in
//! [`crate::broadcast`], tested natively.

mod stats;
mod transcoders;
mod uploads;

use self::stats::*;
use self::transcoders::*;
use self::uploads::*;
use super::events::Events;
use super::interop::{object, OptionsReader};
use crate::broadcast::stats::{StatsSnapshot, StatsWindow};
use super::wallet::payer::{self, Payer, PaymentOptions};
use crate::broadcast::payment::Prepared;
use crate::broadcast::attempt::{Action as UploadAction, Answer, SegmentUpload};
use crate::broadcast::transcode::{orchestrator_info_from_base64, seg_data_to_header, Signer, TranscodeSession};
use crate::broadcast::upload::{PendingSegment, UploadBackoff, UploadQueue};
use livecast_protocol::profile::{P240P30FPS16X9, P360P30FPS16X9, P720P30FPS16X9};
use livecast_protocol::net::OrchestratorInfo;
use livecast_protocol::Profile;
use crate::{ErrorCode, LivecastError};
use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, spawn_local, JsFuture};
use web_sys::{
    AbortController, Headers, MediaStream, MediaStreamConstraints,
    MediaStreamTrack, MessageEvent, RequestInit, Response, Worker,
};

#[wasm_bindgen(module = "/js/encode-worker-start.js")]
extern "C" {
    /// A new encode Worker (made by the package's entry, livecast.js) whose messages, and
    /// failures as `{ type: "error" }` messages, go to `on_message`.
    #[wasm_bindgen(js_name = startEncodeWorker, catch)]
    fn start_encode_worker(on_message: &Function) -> Result<Worker, JsValue>;
}

#[wasm_bindgen(module = "/js/capture-source.js")]
extern "C" {
    #[wasm_bindgen(js_name = openFrameStream, catch)]
    fn open_frame_stream(track: &MediaStreamTrack) -> Result<JsValue, JsValue>;
}

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** Options of `new Broadcaster(...)`. */
export interface BroadcasterOptions {
  /** The relay's base URL, e.g. `"https://relay.example.com"`. */
  relayUrl: string;
  /** The stream's id (from `POST /api/streams`). */
  streamId: string;
  /** The stream's secret key (from `POST /api/streams`). */
  streamKey: string;
  /** Capture and encoding settings. */
  video?: {
    /** Default 1280. */ width?: number;
    /** Default 720. */ height?: number;
    /** Default 30. */ fps?: number;
    /** Default 2500. */ bitrateKbps?: number;
  };
  /** Target segment length in seconds (a segment is cut at the first keyframe after it). Default 2. */
  segmentSeconds?: number;
  /** Segments kept for upload when the network is slow; older ones are dropped. Default 8. */
  maxQueuedSegments?: number;
  /**
   * Which encoder: `"webcodecs"` (the browser's VideoEncoder, often hardware),
   * `"openh264"` (openh264 in wasm, the same output everywhere), or `"auto"` (default):
   * WebCodecs when it supports H.264 Constrained Baseline at the capture size, else openh264.
   */
  encoder?: "auto" | "webcodecs" | "openh264";
  /**
   * openh264 Workers encoding segments in parallel (1..=8). Default: enough for the pixel
   * rate, at most `navigator.hardwareConcurrency`. With more than one, a segment is
   * uploaded once it and every earlier segment are encoded: up to one segment of latency.
   */
  encoderWorkers?: number;
  /**
   * Sound: `true` (default: AAC-LC at 128 kbit/s, 2 channels, 48 kHz), `false` (no
   * microphone is asked for), or settings. `start()` asks for camera and microphone
   * together; `start(stream)` uses the stream's first audio track. Without a microphone, or
   * with access to it refused, the broadcast goes on without sound after a non-fatal
   * `NO_MICROPHONE` error event. Audio is read and encoded in the encode worker, on the
   * camera's capture clock.
   */
  audio?: boolean | BroadcastAudioOptions;
  /**
   * Which AAC encoder: `"webcodecs"` (the browser's AudioEncoder; not in Linux Chromium or
   * Firefox), `"fdk-aac"` (FDK AAC in wasm, everywhere), or `"auto"` (default): WebCodecs
   * when `isConfigSupported` accepts the configuration, else FDK AAC. `stats.audioEncoder`
   * says which runs and why.
   */
  audioEncoder?: "auto" | "webcodecs" | "fdk-aac";
  /**
   * Transcoding by Livepeer-protocol nodes behind the relay: `true` for the default ladder
   * (Livepeer's 720p/360p/240p rungs below the capture height), or the profile names and
   * the highest price accepted (wei per pixel, default 0: free nodes only). A session key
   * made in this page signs every segment; each segment goes to the best node and, if it
   * fails, to up to two others. Default: off (the source only).
   */
  transcode?: boolean | { profiles?: string[]; maxPricePerPixel?: number };
  /**
   * Pay transcoder nodes with Livepeer tickets from a wallet (turns `transcode` on with the
   * default ladder when it is not set). `mode: "session"` (default): a session key derived
   * from the wallet (one `personal_sign`) is the ticket sender and signs silently; at
   * `start()` the wallet tops its deposit and reserve up to `deposit`/`reserve` with one
   * `fundDepositAndReserveFor` transaction when they fall short (show
   * `wallet.fundingNeeded(...)` to the user first). `mode: "wallet"`: the wallet is the
   * sender and signs discovery, every segment and every ticket with `personal_sign` (its own
   * deposit must be funded). Nodes above `maxPricePerPixel` (wei per output pixel) are
   * refused with `PRICE_TOO_HIGH`.
   */
  payment?: {
    wallet: Wallet;
    /** The TicketBroker's address. */
    broker: string;
    mode?: "session" | "wallet";
    maxPricePerPixel: number;
    /** Wei the sender's deposit should hold (winning tickets are paid from it). */
    deposit: Wei;
    /** Wei the sender's reserve should hold. */
    reserve: Wei;
  };
}

/** Options of `stop()`. */
export interface StopOptions {
  /**
   * How long to wait for the segments still queued or uploading, ms, once the encoder has
   * cut the last one. Default 15000; at most 600000.
   */
  drainTimeoutMs?: number;
}

export interface Broadcaster {
  /**
   * Stops: the encoder cuts the last segment, what is queued is uploaded (waiting up to
   * `drainTimeoutMs`, default 15 s), the relay is told the stream ended and the camera is
   * released if the Broadcaster opened it. Resolves when `state` is `"ended"`.
   */
  stop(options?: StopOptions): Promise<StopResult>;
}

/** What `stop()` resolves to. */
export interface StopResult {
  /** Segments the relay acknowledged over the whole broadcast. */
  segmentsAcknowledged: number;
  /**
   * Segments the relay had not acknowledged when the drain timeout ran out (empty when
   * everything was uploaded): the stream may lack them. Also reported as a `SEGMENT_DROPPED`
   * error event. The first may be an upload still in flight, whose `segment` event can
   * follow; the rest were never sent.
   */
  segmentsNotConfirmed: number[];
}

/** `idle` → `connecting` → `live` ⇄ `reconnecting` → `ended`. */
export type BroadcasterState = "idle" | "connecting" | "live" | "reconnecting" | "ended";

/** The `stats` event's detail, sent about once a second while broadcasting. */
export interface BroadcastStats {
  capturedFps: number;
  encodedFps: number;
  encodeMsP50: number;
  encodeMsP95: number;
  outputKbps: number;
  /** Frames the camera delivered that the encoder did not take (it was busy), since the start. A camera slower than `video.fps` shows in `capturedFps`, not here. */
  droppedFrames: number;
  /** Segments waiting for upload. */
  uploadQueue: number;
  /** Duration of the last acknowledged upload, ms (null before the first). */
  lastUploadMs: number | null;
  segmentsAcknowledged: number;
  /** Segments given up without upload (queue full, rejected, relay unreachable). */
  segmentsDropped: number;
  /** Which encoder runs, and why. */
  encoder: string;
  /** Which audio encoder runs, and why (null without sound). */
  audioEncoder: string | null;
  /** AAC frames encoded in the last report's window, per second (about 46.9 at 48 kHz). */
  audioFps: number;
  /** Audio dropped since the start, in 1024-sample frames (blocks the worker could not take). */
  audioDroppedFrames: number;
  /** The microphone's peak level over the report's window, 0..=1 (for a level meter). */
  audioLevel: number;
  /** Tickets sent in payments nodes accepted (0 without `payment`). */
  ticketsSent: number;
  /** Expected value of those tickets, wei as a decimal string (`BigInt(evPaid)`). */
  evPaid: string;
  /** Fees the nodes charged for the pixels they made, wei as a decimal string. */
  feesDebited: string;
  /** The sender's winning tickets redeemed on the broker so far. */
  winningTickets: number;
  /** The ticket sender's address (session key or wallet), null without `payment`. */
  ticketSender: string | null;
}

/** The `segment` event's detail: the relay acknowledged a segment. */
export interface SegmentAcknowledged {
  seq: number;
  bytes: number;
  durationMs: number;
  uploadMs: number;
  attempts: number;
  /** The transcoder node that made its renditions, if any. */
  transcoder: string | null;
  /** The renditions the relay stored and checked (empty without transcoding). */
  renditions: { profile: string; width: number; height: number; bitrateKbps?: number; pixels?: number; bytes?: number }[];
  /** What this segment paid its node (with `payment`): tickets, their EV and the fee, wei as strings, and the node's balance after it. */
  payment?: { tickets: number; ev: string; fee: string; balance: string };
}

/** The `error` event's detail. `fatal` errors end the broadcast. */
export interface BroadcastError extends LivecastErrorEvent {
  /** The segment concerned, if any. */
  seq?: number;
  /** The relay's or node's HTTP status, if any. */
  status?: number;
}

/** Events and their details. */
export interface BroadcasterEventMap {
  state: BroadcasterState;
  stats: BroadcastStats;
  segment: SegmentAcknowledged;
  error: BroadcastError;
}
"#;

/// Settings read from the options object.
#[derive(Debug, Clone)]
struct Options {
    relay_url: String,
    stream_id: String,
    stream_key: String,
    width: u32,
    height: u32,
    fps: f64,
    bitrate_kbps: u32,
    segment_seconds: f64,
    max_queued_segments: usize,
    encoder: String,
    encoder_workers: Option<u32>,
    /// The microphone; `None` for `audio: false`.
    audio: Option<super::audio::AudioOptions>,
    /// Renditions to ask transcoder nodes for; `None`: source only.
    transcode: Option<TranscodeOptions>,
    /// Ticket payments to the nodes.
    payment: Option<PaymentOptions>,
}

/// The `transcode` option.
#[derive(Debug, Clone)]
struct TranscodeOptions {
    profiles: Vec<Profile>,
    max_price_per_pixel: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Connecting,
    Live,
    Reconnecting,
    Ended,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Connecting => "connecting",
            Self::Live => "live",
            Self::Reconnecting => "reconnecting",
            Self::Ended => "ended",
        }
    }
}

/// A pending promise's two functions.
struct Waiter {
    resolve: Function,
    reject: Function,
}

struct Inner {
    options: Options,
    state: State,
    events: Events,
    worker: Option<Worker>,
    stream: Option<MediaStream>,
    owns_stream: bool,
    frame_source: Option<JsValue>,
    /// How frames came at the last stats report (kept for the final one, after teardown).
    frame_kind: String,
    queue: UploadQueue,
    uploading: bool,
    stats: StatsWindow,
    stats_since: f64,
    stats_timer: Option<i32>,
    encoder_label: String,
    /// Which audio encoder runs and why, once the worker says.
    audio_label: Option<String>,
    audio_frames: f64,
    audio_dropped: f64,
    /// Peak level (0..=1) since the last stats event.
    audio_level: f64,
    next_seq: u64,
    policy: UploadBackoff,
    worker_finished: bool,
    /// The Livepeer broadcaster's state when transcoding is on.
    transcode: Option<TranscodeSession>,
    /// The ticket sender and its books when the broadcast pays its nodes.
    payer: Option<Payer>,
    /// Stats reports so far (the winning-ticket count is read every few).
    stats_ticks: u32,
    ready: Option<Waiter>,
    /// `stop()`'s waits: the encoder flushed its last segment; every segment uploaded.
    flushed: Option<Function>,
    drained: Option<Function>,
    /// The segment being uploaded.
    uploading_seq: Option<u64>,
    // Closures the browser calls back into; kept alive for the broadcast's lifetime.
    on_message: Option<Closure<dyn FnMut(MessageEvent)>>,
    on_tick: Option<Closure<dyn FnMut()>>,
}

type Shared = Rc<RefCell<Inner>>;

fn broadcast_error(code: ErrorCode, message: impl Into<String>) -> LivecastError {
    LivecastError::Broadcast { code, message: message.into() }
}

/// Broadcasts a camera (or any video `MediaStream`) to a Livecast relay as MPEG-TS
/// segments, encoding with openh264 in a dedicated Worker.
///
/// ```js
/// const b = new Broadcaster({ relayUrl, streamId, streamKey, video: { width: 1280, height: 720 } });
/// b.on('stats', (s) => console.log(s.encodedFps, s.outputKbps));
/// b.on('error', (e) => console.warn(e.code, e.message));
/// await b.start();       // asks for the camera, resolves when live
/// await b.stop();        // uploads what is left, then ends the stream
/// ```
#[wasm_bindgen]
pub struct Broadcaster {
    inner: Shared,
}

#[wasm_bindgen]
impl Broadcaster {
    /// Creates a broadcaster; throws `INVALID_CONFIG` naming any bad option.
    #[wasm_bindgen(constructor)]
    pub fn new(#[wasm_bindgen(unchecked_param_type = "BroadcasterOptions")] options: JsValue) -> Result<Broadcaster, JsValue> {
        let options = parse_options(&options)?;
        let events = Events::new("Broadcaster", &["state", "stats", "segment", "error"])?;
        let inner = Inner {
            queue: UploadQueue::new(options.max_queued_segments),
            options,
            state: State::Idle,
            events,
            worker: None,
            stream: None,
            owns_stream: false,
            frame_source: None,
            frame_kind: String::new(),
            uploading: false,
            stats: StatsWindow::default(),
            stats_since: now_ms(),
            stats_timer: None,
            encoder_label: String::new(),
            audio_label: None,
            audio_frames: 0.0,
            audio_dropped: 0.0,
            audio_level: 0.0,
            next_seq: 0,
            policy: UploadBackoff::default(),
            worker_finished: false,
            transcode: None,
            payer: None,
            stats_ticks: 0,
            ready: None,
            flushed: None,
            drained: None,
            uploading_seq: None,
            on_message: None,
            on_tick: None,
        };
        Ok(Self { inner: Rc::new(RefCell::new(inner)) })
    }

    /// The current state: `"idle" | "connecting" | "live" | "reconnecting" | "ended"`.
    #[wasm_bindgen(getter, unchecked_return_type = "BroadcasterState")]
    pub fn state(&self) -> String {
        self.inner.borrow().state.as_str().to_string()
    }

    /// The video being broadcast (the camera the Broadcaster opened, or the stream given
    /// to `start`), for a preview `<video>` (`video.srcObject = b.mediaStream`); `null`
    /// before `start` and after `stop`.
    #[wasm_bindgen(getter, js_name = mediaStream, unchecked_return_type = "MediaStream | null")]
    pub fn media_stream(&self) -> JsValue {
        self.inner.borrow().stream.clone().map_or(JsValue::NULL, JsValue::from)
    }

    /// Starts broadcasting `stream` (or the camera, asked for at the configured size when
    /// none is given). Resolves once the encoder runs; rejects with a typed error
    /// (`NO_CAMERA`, `PERMISSION_DENIED`, `RELAY_UNREACHABLE`, `BAD_STREAM_KEY`, ...).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn start(&self, stream: Option<MediaStream>) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            if inner.borrow().state != State::Idle {
                let state = inner.borrow().state.as_str();
                return Err(broadcast_error(ErrorCode::InvalidState, format!("start() needs an idle Broadcaster, this one is {state}; create a new one")).into());
            }
            set_state(&inner, State::Connecting);
            match start_broadcast(&inner, stream).await {
                Ok(()) => Ok(JsValue::UNDEFINED),
                Err(e) => {
                    let error = JsValue::from(e.clone());
                    fail(&inner, e);
                    Err(error)
                }
            }
        })
    }

    /// Stops: the encoder cuts the last segment (waiting up to 10 s for it), what is queued
    /// is uploaded (waiting up to `drainTimeoutMs`, default 15 s), the relay is told the
    /// stream ended, and the camera is released if the Broadcaster opened it. Resolves when
    /// `state` is `"ended"`, with the segments the relay had not confirmed by then (also
    /// reported as a `SEGMENT_DROPPED` error event). Rejects `INVALID_CONFIG` for bad options.
    /// (Typed by the `Broadcaster` interface in `TS_TYPES`: its options are optional.)
    #[wasm_bindgen(skip_typescript)]
    pub fn stop(&self, options: Option<js_sys::Object>) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let drain_timeout_ms = stop_options(&options.map_or(JsValue::UNDEFINED, JsValue::from))?;
            let state = inner.borrow().state;
            if matches!(state, State::Idle | State::Ended) {
                set_state(&inner, State::Ended);
                return Ok(stop_result(&inner, &[]));
            }
            if let Some(worker) = inner.borrow().worker.as_ref() {
                let _ = worker.post_message(&object(&[("type", "stop".into())]));
            }
            let flushed = Promise::new(&mut |resolve, _| {
                inner.borrow_mut().flushed = Some(resolve);
            });
            let drained = Promise::new(&mut |resolve, _| {
                inner.borrow_mut().drained = Some(resolve);
            });
            check_drained(&inner);
            let _ = JsFuture::from(Promise::race(&Array::of2(&flushed, &sleep(FLUSH_TIMEOUT_MS)))).await;
            let _ = JsFuture::from(Promise::race(&Array::of2(&drained, &sleep(drain_timeout_ms)))).await;
            // What the relay has not confirmed: the queue (abandoned now) and the upload in
            // flight, unless it is acknowledged before the stream is ended.
            let (in_flight, acknowledged, abandoned) = {
                let mut i = inner.borrow_mut();
                let abandoned = i.queue.abandon();
                for _ in &abandoned {
                    i.stats.segment_dropped();
                }
                (i.uploading_seq, i.stats.segments_acknowledged(), abandoned)
            };
            let (relay, id, key) = {
                let o = &inner.borrow().options;
                (o.relay_url.clone(), o.stream_id.clone(), o.stream_key.clone())
            };
            // Best effort: the relay also ends streams that go quiet.
            let _ = http(&format!("{relay}/api/streams/{id}/end"), "POST", Some(&key), None, 5_000.0).await;
            let in_flight = in_flight.filter(|_| {
                let i = inner.borrow();
                i.uploading_seq.is_some() || i.stats.segments_acknowledged() == acknowledged
            });
            let not_confirmed: Vec<u64> = in_flight.into_iter().chain(abandoned).collect();
            if let Some(&first) = not_confirmed.first() {
                let list = not_confirmed.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
                let message = format!(
                    "stop(): the relay had not confirmed segment(s) {list} after {drain_timeout_ms} ms; the stream may lack them (a longer drainTimeoutMs waits more)"
                );
                emit_error(&inner, ErrorCode::SegmentDropped, message, false, Some(first), None);
            }
            teardown(&inner);
            emit_final_stats(&inner);
            set_state(&inner, State::Ended);
            Ok(stop_result(&inner, &not_confirmed))
        })
    }

    /// Adds a listener for `"state" | "stats" | "segment" | "error"`; it receives a
    /// `CustomEvent` whose `detail` is the payload (see `BroadcasterEventMap`).
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

    /// hls.js-style subscription: `callback` receives the payload itself. Returns a
    /// function that unsubscribes.
    /// Throws like `addEventListener` for an unknown name.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn on(
        &self,
        #[wasm_bindgen(unchecked_param_type = "keyof BroadcasterEventMap")] kind: &str,
        #[wasm_bindgen(unchecked_param_type = "(detail: any) => void")] callback: &Function,
    ) -> Result<Function, JsValue> {
        self.inner.borrow().events.on(kind, callback)
    }
}

/// How long `stop()` waits for the encoder to cut the last segment, ms.
const FLUSH_TIMEOUT_MS: f64 = 10_000.0;
/// `stop()`'s default wait for the uploads, ms.
const DRAIN_TIMEOUT_MS: f64 = 15_000.0;
/// The longest `drainTimeoutMs`, ms.
const MAX_DRAIN_TIMEOUT_MS: f64 = 600_000.0;

/// `stop()`'s options: the drain timeout, ms.
fn stop_options(value: &JsValue) -> Result<f64, LivecastError> {
    if value.is_undefined() || value.is_null() {
        return Ok(DRAIN_TIMEOUT_MS);
    }
    let reader = OptionsReader::new(value, "stop", &["drainTimeoutMs"])?;
    let ms = reader.number("drainTimeoutMs")?.unwrap_or(DRAIN_TIMEOUT_MS);
    if !(0.0..=MAX_DRAIN_TIMEOUT_MS).contains(&ms) {
        return Err(LivecastError::InvalidConfig { object: "stop", message: format!("`drainTimeoutMs` must be within 0..={MAX_DRAIN_TIMEOUT_MS}, got {ms}") });
    }
    Ok(ms)
}

/// `stop()`'s result (`StopResult`).
fn stop_result(inner: &Shared, not_confirmed: &[u64]) -> JsValue {
    let seqs: Array = not_confirmed.iter().map(|&s| JsValue::from(s as f64)).collect();
    let acknowledged = inner.borrow().stats.segments_acknowledged() as f64;
    object(&[("segmentsAcknowledged", acknowledged.into()), ("segmentsNotConfirmed", seqs.into())]).into()
}

fn parse_options(value: &JsValue) -> Result<Options, LivecastError> {
    const OBJECT: &str = "Broadcaster";
    let reader = OptionsReader::new(
        value,
        OBJECT,
        &["relayUrl", "streamId", "streamKey", "video", "audio", "audioEncoder", "segmentSeconds", "maxQueuedSegments", "encoder", "encoderWorkers", "transcode", "payment"],
    )?;
    let relay_url = reader.string("relayUrl")?.ok_or_else(|| LivecastError::ConfigType { object: OBJECT, message: "`relayUrl` is required".into() })?;
    let stream_id = reader.string("streamId")?.ok_or_else(|| LivecastError::ConfigType { object: OBJECT, message: "`streamId` is required".into() })?;
    let stream_key = reader.string("streamKey")?.ok_or_else(|| LivecastError::ConfigType { object: OBJECT, message: "`streamKey` is required".into() })?;
    let bad = |message: String| LivecastError::InvalidConfig { object: OBJECT, message };
    if !(relay_url.starts_with("http://") || relay_url.starts_with("https://")) {
        return Err(bad(format!("`relayUrl` must be an http(s) URL, got {relay_url:?}")));
    }
    if stream_id.is_empty() || stream_id.len() > 64 || !stream_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(bad(format!("`streamId` must be 1..=64 letters, digits, - or _, got {stream_id:?}")));
    }
    if stream_key.is_empty() {
        return Err(bad("`streamKey` is empty".into()));
    }
    let video = Reflect::get(value, &"video".into()).unwrap_or(JsValue::UNDEFINED);
    let video = if video.is_undefined() { js_sys::Object::new().into() } else { video };
    let v = OptionsReader::new(&video, OBJECT, &["width", "height", "fps", "bitrateKbps"])?;
    let settings = crate::encode::EncoderSettings::from_options(&crate::encode::EncoderOptions {
        width: Some(v.number("width")?.unwrap_or(1280.0)),
        height: Some(v.number("height")?.unwrap_or(720.0)),
        fps: v.number("fps")?,
        bitrate_kbps: Some(v.number("bitrateKbps")?.unwrap_or(2500.0)),
        keyframe_interval_frames: None,
    })
    .map_err(|e| match e {
        LivecastError::InvalidConfig { message, .. } => bad(format!("video: {message}")),
        other => other,
    })?;
    let segment_seconds = reader.number("segmentSeconds")?.unwrap_or(2.0);
    if !(0.5..=10.0).contains(&segment_seconds) {
        return Err(bad(format!("`segmentSeconds` must be within 0.5..=10, got {segment_seconds}")));
    }
    let max_queued = reader.number("maxQueuedSegments")?.unwrap_or(8.0);
    if !(1.0..=1000.0).contains(&max_queued) || max_queued.fract() != 0.0 {
        return Err(bad(format!("`maxQueuedSegments` must be a whole number within 1..=1000, got {max_queued}")));
    }
    let encoder = reader.string("encoder")?.unwrap_or_else(|| "auto".into());
    if !["auto", "webcodecs", "openh264"].contains(&encoder.as_str()) {
        return Err(bad(format!("`encoder` must be \"auto\", \"webcodecs\" or \"openh264\", got {encoder:?}")));
    }
    let encoder_workers = match reader.number("encoderWorkers")? {
        None => None,
        Some(n) if (1.0..=8.0).contains(&n) && n.fract() == 0.0 => Some(n as u32),
        Some(n) => return Err(bad(format!("`encoderWorkers` must be a whole number within 1..=8, got {n}"))),
    };
    let field = |k: &str| Reflect::get(value, &k.into()).unwrap_or(JsValue::UNDEFINED);
    let audio = super::audio::parse(&field("audio"), &field("audioEncoder"))?;
    let payment = payer::parse(&Reflect::get(value, &"payment".into()).unwrap_or(JsValue::UNDEFINED))?;
    let mut transcode_value = Reflect::get(value, &"transcode".into()).unwrap_or(JsValue::UNDEFINED);
    if payment.is_some() && transcode_value.is_undefined() {
        transcode_value = JsValue::TRUE;
    }
    let transcode = parse_transcode(&transcode_value, settings.height)?;
    if payment.is_some() && transcode.is_none() {
        return Err(bad("`payment` pays transcoder nodes: it needs `transcode`".into()));
    }
    Ok(Options {
        audio,
        payment,
        encoder,
        encoder_workers,
        transcode,
        relay_url: relay_url.trim_end_matches('/').to_string(),
        stream_id,
        stream_key,
        width: settings.width,
        height: settings.height,
        fps: settings.fps,
        bitrate_kbps: settings.bitrate_kbps,
        segment_seconds,
        max_queued_segments: max_queued as usize,
    })
}

/// Reads `transcode`: `undefined`/`false` (source only), `true` (the default ladder), or
/// `{ profiles?: string[], maxPricePerPixel?: number }`.
fn parse_transcode(value: &JsValue, capture_height: u32) -> Result<Option<TranscodeOptions>, LivecastError> {
    const OBJECT: &str = "Broadcaster";
    if value.is_undefined() || value.as_bool() == Some(false) {
        return Ok(None);
    }
    let object = if value.as_bool() == Some(true) { js_sys::Object::new().into() } else { value.clone() };
    let reader = OptionsReader::new(&object, OBJECT, &["profiles", "maxPricePerPixel"])?;
    let bad = |message: String| LivecastError::InvalidConfig { object: OBJECT, message };
    let names = Reflect::get(&object, &"profiles".into()).unwrap_or(JsValue::UNDEFINED);
    let profiles = if names.is_undefined() {
        // The default ladder follows the capture: Livepeer's rungs below its height.
        [P720P30FPS16X9, P360P30FPS16X9, P240P30FPS16X9].into_iter().filter(|p| p.height < capture_height).collect()
    } else {
        let names = names.dyn_into::<Array>().map_err(|_| LivecastError::ConfigType { object: OBJECT, message: "`transcode.profiles` must be an array of profile names".into() })?;
        let mut profiles = Vec::new();
        for name in names.iter() {
            let name = name.as_string().unwrap_or_default();
            let profile = Profile::lookup(&name).ok_or_else(|| bad(format!("`transcode.profiles`: unknown Livepeer profile {name:?} (e.g. \"P360p30fps16x9\")")))?;
            profiles.push(profile.clone());
        }
        profiles
    };
    if profiles.is_empty() {
        return Err(bad("`transcode`: no profile below the capture size; name profiles or turn transcoding off".into()));
    }
    let max_price_per_pixel = reader.number("maxPricePerPixel")?.unwrap_or(0.0);
    // (NaN is refused too.)
    if max_price_per_pixel.is_nan() || max_price_per_pixel < 0.0 {
        return Err(bad(format!("`transcode.maxPricePerPixel` must be >= 0, got {max_price_per_pixel}")));
    }
    Ok(Some(TranscodeOptions { profiles, max_price_per_pixel }))
}

async fn start_broadcast(inner: &Shared, stream: Option<MediaStream>) -> Result<(), LivecastError> {
    let options = inner.borrow().options.clone();
    // 1. The relay knows the stream, and where its segment numbering goes on.
    let url = format!("{}/api/streams/{}", options.relay_url, options.stream_id);
    let (status, body) = match http(&url, "GET", None, None, 8_000.0).await {
        Ok(answer) => answer,
        Err(_) => return Err(broadcast_error(ErrorCode::RelayUnreachable, format!("the relay at {} did not answer; check relayUrl and that the relay runs", options.relay_url))),
    };
    match status {
        200 => {}
        404 => return Err(broadcast_error(ErrorCode::BadStreamKey, format!("the relay has no stream {:?}; create one first", options.stream_id))),
        s => return Err(broadcast_error(ErrorCode::RelayUnreachable, format!("the relay answered {s} for stream {:?}", options.stream_id))),
    }
    let info = js_sys::JSON::parse(&body).unwrap_or(JsValue::NULL);
    if Reflect::get(&info, &"ended".into()).ok().and_then(|v| v.as_bool()) == Some(true) {
        return Err(broadcast_error(ErrorCode::InvalidState, format!("stream {:?} has ended; create a new stream", options.stream_id)));
    }
    let next_seq = ["nextSeq", "segments"]
        .iter()
        .find_map(|k| Reflect::get(&info, &(*k).into()).ok().and_then(|v| v.as_f64()))
        .unwrap_or(0.0);
    inner.borrow_mut().next_seq = next_seq as u64;
    if let Some(payment) = &options.payment {
        let payer = Payer::start(payment.clone()).await?;
        inner.borrow_mut().payer = Some(payer);
    }
    if let Some(transcode) = &options.transcode {
        discover_transcoders(inner, &options, transcode).await?;
    }

    // 2. The video.
    let owns_stream = stream.is_none();
    let (stream, mic_refused) = match stream {
        Some(s) => (s, None),
        None => open_camera(&options).await?,
    };
    {
        let mut i = inner.borrow_mut();
        i.stream = Some(stream.clone());
        i.owns_stream = owns_stream;
    }
    let track: MediaStreamTrack = stream
        .get_video_tracks()
        .get(0)
        .dyn_into()
        .map_err(|_| broadcast_error(ErrorCode::NoCamera, "the MediaStream has no video track"))?;
    let source = open_frame_stream(&track).map_err(|e| broadcast_error(ErrorCode::CameraError, format!("cannot read camera frames: {}", js_message(&e))))?;
    let readable = Reflect::get(&source, &"readable".into()).unwrap_or(JsValue::UNDEFINED);
    inner.borrow_mut().frame_source = Some(source.clone());
    // The microphone: the stream's first audio track, read in the worker. Without one the
    // broadcast goes on with the picture only, and says so.
    let audio = match (&options.audio, mic_refused) {
        (None, _) => None,
        (Some(_), Some(why)) => {
            emit_error(inner, ErrorCode::NoMicrophone, format!("{why}; broadcasting without sound"), false, None, None);
            None
        }
        (Some(_), None) => match super::audio::open(&stream) {
            Ok(Some(found)) => Some(found),
            Ok(None) => {
                emit_error(inner, ErrorCode::NoMicrophone, "the MediaStream has no audio track; broadcasting without sound".into(), false, None, None);
                None
            }
            Err(why) => {
                emit_error(inner, ErrorCode::NoMicrophone, format!("the microphone cannot be read: {why}; broadcasting without sound"), false, None, None);
                None
            }
        },
    };

    // 3. The encode Worker.
    // Its failures (script not loaded, an error thrown, no `ready` in time) come as `error`
    // messages: start() rejects with ENCODER_FAILED instead of waiting.
    let weak = Rc::downgrade(inner);
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        if let Some(inner) = weak.upgrade() {
            on_worker_message(&inner, event.data());
        }
    });
    let worker = start_encode_worker(on_message.as_ref().unchecked_ref())
        .map_err(|e| broadcast_error(ErrorCode::EncoderFailed, format!("cannot start the encode worker: {}", js_message(&e))))?;
    let config = object(&[
        ("width", options.width.into()),
        ("height", options.height.into()),
        ("fps", options.fps.into()),
        ("bitrateKbps", options.bitrate_kbps.into()),
        ("segmentSeconds", options.segment_seconds.into()),
        ("firstSeq", (next_seq).into()),
        ("encoder", options.encoder.as_str().into()),
        ("encoderWorkers", options.encoder_workers.map_or(JsValue::UNDEFINED, JsValue::from)),
        ("pageTimeOrigin", js_sys::Reflect::get(&js_sys::global(), &"performance".into()).and_then(|p| Reflect::get(&p, &"timeOrigin".into())).unwrap_or(JsValue::UNDEFINED)),
        ("audio", match (&options.audio, &audio) {
            (Some(a), Some(_)) => a.worker_config(),
            _ => JsValue::NULL,
        }),
    ]);
    let ready = Promise::new(&mut |resolve, reject| {
        inner.borrow_mut().ready = Some(Waiter { resolve, reject });
    });
    let audio_readable = audio.as_ref().map_or(JsValue::UNDEFINED, |(r, _)| r.clone());
    let start = object(&[
        ("type", "start".into()),
        ("readable", readable.clone()),
        ("audioReadable", audio_readable.clone()),
        ("config", config.into()),
    ]);
    let transfer = if readable.is_object() { Array::of1(&readable) } else { Array::new() };
    if audio_readable.is_object() {
        transfer.push(&audio_readable);
    }
    worker
        .post_message_with_transfer(&start, &transfer)
        .map_err(|e| broadcast_error(ErrorCode::EncoderFailed, format!("cannot hand the camera to the worker: {}", js_message(&e))))?;
    // A source without a transferable stream posts frames to the worker itself.
    if let Ok(attach) = Reflect::get(&source, &"attach".into()).and_then(|f| f.dyn_into::<Function>()) {
        attach
            .call1(&source, &worker)
            .map_err(|e| broadcast_error(ErrorCode::CameraError, format!("cannot play the camera: {}", js_message(&e))))?;
    }
    {
        let mut i = inner.borrow_mut();
        i.worker = Some(worker);
        i.on_message = Some(on_message);
        // (How frames come is read again at every stats report: a capture can change its
        // way, see js/capture-source.js.)
        i.encoder_label = format!("{}x{}", options.width, options.height);
    }
    start_stats_timer(inner)?;
    JsFuture::from(ready).await.map_err(|e| broadcast_error(ErrorCode::EncoderFailed, js_message(&e)))?;
    Ok(())
}

/// Opens the camera, and the microphone with it when `audio` is on. If asking for both fails
/// and the camera alone opens, the microphone was the problem: the stream comes back without
/// sound, with the reason (reported as `NO_MICROPHONE`).
async fn open_camera(options: &Options) -> Result<(MediaStream, Option<String>), LivecastError> {
    let Some(audio) = &options.audio else { return Ok((open_media(options, None).await?, None)) };
    match open_media(options, Some(audio.constraints())).await {
        Ok(stream) => Ok((stream, None)),
        Err(with_mic) => {
            let stream = open_media(options, None).await?;
            let why = match with_mic.code() {
                ErrorCode::PermissionDenied => "microphone access was denied",
                ErrorCode::NoCamera => "no microphone was found",
                _ => "the microphone could not be opened",
            };
            Ok((stream, Some(why.to_owned())))
        }
    }
}

async fn open_media(options: &Options, audio: Option<JsValue>) -> Result<MediaStream, LivecastError> {
    let devices = web_sys::window()
        .ok_or_else(|| broadcast_error(ErrorCode::NoCamera, "the Broadcaster needs a page (window) to open the camera"))?
        .navigator()
        .media_devices()
        .map_err(|_| broadcast_error(ErrorCode::NoCamera, "this page cannot use cameras (it needs https:// or http://localhost)"))?;
    let video = object(&[
        ("width", object(&[("ideal", options.width.into())]).into()),
        ("height", object(&[("ideal", options.height.into())]).into()),
        ("frameRate", object(&[("ideal", options.fps.into())]).into()),
    ]);
    let constraints = MediaStreamConstraints::new();
    constraints.set_video(&video);
    if let Some(audio) = &audio {
        constraints.set_audio(audio);
    }
    let promise = devices.get_user_media_with_constraints(&constraints).map_err(|e| camera_error(&e))?;
    let stream = JsFuture::from(promise).await.map_err(|e| camera_error(&e))?;
    Ok(stream.unchecked_into())
}

/// A getUserMedia failure as an error a page author can act on.
fn camera_error(e: &JsValue) -> LivecastError {
    let name = Reflect::get(e, &"name".into()).ok().and_then(|n| n.as_string()).unwrap_or_default();
    match name.as_str() {
        "NotAllowedError" | "SecurityError" => broadcast_error(ErrorCode::PermissionDenied, "camera access was denied: allow the camera for this page and try again"),
        "NotFoundError" | "OverconstrainedError" => broadcast_error(ErrorCode::NoCamera, "no camera was found: connect one and try again"),
        _ => broadcast_error(ErrorCode::CameraError, format!("the camera could not be opened ({name}): {}", js_message(e))),
    }
}

fn on_worker_message(inner: &Shared, data: JsValue) {
    let get = |k: &str| Reflect::get(&data, &k.into()).unwrap_or(JsValue::UNDEFINED);
    let num = |k: &str| get(k).as_f64().unwrap_or(0.0);
    // An error's code, where the worker names one it knows (CAMERA_ERROR for a stalled camera).
    let code = || get("code").as_string().and_then(|c| ErrorCode::parse(&c)).unwrap_or(ErrorCode::EncoderFailed);
    match get("type").as_string().as_deref() {
        Some("ready") => {
            {
                let mut i = inner.borrow_mut();
                let (backend, reason) = (get("backend").as_string().unwrap_or_default(), get("reason").as_string().unwrap_or_default());
                i.encoder_label = format!("{backend} ({reason}), {}", i.encoder_label);
            }
            if let Some(w) = inner.borrow_mut().ready.take() {
                let _ = w.resolve.call0(&JsValue::NULL);
            }
            set_state(inner, State::Live);
        }
        Some("segment") => {
            let bytes = get("data").dyn_into::<Uint8Array>().map(|a| a.to_vec()).unwrap_or_default();
            let segment = PendingSegment {
                seq: num("seq") as u64,
                data: bytes,
                duration_ms: (num("durationUs") / 1000.0).round() as u64,
                capture_start_ms: num("captureStartMs"),
            };
            let dropped = inner.borrow_mut().queue.push(segment);
            if let Some(seq) = dropped {
                inner.borrow_mut().stats.segment_dropped();
                emit_error(inner, ErrorCode::SegmentDropped, format!("segment {seq} was dropped: the upload could not keep up"), false, Some(seq), None);
            }
            pump_uploads(inner);
        }
        Some("stats") => {
            let mut i = inner.borrow_mut();
            for _ in 0..num("captured") as u32 {
                i.stats.frame_captured();
            }
            i.stats.frames_dropped(num("dropped") as u64);
            i.audio_frames += num("audioFrames");
            i.audio_dropped += num("audioDropped");
            i.audio_level = i.audio_level.max(num("audioLevel"));
            let ms = get("encodeMs").dyn_into::<Array>().map(|a| a.iter().filter_map(|v| v.as_f64()).collect::<Vec<_>>()).unwrap_or_default();
            let bytes = num("bytes") as usize;
            let n = ms.len().max(1);
            for (k, t) in ms.iter().enumerate() {
                // Spread the window's bytes over its frames: only the total matters.
                i.stats.frame_encoded(bytes / n + usize::from(k < bytes % n), *t);
            }
        }
        Some("audio-ready") => {
            let (encoder, reason) = (get("encoder").as_string().unwrap_or_default(), get("reason").as_string().unwrap_or_default());
            inner.borrow_mut().audio_label = Some(format!("{encoder} ({reason})"));
        }
        Some("finished") => {
            inner.borrow_mut().worker_finished = true;
            check_drained(inner);
        }
        Some("error") if get("fatal").as_bool() == Some(false) => {
            let message = get("message").as_string().unwrap_or_else(|| "the encode worker reported a problem".into());
            emit_error(inner, code(), message, false, None, None);
        }
        Some("error") => {
            let message = get("message").as_string().unwrap_or_else(|| "the encode worker failed".into());
            let error = broadcast_error(code(), message);
            if let Some(w) = inner.borrow_mut().ready.take() {
                let _ = w.reject.call1(&JsValue::NULL, &error.clone().into());
            }
            fail(inner, error);
        }
        _ => {}
    }
}

/// Ends the broadcast after a fatal error: an `error` event, everything released.
fn fail(inner: &Shared, error: LivecastError) {
    if inner.borrow().state == State::Ended {
        return;
    }
    emit_error(inner, error.code(), error.to_string(), true, None, None);
    teardown(inner);
    set_state(inner, State::Ended);
}

fn emit_error(inner: &Shared, code: ErrorCode, message: String, fatal: bool, seq: Option<u64>, status: Option<u16>) {
    let mut entries = vec![("code", JsValue::from(code.as_str())), ("message", message.into()), ("fatal", fatal.into())];
    if let Some(seq) = seq {
        entries.push(("seq", (seq as f64).into()));
    }
    if let Some(status) = status {
        entries.push(("status", status.into()));
    }
    dispatch(inner, "error", &object(&entries).into());
}

/// Releases the worker, timers, frame source and (if ours) the camera.
fn teardown(inner: &Shared) {
    let mut i = inner.borrow_mut();
    if let Some(worker) = i.worker.take() {
        worker.terminate();
    }
    if let (Some(id), Some(window)) = (i.stats_timer.take(), web_sys::window()) {
        window.clear_interval_with_handle(id);
    }
    if let Some(source) = i.frame_source.take() {
        if let Ok(close) = Reflect::get(&source, &"close".into()).and_then(|f| f.dyn_into::<Function>()) {
            let _ = close.call0(&source);
        }
    }
    if let Some(stream) = i.stream.take() {
        if i.owns_stream {
            for track in stream.get_tracks().iter() {
                if let Ok(track) = track.dyn_into::<MediaStreamTrack>() {
                    track.stop();
                }
            }
        }
    }
    i.on_message = None;
    i.on_tick = None;
}

fn set_state(inner: &Shared, state: State) {
    if std::mem::replace(&mut inner.borrow_mut().state, state) != state {
        dispatch(inner, "state", &state.as_str().into());
    }
}

fn dispatch(inner: &Shared, kind: &str, detail: &JsValue) {
    // Listeners run synchronously: no borrow of `inner` is held while they do.
    let events = inner.borrow().events.clone();
    events.dispatch(kind, detail);
}

/// A promise that resolves after `ms`.
fn sleep(ms: f64) -> Promise {
    Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms.max(0.0) as i32);
        }
    })
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// The message of a thrown JS value.
fn js_message(e: &JsValue) -> String {
    Reflect::get(e, &"message".into()).ok().and_then(|m| m.as_string()).or_else(|| e.as_string()).unwrap_or_else(|| format!("{e:?}"))
}
