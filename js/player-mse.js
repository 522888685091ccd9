// Media Source Extensions and fetch helpers for the Player, as Promises: the browser's
// event-based APIs (sourceopen, updateend) are awkward to await from Rust, so each one is
// wrapped here once. This file is a wasm-bindgen snippet used by the Player; it holds no
// state and makes no decisions (those are in Rust).

/** The MIME type the Player needs: fragmented MP4 with H.264. */
const PROBE_TYPE = 'video/mp4; codecs="avc1.42E01E"';

/**
 * The MediaSource constructor to use: MediaSource, else ManagedMediaSource (Safari on
 * iPhone has only the latter), else null.
 */
function mediaSourceClass() {
  for (const MS of [globalThis.MediaSource, globalThis.ManagedMediaSource]) {
    if (typeof MS === 'function' && typeof MS.isTypeSupported === 'function') return MS;
  }
  return null;
}

/** Whether Media Source Extensions can play fMP4 H.264 here. */
export function mseSupported() {
  const MS = mediaSourceClass();
  return MS !== null && MS.isTypeSupported(PROBE_TYPE);
}

/** Whether `type` can be appended to a SourceBuffer. */
export function typeSupported(type) {
  const MS = mediaSourceClass();
  return MS !== null && MS.isTypeSupported(type);
}

/**
 * Whether the MediaSource wants media now: a ManagedMediaSource says when the browser has
 * enough (`endstreaming`, `streaming` false) and when to go on (`startstreaming`); a plain
 * MediaSource always does.
 */
export function streamingWanted(ms) {
  return ms?.streaming !== false;
}

/**
 * Attaches a new MediaSource to `video`; resolves to it once open (rejects after 10 s).
 * The object URL is revoked once the source is open.
 */
export function openMediaSource(video) {
  const MS = mediaSourceClass();
  const managed = MS !== null && MS === globalThis.ManagedMediaSource;
  const ms = new MS();
  return new Promise((resolve, reject) => {
    const url = URL.createObjectURL(ms);
    const timer = setTimeout(() => reject(new Error('the MediaSource did not open within 10 s')), 10_000);
    ms.addEventListener('sourceopen', () => {
      clearTimeout(timer);
      URL.revokeObjectURL(url);
      resolve(ms);
    }, { once: true });
    // A ManagedMediaSource opens only on an element without remote playback (or with an
    // AirPlay alternative source, which a live MSE stream does not have).
    if (managed) video.disableRemotePlayback = true;
    video.src = url;
  });
}

/** Adds a SourceBuffer for `type` in `sequence` mode (segments play back to back). */
export function addSourceBuffer(ms, type) {
  const sb = ms.addSourceBuffer(type);
  sb.mode = 'sequence';
  return sb;
}

/** Switches a SourceBuffer to another codec string (a new level's init segment). */
export function changeType(sb, type) {
  if (typeof sb.changeType === 'function') sb.changeType(type);
}

/** Waits for a pending update of `sb` to finish. */
function idle(sb) {
  return sb.updating ? new Promise((ok) => sb.addEventListener('updateend', ok, { once: true })) : Promise.resolve();
}

/**
 * Appends `bytes`; resolves when the SourceBuffer is done. Rejects with the DOMException
 * (`name` is `QuotaExceededError` when the buffer is full) or an Error on `error` events.
 */
export async function appendBuffer(sb, bytes) {
  await idle(sb);
  await new Promise((resolve, reject) => {
    const done = () => { cleanup(); resolve(); };
    const failed = () => { cleanup(); reject(Object.assign(new Error('the SourceBuffer could not take the segment (decode error)'), { name: 'MediaError' })); };
    const cleanup = () => { sb.removeEventListener('updateend', done); sb.removeEventListener('error', failed); };
    sb.addEventListener('updateend', done);
    sb.addEventListener('error', failed);
    try {
      sb.appendBuffer(bytes);
    } catch (e) {
      cleanup();
      reject(e);
    }
  });
}

/** Removes `[start, end)` from `sb`; resolves when done. */
export async function removeRange(sb, start, end) {
  await idle(sb);
  if (!(end > start)) return;
  await new Promise((resolve, reject) => {
    sb.addEventListener('updateend', resolve, { once: true });
    try {
      sb.remove(start, end);
    } catch (e) {
      reject(e);
    }
  });
}

/**
 * Sets where the next appended media starts (`sequence` mode: its first frame lands at
 * `seconds`). Throws while `sb` is updating; the Player only calls it between appends.
 */
export function setTimestampOffset(sb, seconds) {
  sb.timestampOffset = seconds;
}

/** Sets the MediaSource's duration (a VOD's length) once `sb` is idle; never rejects. */
export async function setDuration(ms, sb, seconds) {
  await idle(sb);
  try {
    // An fMP4 init segment without a duration makes it Infinity (a live stream).
    if (ms.readyState === 'open' && !(Number.isFinite(ms.duration) && ms.duration >= seconds)) ms.duration = seconds;
  } catch {
    // Shorter than what is buffered, or the source closed meanwhile: keep MSE's own.
  }
}

/** Ends the stream (VOD fully loaded) once `sb` is idle. */
export async function endOfStream(ms, sb) {
  await idle(sb);
  if (ms.readyState === 'open') ms.endOfStream();
}

/** `buffered` of a SourceBuffer or media element as [start0, end0, start1, end1, ...]. */
export function bufferedRanges(target) {
  let ranges;
  try {
    ranges = target.buffered;
  } catch {
    return new Float64Array(0); // a SourceBuffer removed from its MediaSource
  }
  const out = new Float64Array(ranges.length * 2);
  for (let i = 0; i < ranges.length; i++) {
    out[2 * i] = ranges.start(i);
    out[2 * i + 1] = ranges.end(i);
  }
  return out;
}

/**
 * GETs `url` as bytes with a timeout. Never rejects: resolves to `{ status, bytes, ms,
 * error, superseded }` where `status` is 0 and `error` a message when no answer came, `ms`
 * the time from the request to the last byte. With `seekTarget` and `isSuperseded`, each
 * `seeking` event of `seekTarget` asks `isSuperseded()`; when it says so, the request is
 * aborted and resolves with `superseded: true` (the playhead no longer needs these bytes).
 */
export async function fetchBytes(url, timeoutMs, seekTarget, isSuperseded) {
  const started = performance.now();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let superseded = false;
  const onSeeking = () => {
    if (!superseded && isSuperseded()) {
      superseded = true;
      controller.abort();
    }
  };
  if (seekTarget && isSuperseded) seekTarget.addEventListener('seeking', onSeeking);
  try {
    const res = await fetch(url, { signal: controller.signal, cache: 'no-store' });
    const bytes = new Uint8Array(await res.arrayBuffer());
    return { status: res.status, bytes, ms: performance.now() - started, error: res.ok ? null : `HTTP ${res.status}`, superseded: false };
  } catch (e) {
    const error = superseded ? 'aborted: a seek made it unneeded'
      : controller.signal.aborted ? `no answer within ${timeoutMs} ms` : String(e?.message ?? e);
    return { status: 0, bytes: new Uint8Array(0), ms: performance.now() - started, error, superseded };
  } finally {
    clearTimeout(timer);
    seekTarget?.removeEventListener('seeking', onSeeking);
  }
}

/** `relative` resolved against `base` (absolute URLs pass through). */
export function resolveUrl(relative, base) {
  return new URL(relative, base).href;
}

/** A Promise resolved after `ms`, or as soon as `target` fires a `type` event. */
export function sleepUntilEvent(target, type, ms) {
  return new Promise((ok) => {
    const done = () => {
      clearTimeout(timer);
      target.removeEventListener(type, done);
      ok();
    };
    const timer = setTimeout(done, ms);
    target.addEventListener(type, done);
  });
}

/** A Promise resolved after `ms`. */
export function sleep(ms) {
  return new Promise((ok) => setTimeout(ok, ms));
}

/**
 * Sets `ms`'s live seekable range to a live playlist's window, so that `video.seekable`
 * (a page's seek bar) spans it. Quietly does nothing when the MediaSource is not open or
 * the browser lacks the method: `seekable` then stays what is buffered.
 */
export function setLiveSeekableRange(ms, start, end) {
  try {
    if (ms.readyState === 'open' && typeof ms.setLiveSeekableRange === 'function' && end > start) ms.setLiveSeekableRange(start, end);
  } catch {
    // (An InvalidStateError while the MediaSource closes: nothing to do.)
  }
}
