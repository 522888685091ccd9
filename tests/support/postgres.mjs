// A real PostgreSQL server on 127.0.0.1 for benches, like the relay crate's
// src/test_postgres.rs: initdb in a temp dir (as the `postgres` user when run as root, since
// initdb refuses root), trust auth for user `livecast`, one database `livecast`.
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm, readdir, chmod } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const run = promisify(execFile);

async function binDir() {
  const versions = (await readdir('/usr/lib/postgresql').catch(() => [])).sort((a, b) => Number(a) - Number(b));
  if (versions.length) return join('/usr/lib/postgresql', versions.at(-1), 'bin');
  throw new Error('PostgreSQL is not installed (scripts/setup.sh installs it)');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

const answers = (port) => new Promise((resolve) => {
  const c = connect(port, '127.0.0.1', () => { c.destroy(); resolve(true); });
  c.once('error', () => resolve(false));
});

/** Starts a server; resolves to `{ url, stop() }` (`url`: `postgres://livecast@127.0.0.1:PORT/livecast`). */
export async function startPostgres() {
  const bin = await binDir();
  const dir = await mkdtemp(join(tmpdir(), 'livecast-pg-'));
  await chmod(dir, 0o755);
  const root = process.getuid?.() === 0;
  const as = (cmd, args) => (root ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]);
  if (root) await run('chown', ['postgres', dir]);
  const data = join(dir, 'data');
  await run(...as(join(bin, 'initdb'), ['-D', data, '-U', 'livecast', '--auth=trust', '--no-sync', '--encoding=UTF8', '--locale=C']));
  const port = await freePort();
  const [cmd, args] = as(join(bin, 'postgres'), ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1',
    '-c', 'unix_socket_directories=', '-c', 'max_connections=200']);
  const child = spawn(cmd, args, { stdio: 'ignore' });
  for (let i = 0; i < 300 && !(await answers(port)); i++) await new Promise((r) => setTimeout(r, 50));
  await run(join(bin, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'livecast', 'livecast']);
  return {
    url: `postgres://livecast@127.0.0.1:${port}/livecast`,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((ok) => child.once('exit', ok));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
