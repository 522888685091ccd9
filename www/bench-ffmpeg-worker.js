// Benchmark worker (www/bench.html): the peer, ffmpeg.wasm (@ffmpeg/core, one thread,
// x264 -preset ultrafast), encoding the same raw I420 frames at the same bitrate.
import createFFmpegCore from '/ffmpeg/ffmpeg-core.js';

self.onmessage = async ({ data: { width, height, fps, kbps, frames } }) => {
  try {
    const core = await createFFmpegCore({});
    core.FS.writeFile('in.yuv', frames);
    const t0 = performance.now();
    const ret = core.exec('-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-s', `${width}x${height}`, '-r', String(fps), '-i', 'in.yuv',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-profile:v', 'baseline', '-b:v', `${kbps}k`, '-maxrate', `${kbps}k`,
      '-bufsize', `${kbps * 2}k`, '-threads', '1', '-f', 'h264', 'out.h264');
    const ms = performance.now() - t0;
    if (ret !== 0) throw new Error(`ffmpeg.wasm exited with ${ret}`);
    const out = core.FS.readFile('out.h264');
    self.postMessage({ ms, data: out }, [out.buffer]);
  } catch (error) {
    self.postMessage({ error: String(error?.message ?? error) });
  }
};
