//! The Player's 250 ms monitor: reads the element (position, buffered ranges, decoded
//! frames), hands that to `crate::player::monitor::Monitor` and performs what it answers
//! (catch-up rate, jumps to the live edge or over holes, stall and latency events).

use super::*;

/// The 250 ms monitor: stalls, holes, latency, catch-up and jumps to the live edge.
pub(super) async fn monitor(inner: &Shared, session: u32) {
    while alive(inner, session) {
        sleep(250.0).await;
        if !alive(inner, session) {
            break;
        }
        tick(inner);
    }
}

/// One monitor tick: reads the element, asks [`Monitor::tick`] what to do, does it.
pub(super) fn tick(inner: &Shared) {
    if has_no_pipeline(inner) {
        return;
    }
    let now = now_ms();
    let video = inner.borrow().video.clone();
    let position = video.current_time();
    let ranges = pairs(&buffered_ranges(&video));
    let error = Reflect::get(&video, &"error".into()).unwrap_or(JsValue::NULL);
    let media_error = (!error.is_null() && !error.is_undefined())
        .then(|| Reflect::get(&error, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_default());
    let hole_limit = hole_limit(inner, position);
    let actions = {
        let mut guard = inner.borrow_mut();
        let i = &mut *guard;
        let current = i.state.timeline.at(position).map(|e| e.level).or(i.state.loaded_level).unwrap_or(0);
        let playlist = i.levels.get(current).and_then(|l| l.playlist.as_ref().map(|p| (p, l.loaded_at_ms)));
        let input = Tick {
            now_ms: now,
            position,
            buffered: &ranges,
            paused: video.paused(),
            ended: video.ended(),
            seeking: video.seeking(),
            media_error: media_error.as_deref(),
            timeline: &i.state.timeline,
            playlist,
            hole_limit,
            loader_seek_pending: i.state.seek_to_sequence.is_some(),
            next_sequence: i.state.next_sequence,
            level_forced: i.forced_level.is_some(),
            decoded_frames: decoded_frames(&video),
        };
        i.monitor.tick(&i.config, input)
    };
    for action in actions {
        match action {
            MonitorAction::MediaFailed(message) => {
                // A decode error ends the element's playback: the loader rebuilds the pipeline.
                let mut i = inner.borrow_mut();
                if i.media_failed.is_none() && i.pipeline.is_some() {
                    i.media_failed = Some(message);
                }
            }
            MonitorAction::Seek(to) => video.set_current_time(to),
            MonitorAction::SetRate(rate) => video.set_playback_rate(rate),
            MonitorAction::LoadFrom { sequence, place_at } => {
                inner.borrow_mut().state.load_from(sequence, place_at);
            }
            MonitorAction::Emergency => inner.borrow_mut().emergency = true,
            MonitorAction::Stalled { position, count, level } => {
                dispatch(inner, "stalled", &object(&[("position", position.into()), ("count", count.into()), ("level", level.into())]).into());
            }
            MonitorAction::Latency { latency, target, playback_rate } => {
                dispatch(inner, "latency", &object(&[("latency", latency.into()), ("target", target.into()), ("playbackRate", playback_rate.into())]).into());
            }
        }
    }
}

/// `getVideoPlaybackQuality().totalVideoFrames`, where the element has it.
pub(super) fn decoded_frames(video: &HtmlMediaElement) -> Option<u64> {
    let quality = Reflect::get(video, &"getVideoPlaybackQuality".into()).ok()?.dyn_into::<Function>().ok()?.call0(video).ok()?;
    let frames = Reflect::get(&quality, &"totalVideoFrames".into()).ok()?.as_f64()?;
    (frames.is_finite() && frames >= 0.0).then_some(frames as u64)
}

/// The largest hole the monitor jumps at `position` (see [`Session::hole_limit`]).
pub(super) fn hole_limit(inner: &Shared, position: f64) -> f64 {
    let i = inner.borrow();
    let level = i.state.loaded_level.unwrap_or(0);
    i.state.hole_limit(i.levels.get(level).and_then(|l| l.playlist.as_ref()), position)
}

pub(super) fn has_no_pipeline(inner: &Shared) -> bool {
    inner.borrow().pipeline.is_none()
}
