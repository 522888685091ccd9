//! `Broadcaster`: camera → encode Worker (openh264 + MPEG-TS) → uploads to the relay.
//!
//! The page's thread only moves data: frames go to the Worker as a transferred
//! `ReadableStream`, segments come back as transferred buffers and are uploaded with
//! `fetch` (retries with backoff and jitter, a bounded queue). State changes, stats,
//! acknowledged segments and errors are events on the object.
//!
//! This file holds the class, start-up (camera, microphone, the Worker) and teardown;
//! [`options`] reads its options, [`types`] declares them and its events for TypeScript,
//! [`uploads`] runs the upload loop and its HTTP calls, [`transcoders`] the nodes and their
//! payments, [`stats`] the `stats` events. The decisions they execute are plain Rust in
//! [`crate::broadcast`], tested natively.

mod options;
mod stats;
mod transcoders;
mod types;
mod uploads;

use self::options::*;
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
/// `stop()`'s result (`StopResult`).
fn stop_result(inner: &Shared, not_confirmed: &[u64]) -> JsValue {
    let seqs: Array = not_confirmed.iter().map(|&s| JsValue::from(s as f64)).collect();
    let acknowledged = inner.borrow().stats.segments_acknowledged() as f64;
    object(&[("segmentsAcknowledged", acknowledged.into()), ("segmentsNotConfirmed", seqs.into())]).into()
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
