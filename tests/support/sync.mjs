// A/V sync measured with ffmpeg on real output: a clip whose picture flashes white while a
// short tone plays, at the same instants every 2 s; flash times from the luma of each
// decoded frame, tone onsets from the audio level, their offsets paired up.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const run = promisify(execFile);
const BIG = { maxBuffer: 256 * 1024 * 1024 };

/**
 * Writes the fake devices' clip: `y4m` (black, white for the first 2 frames of every 2 s)
 * and `wav` (silence, a 66 ms 1 kHz tone at the start of every 2 s, stereo 48 kHz), both
 * `seconds` long (Chromium loops them).
 */
export async function makeSyncClip(y4m, wav, { width = 640, height = 360, fps = 30, seconds = 4 } = {}) {
  await run('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i',
    `color=c=black:s=${width}x${height}:r=${fps}:d=${seconds},drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='lt(mod(n\\,${2 * fps})\\,2)'`,
    '-pix_fmt', 'yuv420p', y4m], BIG);
  const tone = "if(lt(mod(t\\,2)\\,0.066)\\,0.5*sin(2*PI*1000*t)\\,0)";
  await run('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `aevalsrc=${tone}|${tone}:s=48000:d=${seconds}`,
    '-c:a', 'pcm_s16le', wav], BIG);
}

/** Times (s) at which the picture turns white. */
async function flashTimes(input) {
  const { stderr } = await run('ffmpeg', ['-hide_banner', '-v', 'info', '-i', input, '-map', '0:v:0',
    '-vf', 'signalstats,metadata=print:key=lavfi.signalstats.YAVG', '-f', 'null', '-'], BIG);
  const times = [];
  let t = null, wasBright = false;
  for (const line of stderr.split('\n')) {
    const pts = line.match(/pts_time:([-\d.]+)/);
    if (pts) t = Number(pts[1]);
    const y = line.match(/lavfi\.signalstats\.YAVG=([\d.]+)/);
    if (y && t !== null) {
      const bright = Number(y[1]) > 128;
      if (bright && !wasBright) times.push(t);
      wasBright = bright;
    }
  }
  return times;
}

/** Times (s) at which a tone starts (the end of each silence). */
async function toneOnsets(input) {
  const { stderr } = await run('ffmpeg', ['-hide_banner', '-v', 'info', '-i', input, '-map', '0:a:0',
    '-af', 'silencedetect=noise=-30dB:d=0.3', '-f', 'null', '-'], BIG);
  return [...stderr.matchAll(/silence_end: ([-\d.]+)/g)].map((m) => Number(m[1]));
}

/**
 * Offsets (audio − video, ms) of every flash that has a tone onset within 0.5 s, in stream
 * order, with their mean and drift (mean of the last three minus mean of the first three).
 */
export async function avOffsets(input) {
  const [flashes, tones] = await Promise.all([flashTimes(input), toneOnsets(input)]);
  const offsets = [];
  for (const f of flashes) {
    const near = tones.reduce((best, a) => (Math.abs(a - f) < Math.abs(best - f) ? a : best), Infinity);
    if (Math.abs(near - f) < 0.5) offsets.push(Math.round((near - f) * 1000));
  }
  const mean = (xs) => xs.reduce((s, x) => s + x, 0) / Math.max(xs.length, 1);
  return {
    flashes: flashes.length,
    tones: tones.length,
    flashTimes: flashes.map((t) => Number(t.toFixed(3))),
    toneTimes: tones.map((t) => Number(t.toFixed(3))),
    offsets,
    meanMs: mean(offsets),
    driftMs: offsets.length >= 6 ? mean(offsets.slice(-3)) - mean(offsets.slice(0, 3)) : NaN,
  };
}

/**
 * Runs in the page (`page.evaluate(installReferenceRecorders)`): defines
 * `window.syncReferences`, the browser's own recordings of a stream, the sync reference.
 * `start(media)` starts two MediaRecorders on it, `stop()` resolves to their WebM files
 * (base64) as `{ pcm, opus }`.
 *
 * PCM is the reference: Chromium stamps each PCM block with its first sample's capture
 * time. Opus is kept for comparison only: Chromium's recorder gathers 60 ms Opus packets
 * from 10 ms capture blocks and stamps each packet with the first sample of the *last*
 * block, so its sound lands about 50 ms late (measured here: the Opus recording's offset is
 * 55–60 ms above the PCM recording's of the same devices in the same run; plus about 7 ms
 * of Opus decoder delay).
 */
export function installReferenceRecorders() {
  const recorders = [];
  window.syncReferences = {
    start(media) {
      for (const codec of ['pcm', 'opus']) {
        const recorder = new MediaRecorder(media, { mimeType: `video/webm;codecs=vp8,${codec}` });
        const chunks = [];
        recorder.ondataavailable = (e) => chunks.push(e.data);
        recorder.start(1000);
        recorders.push({ codec, recorder, chunks });
      }
    },
    async stop() {
      const files = {};
      for (const { codec, recorder, chunks } of recorders) {
        const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
        recorder.stop();
        await stopped;
        const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
        let binary = '';
        for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        files[codec] = btoa(binary);
      }
      return files;
    },
  };
}

/**
 * Writes the recordings `syncReferences.stop()` gave into `dir` and measures both:
 * `{ pcm, opus }`, each as `avOffsets` gives it.
 */
export async function referenceOffsets(dir, files) {
  const out = {};
  for (const [codec, base64] of Object.entries(files)) {
    const path = join(dir, `reference-${codec}.webm`);
    await writeFile(path, Buffer.from(base64, 'base64'));
    out[codec] = await avOffsets(path);
  }
  return out;
}
