// A small static file server for the demo pages and the browser tests (until the relay
// exists). Serves the repository root read-only: `/` redirects to the demo page, `/www/*`
// and `/pkg/*` are the pages and the wasm package. When started with an `uploadDir`,
// `PUT /upload/<name>` stores a test page's output there and `GET /upload/<name>` reads
// it back (tests and benchmarks only).
import { createServer } from 'node:http';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat, mkdir } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipeline } from 'node:stream/promises';

export const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.ts': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};
const SERVED = ['www', 'pkg'];
const MAX_UPLOAD_BYTES = 512 * 1024 * 1024;

/** Maps a URL path to a file under one of the served folders, or null (traversal, other folders). */
function fileFor(urlPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  const path = resolve(repoRoot, '.' + decoded);
  const top = path.slice(repoRoot.length + 1).split(sep)[0];
  if (!path.startsWith(repoRoot + sep) || !SERVED.includes(top)) return null;
  return path;
}

/** The file name in `/upload/<name>`, or null when it could escape the upload folder. */
function uploadName(pathname) {
  const name = pathname.slice('/upload/'.length);
  return /^[\w.-]{1,100}$/.test(name) && !name.startsWith('.') ? name : null;
}

/** A file under one of `mounts` (URL prefix → folder), or null. */
function mountedFile(urlPath, mounts) {
  for (const [prefix, folder] of Object.entries(mounts)) {
    if (!urlPath.startsWith(prefix)) continue;
    let rest;
    try {
      rest = decodeURIComponent(urlPath.slice(prefix.length));
    } catch {
      return null;
    }
    const path = resolve(folder, '.' + sep + rest);
    return path.startsWith(resolve(folder) + sep) && !rest.includes('\0') ? path : null;
  }
  return null;
}

/**
 * Starts the server. Resolves to `{ url, port, close() }`.
 * `mounts` serves more folders read-only, e.g. `{ '/ffmpeg/': '/path/to/dist' }` (benchmarks).
 * @param {{ port?: number, host?: string, uploadDir?: string, mounts?: Record<string, string>, log?: (line: string) => void }} options
 */
export async function startServer({ port = 0, host = '127.0.0.1', uploadDir, mounts = {}, log = () => {} } = {}) {
  if (uploadDir) await mkdir(uploadDir, { recursive: true });
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const send = (status, text) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(text + '\n');
      log(`${req.method} ${url.pathname} ${status}`);
    };
    try {
      const upload = url.pathname.startsWith('/upload/');
      const name = upload ? uploadName(url.pathname) : null;
      if (upload && !uploadDir) return send(404, 'uploads are off');
      if (upload && !name) return send(400, 'bad upload name');
      if (req.method === 'PUT' && upload) {
        const length = Number(req.headers['content-length'] ?? NaN);
        if (!(length <= MAX_UPLOAD_BYTES)) return send(413, 'upload too large or without length');
        await pipeline(req, createWriteStream(join(uploadDir, name)));
        return send(201, 'stored');
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
      if (upload) return await serveFile(join(uploadDir, name));
      if (url.pathname === '/') {
        res.writeHead(302, { location: '/www/index.html' });
        return res.end();
      }
      const path = mountedFile(url.pathname, mounts) ?? fileFor(url.pathname);
      if (!path) return send(404, 'not found');
      return await serveFile(path);
    } catch (err) {
      if (!res.headersSent) send(500, 'internal error');
      else res.destroy();
      log(`error ${err}`);
    }

    async function serveFile(path) {
      const info = await stat(path).catch(() => null);
      if (!info?.isFile()) return send(404, 'not found');
      res.writeHead(200, {
        'content-type': MIME[extname(path)] ?? 'application/octet-stream',
        'content-length': info.size,
        'cache-control': 'no-store',
      });
      if (req.method === 'HEAD') return res.end();
      await pipeline(createReadStream(path), res);
    }
  });
  await new Promise((ok, fail) => server.once('error', fail).listen(port, host, ok));
  const actual = server.address().port;
  return {
    port: actual,
    url: `http://${host}:${actual}`,
    close: () => new Promise((ok) => server.close(ok)),
  };
}
