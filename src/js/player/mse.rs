//! The Player's Media Source side: turning fetched media into what the SourceBuffer takes,
//! appending it (with recovery from a full buffer or a decode error), eviction, the VOD
//! duration and the end of the stream. The Promise wrappers are in `js/player-mse.js`.

use super::*;

/// Media ready for the SourceBuffer.
pub(super) struct Media {
    init: Option<(Vec<u8>, String)>,
    data: Vec<u8>,
    /// The playlist's duration for it, s.
    duration: f64,
}

/// TS → fMP4 through the transmuxer; fMP4 passes through with its init segment.
pub(super) fn prepare(inner: &Shared, bytes: &[u8], init: Option<Vec<u8>>, discontinuity: bool, url: &str, duration: f64) -> Result<Media, PlayerError> {
    let mut i = inner.borrow_mut();
    let Some(pipeline) = i.pipeline.as_mut() else { return Err(PlayerError::Media("no MediaSource".into())) };
    let mux = |e: livecast_core::Error| PlayerError::Mux { url: url.to_string(), reason: e.to_string() };
    if bytes.first() == Some(&0x47) {
        let fragment = pipeline.transmuxer.push_segment(bytes, SegmentOptions { discontinuity }).map_err(mux)?;
        if let Some(init) = &fragment.init {
            i.audio_codec = init.audio_codec.clone();
        }
        let init = fragment.init.map(|i| {
            let mime = i.mime_type();
            (i.bytes, mime)
        });
        return Ok(Media { init, data: fragment.data, duration });
    }
    let init = match init {
        Some(b) => {
            let info = probe_init(&b).map_err(mux)?;
            i.audio_codec = info.audio_codec.clone();
            Some((b, info.mime_type()))
        }
        None => None,
    };
    Ok(Media { init, data: bytes.to_vec(), duration })
}

/// Opens a MediaSource on the video element.
pub(super) async fn open_pipeline(inner: &Shared) -> Result<(), PlayerError> {
    let video = inner.borrow().video.clone();
    // The first one `load` attached already; a media reset opens another.
    let source = inner.borrow_mut().pending_source.take().unwrap_or_else(|| open_media_source(&video));
    let ms = JsFuture::from(source).await.map_err(|e| PlayerError::Media(js_message(&e)))?;
    inner.borrow_mut().pipeline =
        Some(Pipeline { media_source: ms, source_buffer: None, mime: String::new(), init: None, transmuxer: Transmuxer::new().with_audio(), duration_set: false });
    Ok(())
}

pub(super) fn js_message(e: &JsValue) -> String {
    Reflect::get(e, &"message".into()).ok().and_then(|m| m.as_string()).or_else(|| e.as_string()).unwrap_or_else(|| "unknown error".into())
}

pub(super) fn js_name(e: &JsValue) -> String {
    Reflect::get(e, &"name".into()).ok().and_then(|m| m.as_string()).unwrap_or_default()
}

/// Appends init (when it changed) and data. `Ok(Some((start, end)))`: where the data went;
/// `Ok(None)`: the buffer is full, try later; `Err`: fatal.
pub(super) async fn append(inner: &Shared, session: u32, media: Media, place_at: Option<f64>) -> Result<Option<(f64, f64)>, PlayerError> {
    let mut quota_retried = false;
    loop {
        match append_once(inner, &media, place_at).await {
            Ok(range) => return Ok(Some(range)),
            Err(e) if js_name(&e) == "QuotaExceededError" => {
                let (position, ranges) = {
                    let i = inner.borrow();
                    (i.video.current_time(), pairs(&buffered_ranges(&i.video)))
                };
                let plan = buffer::quota_eviction(&ranges, position);
                if quota_retried || plan.is_none() {
                    // Evicting did not make room (or there was nothing to evict): hold the
                    // buffer at what fits and try this segment again later. No loop.
                    let mut i = inner.borrow_mut();
                    let ahead = buffer::ahead(&ranges, position);
                    i.buffer_cap_s = Some((ahead * 0.8).max(2.0));
                    drop(i);
                    report(inner, &PlayerError::Media(format!("the SourceBuffer is full ({:.1} s ahead); loading pauses until it drains", ahead)), ErrorDetails::BufferFullError, false, None);
                    return Ok(None);
                }
                if let Some((start, end)) = plan {
                    remove(inner, start, end).await;
                }
                quota_retried = true;
            }
            Err(e) => {
                if !alive(inner, session) {
                    return Ok(None);
                }
                return recover(inner, &e, Failed::Appending).await.map(|_| None);
            }
        }
    }
}

/// `place_at`: where the media must start (a VOD seek), else after the previous segment.
pub(super) async fn append_once(inner: &Shared, media: &Media, place_at: Option<f64>) -> Result<(f64, f64), JsValue> {
    let sb = {
        let mut i = inner.borrow_mut();
        let Some(p) = i.pipeline.as_mut() else { return Err(js_sys::Error::new("no MediaSource").into()) };
        if let Some((_, mime)) = &media.init {
            match &p.source_buffer {
                None => {
                    if !type_supported(mime) {
                        return Err(js_sys::Error::new(&format!("this browser cannot play {mime}")).into());
                    }
                    p.source_buffer = Some(add_source_buffer(&p.media_source, mime)?);
                    p.mime = mime.clone();
                }
                Some(sb) if *mime != p.mime => {
                    if buffer::needs_change_type(&p.mime, mime) {
                        change_type(sb, mime)?;
                    }
                    p.mime = mime.clone();
                }
                Some(_) => {}
            }
        }
        // fMP4 input repeats its init segment with every segment: append it on change only.
        let init = media.init.as_ref().map(|(b, _)| b).filter(|b| p.init.as_ref() != Some(*b)).cloned();
        let sb = p.source_buffer.clone().ok_or_else(|| JsValue::from(js_sys::Error::new("a segment arrived before any init segment (no SPS/PPS or EXT-X-MAP)")))?;
        (sb, init)
    };
    let (sb, init) = sb;
    if let Some(bytes) = init {
        JsFuture::from(append_buffer(&sb, &Uint8Array::from(bytes.as_slice()))).await?;
        if let Some(p) = inner.borrow_mut().pipeline.as_mut() {
            p.init = Some(bytes);
        }
    }
    // In `sequence` mode the next frames start at the timestamp offset just set.
    if let Some(t) = place_at {
        set_timestamp_offset(&sb, t)?;
    }
    // Where the media should land; the very first segment lands at its own timestamps.
    let (from, slack) = match place_at {
        Some(t) => (t, buffer::PLACEMENT_SLACK_S),
        None => match inner.borrow().state.timeline.last() {
            Some(e) => (e.end, buffer::PLACEMENT_SLACK_S),
            None => (buffer::end(&pairs(&buffered_ranges(&sb))), f64::INFINITY),
        },
    };
    JsFuture::from(append_buffer(&sb, &Uint8Array::from(media.data.as_slice()))).await?;
    let Some((start, end)) = buffer::appended(&pairs(&buffered_ranges(&sb)), from, slack, media.duration) else {
        // The SourceBuffer took the bytes but buffered nothing there: its parser is stuck
        // on corrupt data (Chromium waits for a box that never ends). A media error.
        let e = js_sys::Error::new(&format!("the SourceBuffer buffered nothing from a {:.1} s segment (corrupt data)", media.duration));
        e.set_name("MediaError");
        return Err(e.into());
    };
    Ok((start, end))
}

/// VOD: the MediaSource's duration becomes the playlist's length once, so the page can seek
/// anywhere in it (MSE would otherwise report only what is buffered).
pub(super) async fn set_vod_duration(inner: &Shared, level: usize) {
    let (ms, sb, seconds) = {
        let i = inner.borrow();
        let Some(p) = i.pipeline.as_ref().filter(|p| !p.duration_set) else { return };
        let Some(sb) = p.source_buffer.clone() else { return };
        let Some(playlist) = i.levels[level].playlist.as_ref() else { return };
        (p.media_source.clone(), sb, i.state.vod_origin.unwrap_or(0.0) + playlist.duration())
    };
    let _ = JsFuture::from(set_duration(&ms, &sb, seconds)).await;
    if let Some(p) = inner.borrow_mut().pipeline.as_mut() {
        p.duration_set = true;
    }
}

/// A media error: one reset of the SourceBuffer pipeline (a new MediaSource, the transmuxer
/// restarted), then fatal; [`Session::media_error`] decides where loading goes on.
pub(super) async fn recover(inner: &Shared, e: &JsValue, failed: Failed) -> Result<(), PlayerError> {
    let error = PlayerError::Media(js_message(e));
    let (reset, event) = {
        let mut guard = inner.borrow_mut();
        let i = &mut *guard;
        let position = i.video.current_time();
        let level = i.state.loaded_level.unwrap_or(0);
        let playlist = i.levels.get(level).and_then(|l| l.playlist.as_ref());
        let (reset, event) = i.state.media_error(failed, playlist, position, error)?;
        i.media_failed = None;
        i.pipeline = None;
        i.monitor.media_reset(now_ms());
        (reset, event)
    };
    emit(inner, event);
    open_pipeline(inner).await?;
    inner.borrow_mut().state.reset_done(reset);
    Ok(())
}

pub(super) async fn remove(inner: &Shared, start: f64, end: f64) {
    let sb = inner.borrow().pipeline.as_ref().and_then(|p| p.source_buffer.clone());
    if let Some(sb) = sb {
        let _ = JsFuture::from(remove_range(&sb, start, end)).await;
        // A removal reopens an ended MediaSource: it must be ended again.
        inner.borrow_mut().ended_stream = false;
    }
}

/// VOD fully buffered: end the MediaSource so playback ends instead of waiting.
pub(super) async fn finish(inner: &Shared) {
    let (ms, sb) = {
        let mut i = inner.borrow_mut();
        if i.ended_stream {
            return;
        }
        i.ended_stream = true;
        match i.pipeline.as_ref() {
            Some(p) => (p.media_source.clone(), p.source_buffer.clone()),
            None => return,
        }
    };
    if let Some(sb) = sb {
        let _ = JsFuture::from(end_of_stream(&ms, &sb)).await;
    }
}
