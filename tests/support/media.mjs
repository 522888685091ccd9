// Checks media with the real tools: ffmpeg makes test clips, ffprobe and ffmpeg's psnr
// filter judge what Livecast produced.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
/** ffmpeg prints `inf` for identical pictures. */
const db = (text) => (text === 'inf' ? Infinity : Number(text));
const BIG = { maxBuffer: 64 * 1024 * 1024 };

/** Makes a `seconds` long yuv420p .y4m test clip (ffmpeg's testsrc2: moving, detailed). */
export async function makeY4m(path, { width = 640, height = 480, fps = 30, seconds = 4 } = {}) {
  await run('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps}`,
    '-t', String(seconds), '-pix_fmt', 'yuv420p', path], BIG);
}

/** ffprobe's view of the first video stream of a raw H.264 file, frames counted by decoding. */
export async function probeH264(path) {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-f', 'h264', '-count_frames', '-select_streams', 'v:0',
    '-show_entries', 'stream=codec_name,profile,width,height,nb_read_frames,pix_fmt,has_b_frames', '-of', 'json', path], BIG);
  return JSON.parse(stdout).streams[0];
}

/** Key-frame flags of every decoded frame, in order. */
export async function keyFrameFlags(path) {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-f', 'h264', '-select_streams', 'v:0',
    '-show_entries', 'frame=key_frame,pict_type', '-of', 'json', path], BIG);
  return JSON.parse(stdout).frames.map((f) => ({ key: f.key_frame === 1, type: f.pict_type }));
}

/**
 * What `ffmpeg -v error` prints while decoding a file or URL (empty when it decodes
 * cleanly). `format` forces the input format (`null`: let ffmpeg probe, e.g. HLS). The null
 * output gets a 90 kHz time base: with the default (1/frame rate) two real camera frames a
 * few ms closer than one frame interval land on the same tick, which ffmpeg reports as a
 * muxing error although the stream is fine.
 */
export async function decodeErrors(input, format = 'h264') {
  const forced = format ? ['-f', format] : [];
  const { stderr } = await run('ffmpeg', ['-v', 'error', ...forced, '-i', input, '-enc_time_base', '1/90000', '-f', 'null', '-'], BIG);
  return stderr.trim();
}

/**
 * Average PSNR (dB, ffmpeg's psnr filter) of an H.264 file against raw reference frames.
 * `refFormat`: the raw reference's pixel format (`yuv420p`, or `rgba`, which ffmpeg
 * converts to yuv420p with BT.601 limited range, as Livecast does).
 */
export async function psnrAgainstRaw(h264Path, rawPath, { width, height, refFormat = 'yuv420p' }) {
  const { stderr } = await run('ffmpeg', ['-v', 'info', '-hide_banner', '-f', 'h264', '-i', h264Path,
    '-f', 'rawvideo', '-pix_fmt', refFormat, '-s', `${width}x${height}`, '-i', rawPath,
    // Pair frames by index: both inputs are re-timed to frame N at N/30 s, since a raw H.264
    // stream may declare its own frame rate (x264 writes one) and the raw input another.
    '-lavfi', '[0:v]settb=AVTB,setpts=N/30/TB[enc];[1:v]format=yuv420p,settb=AVTB,setpts=N/30/TB[ref];[enc][ref]psnr',
    '-f', 'null', '-'], BIG);
  const m = stderr.match(/PSNR y:([\d.]+) u:([\d.]+) v:([\d.]+) average:([\d.]+|inf)/);
  if (!m) throw new Error(`no PSNR line in ffmpeg output:\n${stderr}`);
  const [y, u, v, average] = m.slice(1).map(db);
  return { y, u, v, average };
}

/** PSNR of one raw yuv420p frame against every frame of a .y4m clip: the best match. */
export async function bestMatchPsnr(rawFramePath, y4mPath, { width, height }) {
  const { stdout, stderr } = await run('ffmpeg', ['-v', 'info', '-hide_banner', '-i', y4mPath,
    '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-s', `${width}x${height}`, '-stream_loop', '-1', '-i', rawFramePath,
    '-lavfi', '[0:v][1:v]psnr=shortest=1:stats_file=-', '-f', 'null', '-'], BIG);
  const values = [...(stdout + stderr).matchAll(/psnr_avg:([\d.]+|inf)/g)].map((m) => db(m[1]));
  if (!values.length) throw new Error(`no per-frame PSNR in ffmpeg output:\n${stderr.slice(-2000)}`);
  return Math.max(...values);
}
