//! The Broadcaster's options (`new Broadcaster(options)`, `stop(options)`): read from the
//! page's object, checked, with their documented defaults; a bad one is an `INVALID_CONFIG`
//! or `CONFIG_TYPE` error naming the field.

use super::*;

/// Settings read from the options object.
#[derive(Debug, Clone)]
pub(super) struct Options {
    pub(super) relay_url: String,
    pub(super) stream_id: String,
    pub(super) stream_key: String,
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) fps: f64,
    pub(super) bitrate_kbps: u32,
    pub(super) segment_seconds: f64,
    pub(super) max_queued_segments: usize,
    pub(super) encoder: String,
    pub(super) encoder_workers: Option<u32>,
    /// The microphone; `None` for `audio: false`.
    pub(super) audio: Option<crate::js::audio::AudioOptions>,
    /// Renditions to ask transcoder nodes for; `None`: source only.
    pub(super) transcode: Option<TranscodeOptions>,
    /// Ticket payments to the nodes.
    pub(super) payment: Option<PaymentOptions>,
}

/// The `transcode` option.
#[derive(Debug, Clone)]
pub(super) struct TranscodeOptions {
    pub(super) profiles: Vec<Profile>,
    pub(super) max_price_per_pixel: f64,
}

const MAX_DRAIN_TIMEOUT_MS: f64 = 600_000.0;

/// `stop()`'s options: the drain timeout, ms.
pub(super) fn stop_options(value: &JsValue) -> Result<f64, LivecastError> {
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

pub(super) fn parse_options(value: &JsValue) -> Result<Options, LivecastError> {
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
    let audio = crate::js::audio::parse(&field("audio"), &field("audioEncoder"))?;
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
pub(super) fn parse_transcode(value: &JsValue, capture_height: u32) -> Result<Option<TranscodeOptions>, LivecastError> {
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
