// The watch page: plays a stream with Livecast's Player. `?id=STREAM` plays the relay's
// master playlist of a transcoded stream (else its source playlist); `?src=URL` plays any
// HLS URL. Rendition picker, live stats and plain error messages.
import init, { Player } from '../pkg/livecast.js';
import { Sparkline } from './lib/sparkline.js';
import { unmuteButton } from './audio-ui.js';

const $ = (id) => document.getElementById(id);
const video = $('video');
unmuteButton(video, $('unmute'));
const params = new URLSearchParams(location.search);
const id = params.get('id');
// For tests: what happened, in a shape that does not depend on the player.
window.playback = { errors: [], fragments: 0 };

/** The playlist to play: `?src`, or the stream's master playlist when transcoded, else its source. */
async function playlistUrl() {
  if (params.get('src')) return params.get('src');
  if (!id) return null;
  const base = `/hls/${encodeURIComponent(id)}`;
  const master = await fetch(`${base}/master.m3u8`, { method: 'HEAD' }).catch(() => null);
  return master?.ok ? `${base}/master.m3u8` : `${base}/index.m3u8`;
}

function status(text, error = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', error);
}

/** What a viewer should read for an `error` event. */
function plainError(e) {
  const what = {
    manifestLoadError: 'The stream could not be loaded: check the link, or whether the stream exists.',
    manifestParsingError: 'The link does not point to an HLS stream.',
    levelLoadError: 'The stream list could not be refreshed.',
    fragLoadError: 'A piece of the stream could not be downloaded.',
    fragParsingError: 'A piece of the stream was damaged.',
    bufferAppendError: 'The browser could not decode the video.',
    mediaError: 'The browser could not decode the video.',
  }[e.details] ?? 'Playback failed.';
  return e.fatal ? `${what} Playback stopped (${e.message}).` : `${what} Retrying…`;
}

const url = await playlistUrl();
if (!url) {
  status('No stream: open this page from the broadcast page, or add ?id=STREAM_ID.', true);
} else {
  $('playlist').href = url;
  $('playlist').textContent = url;
  await init();
  const player = new Player(video);
  window.player = player;
  const picker = $('rendition');
  player.on('manifestLoaded', ({ levels, live }) => {
    for (const [i, level] of levels.entries()) {
      picker.add(new Option(`${level.name}${level.bitrate ? ` (${Math.round(level.bitrate / 1000)} kbit/s)` : ''}`, String(i)));
    }
    picker.disabled = levels.length < 2;
    status(live ? 'Live.' : 'Recorded stream.');
  });
  picker.addEventListener('change', () => { player.currentLevel = Number(picker.value); });
  player.on('fragmentBuffered', () => { window.playback.fragments++; });
  player.on('stalled', () => status('Buffering…'));
  let lastNonFatal = 0;
  player.on('error', (e) => {
    window.playback.errors.push(`${e.type}/${e.details}${e.fatal ? ' (fatal)' : ''}`);
    if (e.fatal) status(plainError(e), true);
    else if (performance.now() - lastNonFatal > 3000) {
      lastNonFatal = performance.now();
      status(plainError(e));
    }
  });
  video.addEventListener('playing', () => status('Playing.'));
  $('go-live').addEventListener('click', () => {
    const sync = player.liveSyncPosition;
    if (sync != null) video.currentTime = sync;
  });
  try {
    player.load(url);
  } catch (e) {
    status(e.code === 'PLAYBACK_UNSUPPORTED' ? 'This browser cannot play HLS.' : e.message, true);
  }
  const seconds = (v) => `${v.toFixed(1)} s`;
  const mbps = (v) => `${v.toFixed(2)} Mbit/s`;
  const charts = {
    latency: new Sparkline($('chart-latency'), { format: seconds, color: '#c62828' }),
    buffer: new Sparkline($('chart-buffer'), { format: seconds, color: '#1565c0' }),
    bandwidth: new Sparkline($('chart-bandwidth'), { format: mbps }),
    bitrate: new Sparkline($('chart-bitrate'), { format: mbps, color: '#6a1b9a' }),
  };
  window.charts = charts;
  let tick = 0;
  setInterval(() => {
    const s = player.stats;
    const level = player.levels[s.level];
    // Charts take a point a second (the numbers below refresh twice as often).
    if (tick++ % 2 === 0) {
      charts.latency.push(s.latency ?? NaN);
      charts.buffer.push(s.bufferSeconds);
      charts.bandwidth.push(s.bandwidthEstimate / 1e6);
      if (level?.bitrate) charts.bitrate.push(level.bitrate / 1e6);
      $('now-latency').textContent = s.latency == null ? '–' : seconds(s.latency);
      $('now-buffer').textContent = seconds(s.bufferSeconds);
      $('now-bandwidth').textContent = mbps(s.bandwidthEstimate / 1e6);
      $('now-bitrate').textContent = level?.bitrate ? mbps(level.bitrate / 1e6) : '–';
    }
    $('position').textContent = `${video.currentTime.toFixed(1)} s`;
    $('level').textContent = level ? `${level.name}${player.autoLevelEnabled ? ' (auto)' : ''}` : '–';
    $('bandwidth').textContent = `${(s.bandwidthEstimate / 1e6).toFixed(2)} Mbit/s`;
    $('buffer').textContent = `${s.bufferSeconds.toFixed(1)} s`;
    $('latency').textContent = s.latency == null ? '–' : `${s.latency.toFixed(1)} s`;
    // Behind the edge on purpose (a seek back in the live window): offer the way back.
    const sync = player.liveSyncPosition;
    $('go-live').hidden = sync == null || video.currentTime > sync - 2;
    $('stalls').textContent = s.stalls ? `${s.stalls} (${(s.stalledMs / 1000).toFixed(1)} s)` : 'none';
  }, 500);
}
