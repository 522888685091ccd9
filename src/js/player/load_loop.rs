//! The Player's loader loop: the manifest, then the next segment until the stream ends or the
//! session changes. What to do next is `crate::player::loader::plan`, which level
//! `crate::player::levels`, and what each outcome (appended, given up, unparsable) changes
//! `crate::player::session`; this module performs them: playlist reloads on the live
//! cadence, fetches, parsing and appends, and the actions and events the session answers.

use super::*;

/// Whether segment `sequence` of `level`, being downloaded, became unneeded: after a seek,
/// the loader's next step would jump elsewhere (`seek::jump` to another segment). A seek
/// inside that segment, or into media the download extends, keeps it.
fn superseded(i: &Inner, level: usize, sequence: u64) -> bool {
    let Some(p) = i.levels.get(level).and_then(|l| l.playlist.as_ref()) else { return false };
    let failed = |s: u64| i.state.given_up(s);
    let origin = i.state.vod_origin.unwrap_or(0.0);
    let plan = seek::jump(p, &i.state.timeline, origin, &source_ranges(i), i.video.current_time(), sequence, &failed);
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
    if let (Some((start, end)), Some(p)) = (seek::live_window(&media, &i.state.timeline), i.pipeline.as_ref()) {
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
pub(super) async fn run(inner: &Shared, session: u32, url: &str) -> Result<(), PlayerError> {
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
        (live_start, !p.ended, seek::live_place(p, &i.state.timeline, live_start).filter(|_| !p.ended))
    };
    // Live: media goes on the playlist's clock, the join point after the window behind it.
    inner.borrow_mut().state.start(live_start, place);
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
            timeline: &i.state.timeline,
            next_sequence: i.state.next_sequence,
            place_next_at: i.state.place_next_at,
            vod_origin: i.state.vod_origin,
            dvr: i.monitor.dvr(),
            max_buffer_s: i.buffer_cap_s.unwrap_or(i.config.max_buffer_seconds).min(i.config.max_buffer_seconds),
            back_buffer_s: i.config.back_buffer_seconds,
            streaming_wanted: source.as_ref().is_none_or(streaming_wanted),
            live_sync_segments: i.config.live_sync_segments,
        };
        loader::plan(&input, &|s| i.state.given_up(s))
    };
    if let Some((start, end)) = plan.evict {
        remove(inner, start, end).await;
    }
    let (sequence, ahead) = match plan.next {
        Next::Load { sequence, ahead } => (sequence, ahead),
        next @ (Next::Jump { .. } | Next::Restart { .. }) => {
            inner.borrow_mut().state.planned(&next);
            return Ok(Step::Appended);
        }
        Next::Wait { ms } => return Ok(Step::Wait(ms)),
        Next::WaitForStreaming => {
            if let Some(ms) = source {
                let _ = JsFuture::from(sleep_until_event(ms.unchecked_ref(), "startstreaming", 1000.0)).await;
            }
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
        inner.borrow_mut().state.switched(mapped);
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
            inner.borrow_mut().state.superseded += 1;
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
    let discontinuity = inner.borrow().state.discontinuity(&segment, mapped);
    let media = match prepare(inner, &bytes, init, discontinuity, &url, segment.duration) {
        Ok(m) => m,
        Err(e) => {
            // Backs off between bad segments; fatal after a few in a row.
            let actions = {
                let mut guard = inner.borrow_mut();
                let i = &mut *guard;
                i.state.unparsable(i.levels[level].playlist.as_ref(), mapped, e, &url)?
            };
            return Ok(perform(inner, actions).await.map_or(Step::Appended, Step::Wait));
        }
    };
    let place_at = inner.borrow().state.place_next_at;
    match append(inner, session, media, place_at).await {
        Ok(Some((start, end))) => {
            let actions = {
                let mut i = inner.borrow_mut();
                i.ended_stream = false;
                let auto = i.forced_level.is_none();
                i.state.appended(Appended { level, segment: &segment, ended, start, end, bytes: bytes.len(), load_ms: ms, auto })
            };
            perform(inner, actions).await;
            Ok(Step::Appended)
        }
        Ok(None) => Ok(Step::Wait(1000.0)),
        Err(e) => Err(e),
    }
}

/// Gives segment `sequence` of `level` up for this session (see [`Session::give_up`]).
fn give_up(inner: &Shared, level: usize, sequence: u64) {
    let mut guard = inner.borrow_mut();
    let i = &mut *guard;
    i.state.give_up(i.levels[level].playlist.as_ref(), sequence);
}

/// Performs what the session answered; returns the wait it asked for, if any.
async fn perform(inner: &Shared, actions: Vec<Action>) -> Option<f64> {
    let mut wait = None;
    for action in actions {
        match action {
            Action::Emit(event) => emit(inner, event),
            Action::Seek(to) => inner.borrow().video.set_current_time(to),
            Action::SetVodDuration { level } => set_vod_duration(inner, level).await,
            Action::Wait(ms) => wait = Some(ms),
        }
    }
    wait
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
        // `pick` never answers a level known to have a gap here; only a playlist loaded
        // just now can show one.
        if !reload {
            return Ok(Some(level));
        }
        if let Err(e) = load_level(inner, session, level, false).await {
            if level == current {
                return Err(e);
            }
            report(inner, &e, ErrorDetails::LevelLoadError, false, None);
            excluded.push(level);
            continue;
        }
        if !levels::is_gap(&level_views(&inner.borrow()), current, sequence, level) {
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
