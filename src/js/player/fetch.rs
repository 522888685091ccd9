//! The Player's GETs: one fetch with its timeout and seek watch, and the retries around it
//! (the policy is `crate::player::RetryPolicy`; this performs it).

use super::*;

/// How a GET that did not fail ended.
pub(super) enum Fetched {
    /// The body, and the ms from the request to its last byte.
    Bytes(Vec<u8>, f64),
    /// Aborted because a seek made it unneeded (see [`superseded`]).
    Superseded,
}

/// A segment request's watch on seeks: the element whose `seeking` events are checked, and
/// the check (true: abort the request).
type SeekWatch<'a> = (&'a EventTarget, &'a Function);

/// One GET, or the failure as a network error.
pub(super) async fn get(url: &str, what: &'static str, timeout_ms: f64, watch: Option<SeekWatch<'_>>) -> Result<Fetched, PlayerError> {
    let promise = fetch_bytes(url, timeout_ms, watch.map(|w| w.0), watch.map(|w| w.1));
    let result = JsFuture::from(promise).await.unwrap_or(JsValue::UNDEFINED);
    let field = |k: &str| Reflect::get(&result, &k.into()).unwrap_or(JsValue::UNDEFINED);
    if field("superseded").is_truthy() {
        return Ok(Fetched::Superseded);
    }
    let status = field("status").as_f64().unwrap_or(0.0);
    let ms = field("ms").as_f64().unwrap_or(0.0);
    if (200.0..300.0).contains(&status) {
        let bytes = field("bytes").dyn_into::<Uint8Array>().map(|a| a.to_vec()).unwrap_or_default();
        return Ok(Fetched::Bytes(bytes, ms));
    }
    let reason = field("error").as_string().unwrap_or_else(|| "no answer".into());
    Err(PlayerError::Network { what, url: url.to_string(), reason })
}

/// A GET retried per `policy`; `on_retry` hears each failure that will be retried. With
/// `mind_buffer` (live segments), a segment that is missing (404, 410: unlikely to appear)
/// is not retried when the retry would outlast the media buffered ahead of a playing video:
/// skipping it costs less than a stall. Transient failures (5xx, timeouts) always get the
/// policy's retries. The error comes back with the number of retries made. With `watch`,
/// a seek that makes the request unneeded ends it (no retry, no error).
#[allow(clippy::too_many_arguments)]
pub(super) async fn get_with_retry(
    inner: &Shared,
    session: u32,
    url: &str,
    what: &'static str,
    policy: RetryPolicy,
    mind_buffer: bool,
    watch: Option<SeekWatch<'_>>,
    mut on_retry: impl FnMut(&PlayerError, u32),
) -> Result<Fetched, (PlayerError, u32)> {
    let timeout = inner.borrow().config.request_timeout_ms;
    let mut retry = 0;
    loop {
        match get(url, what, timeout, watch).await {
            Ok(ok) => return Ok(ok),
            Err(e) => {
                retry += 1;
                let missing = matches!(&e, PlayerError::Network { reason, .. } if reason == "HTTP 404" || reason == "HTTP 410");
                let outlasts_buffer = |delay: f64| {
                    if !(mind_buffer && missing) {
                        return false;
                    }
                    let i = inner.borrow();
                    let position = i.video.current_time();
                    let ahead = buffer::ahead(&pairs(&buffered_ranges(&i.video)), position);
                    i.monitor.started() && !i.video.paused() && ahead < delay / 1000.0 + 0.25
                };
                match policy.delay_ms(retry) {
                    Some(delay) if alive(inner, session) && !outlasts_buffer(delay) => {
                        on_retry(&e, retry);
                        sleep(delay).await;
                    }
                    _ => return Err((e, retry - 1)),
                }
            }
        }
    }
}

/// [`get_with_retry`] for what no seek supersedes (playlists, init segments): the bytes and
/// ms, or the last failure.
pub(super) async fn get_required(
    inner: &Shared,
    session: u32,
    url: &str,
    what: &'static str,
    policy: RetryPolicy,
    on_retry: impl FnMut(&PlayerError, u32),
) -> Result<(Vec<u8>, f64), PlayerError> {
    match get_with_retry(inner, session, url, what, policy, false, None, on_retry).await {
        Ok(Fetched::Bytes(bytes, ms)) => Ok((bytes, ms)),
        Ok(Fetched::Superseded) => Err(PlayerError::Network { what, url: url.to_string(), reason: "aborted".into() }),
        Err((e, _)) => Err(e),
    }
}
