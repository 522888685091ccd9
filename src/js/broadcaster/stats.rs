//! The broadcaster's `stats` events: the timer, the report over a window, the final report.

use super::*;

pub(super) fn start_stats_timer(inner: &Shared) -> Result<(), LivecastError> {
    let weak = Rc::downgrade(inner);
    let tick = Closure::<dyn FnMut()>::new(move || {
        if let Some(inner) = weak.upgrade() {
            emit_stats(&inner);
        }
    });
    let window = web_sys::window().ok_or_else(|| broadcast_error(ErrorCode::InvalidState, "no window"))?;
    let id = window
        .set_interval_with_callback_and_timeout_and_arguments_0(tick.as_ref().unchecked_ref(), 1000)
        .map_err(|e| broadcast_error(ErrorCode::InvalidState, js_message(&e)))?;
    let mut i = inner.borrow_mut();
    i.stats_timer = Some(id);
    i.on_tick = Some(tick);
    i.stats_since = now_ms();
    Ok(())
}

pub(super) fn emit_stats(inner: &Shared) {
    emit_stats_over(inner, 0.0);
}

/// The last report, at `stop()`: rates over at least a second, so the short final window
/// does not inflate them.
pub(super) fn emit_final_stats(inner: &Shared) {
    emit_stats_over(inner, 1.0);
}

pub(super) fn emit_stats_over(inner: &Shared, min_seconds: f64) {
    let (snapshot, label, audio) = {
        let mut i = inner.borrow_mut();
        let now = now_ms();
        let seconds = ((now - i.stats_since) / 1000.0).max(min_seconds);
        i.stats_since = now;
        let queued = i.queue.len();
        i.stats_ticks += 1;
        let audio_frames = std::mem::take(&mut i.audio_frames);
        let audio_level = std::mem::take(&mut i.audio_level);
        let audio = crate::js::audio::stats_entries(i.audio_label.as_deref(), audio_frames, i.audio_dropped, audio_level, seconds);
        if let Some(kind) = i.frame_source.as_ref().and_then(|f| Reflect::get(f, &"kind".into()).ok()).and_then(|k| k.as_string()) {
            i.frame_kind = kind;
        }
        (i.stats.snapshot(seconds, queued), format!("{}, frames via {}", i.encoder_label, i.frame_kind), audio)
    };
    poll_winning_tickets(inner);
    let mut payments = payer::stats_entries(inner.borrow().payer.as_ref());
    payments.extend(audio);
    dispatch(inner, "stats", &stats_to_js(&snapshot, &label, payments));
}

pub(super) fn stats_to_js(s: &StatsSnapshot, encoder: &str, payments: Vec<(&'static str, JsValue)>) -> JsValue {
    let mut entries = vec![
        ("capturedFps", s.captured_fps.into()),
        ("encodedFps", s.encoded_fps.into()),
        ("encodeMsP50", s.encode_ms_p50.into()),
        ("encodeMsP95", s.encode_ms_p95.into()),
        ("outputKbps", s.output_kbps.into()),
        ("droppedFrames", (s.dropped_frames as f64).into()),
        ("uploadQueue", (s.upload_queue as f64).into()),
        ("lastUploadMs", s.last_upload_ms.map_or(JsValue::NULL, JsValue::from)),
        ("segmentsAcknowledged", (s.segments_acknowledged as f64).into()),
        ("segmentsDropped", (s.segments_dropped as f64).into()),
        ("encoder", encoder.into()),
    ];
    entries.extend(payments);
    object(&entries).into()
}
