// The broadcast demo: creates a stream on the relay this page came from, then runs a
// Broadcaster and shows its state, stats and events. ?autostart=1 starts at once (tests).
import init, { Broadcaster } from '../pkg/livecast.js';

const $ = (id) => document.getElementById(id);
const log = (line) => { $('log').textContent = `${new Date().toLocaleTimeString()} ${line}\n` + $('log').textContent.slice(0, 20_000); };
let broadcaster = null;

const STAT_LABELS = {
  capturedFps: ['Captured', (v) => `${v.toFixed(1)} fps`],
  encodedFps: ['Encoded', (v) => `${v.toFixed(1)} fps`],
  encodeMsP50: ['Encode p50', (v) => `${v.toFixed(1)} ms`],
  encodeMsP95: ['Encode p95', (v) => `${v.toFixed(1)} ms`],
  outputKbps: ['Output', (v) => `${v.toFixed(0)} kbit/s`],
  droppedFrames: ['Dropped frames', String],
  uploadQueue: ['Upload queue', String],
  lastUploadMs: ['Last upload', (v) => (v == null ? '–' : `${v.toFixed(0)} ms`)],
  segmentsAcknowledged: ['Segments acknowledged', String],
  segmentsDropped: ['Segments dropped', String],
  encoder: ['Encoder', String],
};

function showStats(stats) {
  $('stats').replaceChildren(...Object.entries(STAT_LABELS).flatMap(([key, [label, fmt]]) => {
    const dt = document.createElement('dt');
    dt.textContent = label;
    const dd = document.createElement('dd');
    dd.id = `stat-${key}`;
    dd.textContent = fmt(stats[key]);
    return [dt, dd];
  }));
  window.lastStats = stats;
}

/** True when the relay has transcoder nodes configured (else the source alone goes out). */
async function relayHasTranscoders() {
  const res = await fetch('/api/transcoders').catch(() => null);
  const list = res?.ok ? (await res.json()).transcoders : [];
  return list.length > 0;
}

async function createStream() {
  const res = await fetch('/api/streams', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  if (!res.ok) throw new Error(`the relay refused to create a stream (HTTP ${res.status}); is it running with --open?`);
  return res.json();
}

async function start() {
  $('start').disabled = true;
  try {
    const stream = await createStream();
    const [width, height] = $('size').value.split('x').map(Number);
    const query = new URLSearchParams(location.search);
    broadcaster = new Broadcaster({
      relayUrl: location.origin,
      streamId: stream.id,
      streamKey: stream.streamKey,
      video: { width, height, fps: 30, bitrateKbps: Number($('bitrate').value) },
      segmentSeconds: Number($('segment').value),
      encoder: $('encoder').value,
      encoderWorkers: query.has('workers') ? Number(query.get('workers')) : undefined,
      transcode: $('transcode').checked && (await relayHasTranscoders()),
    });
    window.broadcaster = broadcaster;
    window.streamInfo = stream;
    broadcaster.on('state', (state) => { $('state').textContent = state; log(`state: ${state}`); });
    broadcaster.on('stats', showStats);
    broadcaster.on('segment', (s) => {
      const ladder = s.renditions.length ? `, renditions ${s.renditions.map((r) => `${r.height}p`).join(' ')} by ${s.transcoder}` : '';
      log(`segment ${s.seq}: ${(s.bytes / 1024).toFixed(0)} KiB, ${s.durationMs} ms, uploaded in ${s.uploadMs.toFixed(0)} ms${ladder}`);
      window.acked = (window.acked ?? 0) + 1;
    });
    broadcaster.on('error', (e) => { log(`${e.fatal ? 'FATAL ' : ''}${e.code}: ${e.message}`); if (e.fatal) setError(e); });
    const watch = `/www/watch.html?id=${encodeURIComponent(stream.id)}`;
    $('watch-link').href = watch;
    $('watch-link').textContent = location.origin + watch;
    $('watch').hidden = false;
    $('status').textContent = 'Opening the camera…';
    await broadcaster.start();
    $('preview').srcObject = broadcaster.mediaStream;
    $('status').textContent = `Live as stream ${stream.id}.`;
    $('stop').disabled = false;
  } catch (error) {
    setError(error);
    $('start').disabled = false;
  }
}

function setError(error) {
  $('status').textContent = `${error.message}${error.code ? ` (${error.code})` : ''}`;
  $('status').classList.add('error');
  window.broadcastError = { code: error.code, message: error.message };
}

async function stop() {
  $('stop').disabled = true;
  $('status').textContent = 'Stopping: uploading the last segment…';
  await broadcaster?.stop();
  $('preview').srcObject = null;
  $('status').textContent = 'Ended. The recording stays available on the watch page.';
  $('start').disabled = false;
  window.broadcastEnded = true;
}

// ?size=1280x720&kbps=2500&encoder=openh264&workers=2&transcode=0 preset the form (tests use them).
for (const [param, id] of [['size', 'size'], ['kbps', 'bitrate'], ['encoder', 'encoder'], ['segment', 'segment']]) {
  const value = new URLSearchParams(location.search).get(param);
  if (value) $(id).value = value;
}
if (new URLSearchParams(location.search).get('transcode') === '0') $('transcode').checked = false;
$('start').addEventListener('click', start);
$('stop').addEventListener('click', stop);
await init();
window.livecastReady = true;
if (new URLSearchParams(location.search).has('autostart')) start();
