// Starts the real `livecast-relay` and `livecast-transcoder` binaries (built by cargo) on
// free ports of 127.0.0.1.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './server.mjs';

export const RELAY_BIN = process.env.LIVECAST_RELAY_BIN
  ?? join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target'), 'debug', 'livecast-relay');

/**
 * Starts a relay on `dataDir`; resolves to `{ url, process, stop(), kill() }` once it prints
 * its address. `args` are extra flags (default: `--open`).
 */
export function startRelay({ dataDir, args = ['--open'], port = 0, bin = RELAY_BIN }) {
  return startService(bin, ['--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, ...args]);
}

/** Creates a stream on an `--open` relay; resolves to `{ id, streamKey, playbackUrl, ... }`. */
export async function createStream(relayUrl) {
  const res = await fetch(`${relayUrl}/api/streams`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  if (!res.ok) throw new Error(`POST /api/streams: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Spawns a service that prints `listening on http://ADDR`; resolves once it has. */
function startService(bin, argv) {
  const child = spawn(bin, argv, {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' },
  });
  const output = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${bin} did not start:\n${output.join('')}`)), 20_000);
    const onData = (chunk) => {
      output.push(chunk.toString());
      const m = output.join('').match(/listening on (http:\/\/[\d.:]+)/);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1],
          process: child,
          output,
          /** SIGTERM, and wait for the exit. */
          stop: () => new Promise((ok) => { if (child.exitCode !== null) return ok(); child.once('exit', ok); child.kill('SIGTERM'); }),
          /** SIGKILL: the crash case. */
          kill: () => new Promise((ok) => { if (child.exitCode !== null) return ok(); child.once('exit', ok); child.kill('SIGKILL'); }),
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${bin} exited with ${code}:\n${output.join('')}`)); });
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

// The release build: a debug transcoder is slower than real time on a 2-core machine.
export const TRANSCODER_BIN = process.env.LIVECAST_TRANSCODER_BIN
  ?? join(process.env.CARGO_TARGET_DIR ?? join(repoRoot, 'target'), 'release', 'livecast-transcoder');

/**
 * Starts a real `livecast-transcoder` node on a free port of 127.0.0.1; resolves to
 * `{ url, process, stop(), kill() }` once it prints its address.
 */
export function startTranscoder({ dataDir, bin = TRANSCODER_BIN }) {
  return startService(bin, ['--listen', '127.0.0.1:0', '--data-dir', dataDir]);
}
