// A real single-node Garage (S3-compatible object store) on 127.0.0.1 for node tests and
// benches, like crates/livecast-relay/tests/common/garage.rs: a temp dir, SQLite metadata,
// fsync of data and metadata, replication_factor = 1, one bucket and one key on it.
// The binary: $LIVECAST_GARAGE, else `garage` on PATH, else cargo's bin dir (scripts/setup.sh).
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, writeFile, rm, access } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { tmpdir, homedir } from 'node:os';
import { join, delimiter } from 'node:path';

const run = promisify(execFile);

/** The S3 region the node signs for. */
export const GARAGE_REGION = 'garage';

async function exists(path) {
  try { await access(path); return true; } catch { return false; }
}

/** The garage binary, or an error saying how to install it. */
export async function garageBin() {
  if (process.env.LIVECAST_GARAGE) return process.env.LIVECAST_GARAGE;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && await exists(join(dir, 'garage'))) return join(dir, 'garage');
  }
  const cargoBin = join(process.env.CARGO_HOME ?? join(homedir(), '.cargo'), 'bin', 'garage');
  if (await exists(cargoBin)) return cargoBin;
  throw new Error('no garage binary: run scripts/setup.sh (cargo install garage --locked --version 2.5.0) or set LIVECAST_GARAGE');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('error', () => resolve(false));
    sock.setTimeout(200, () => { sock.destroy(); resolve(false); });
  });
}

/**
 * Starts a fresh node with bucket `segments` and a key allowed on it. Resolves to
 * `{ endpoint, bucket, keyId, secret, relayArgs, relayEnv, put(key, body), stop() }`.
 */
export async function startGarage() {
  const bin = await garageBin();
  const dir = await mkdtemp(join(tmpdir(), 'livecast-garage-'));
  const [rpc, s3, admin] = [await freePort(), await freePort(), await freePort()];
  const config = join(dir, 'garage.toml');
  await writeFile(config, `metadata_dir = "${join(dir, 'meta')}"
data_dir = "${join(dir, 'data')}"
db_engine = "sqlite"
metadata_fsync = true
data_fsync = true
replication_factor = 1
rpc_bind_addr = "127.0.0.1:${rpc}"
rpc_public_addr = "127.0.0.1:${rpc}"
rpc_secret = "${randomBytes(32).toString('hex')}"

[s3_api]
s3_region = "${GARAGE_REGION}"
api_bind_addr = "127.0.0.1:${s3}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:${admin}"
`);
  const output = [];
  const child = spawn(bin, ['-c', config, 'server'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'garage=warn' } });
  child.stdout.on('data', (c) => output.push(c.toString()));
  child.stderr.on('data', (c) => output.push(c.toString()));
  const stop = async () => {
    if (child.exitCode === null) await new Promise((ok) => { child.once('exit', ok); child.kill('SIGKILL'); });
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 30_000;
    while (!(await canConnect(s3))) {
      if (child.exitCode !== null) throw new Error(`garage exited with ${child.exitCode}:\n${output.join('')}`);
      if (Date.now() > deadline) throw new Error(`garage's S3 API did not listen within 30 s:\n${output.join('')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const cli = async (...args) => (await run(bin, ['-c', config, ...args])).stdout;
    const retrying = async (...args) => {
      const until = Date.now() + 20_000;
      for (;;) {
        try { return await cli(...args); } catch (e) {
          if (Date.now() > until) throw new Error(`garage ${args.join(' ')} kept failing: ${e.message}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    };
    const nodeId = (await retrying('node', 'id', '-q')).trim().split('@')[0];
    await cli('layout', 'assign', '-z', 'dc1', '-c', '1G', nodeId);
    await cli('layout', 'apply', '--version', '1');
    const bucket = 'segments';
    const keyId = `GK${randomBytes(12).toString('hex')}`;
    const secret = randomBytes(32).toString('hex');
    await retrying('bucket', 'create', bucket);
    await cli('key', 'import', '--yes', '-n', 'livecast', keyId, secret);
    await cli('bucket', 'allow', '--read', '--write', '--owner', bucket, '--key', keyId);
    const endpoint = `http://127.0.0.1:${s3}`;
    return {
      endpoint, bucket, keyId, secret, output,
      relayArgs: ['--storage', `s3://${bucket}`, '--s3-endpoint', endpoint, '--s3-region', GARAGE_REGION],
      relayEnv: { LIVECAST_RELAY_S3_ACCESS_KEY_ID: keyId, LIVECAST_RELAY_S3_SECRET_ACCESS_KEY: secret },
      /** A plain signed PutObject (SigV4), as any S3 client sends it; resolves to the status. */
      put: (key, body) => putObject({ endpoint, region: GARAGE_REGION, bucket, keyId, secret }, key, body),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

const sha256 = (data) => createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => createHmac('sha256', key).update(data).digest();

/** PUT `body` at `key` with an AWS Signature Version 4 (path-style, signed payload hash). */
export async function putObject({ endpoint, region, bucket, keyId, secret }, key, body) {
  const url = new URL(`${endpoint}/${bucket}/${key}`);
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const payloadHash = sha256(body);
  const headers = { host: url.host, 'x-amz-content-sha256': payloadHash, 'x-amz-date': amzDate };
  const signed = Object.keys(headers).sort();
  const canonical = ['PUT', url.pathname, '', ...signed.map((h) => `${h}:${headers[h]}`), '', signed.join(';'), payloadHash].join('\n');
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  let k = hmac(`AWS4${secret}`, day);
  for (const part of [region, 's3', 'aws4_request']) k = hmac(k, part);
  const signature = createHmac('sha256', k).update(toSign).digest('hex');
  const authorization = `AWS4-HMAC-SHA256 Credential=${keyId}/${scope}, SignedHeaders=${signed.join(';')}, Signature=${signature}`;
  const res = await fetch(url, {
    method: 'PUT', body,
    headers: { 'x-amz-content-sha256': payloadHash, 'x-amz-date': amzDate, authorization },
  });
  await res.arrayBuffer();
  return res.status;
}
