// Ticket benchmark, one run:
//  1. ticket create + sign in wasm with a session key, in headless Chromium (µs/ticket;
//     target < 1 ms), beside a peer measured in the same run: OpenSSL's secp256k1 ECDSA
//     signature of a 32-byte digest through Node's crypto (hash + sign, no ticket encoding);
//  2. native ticket verification throughput, when the transcoder ships its verification
//     benchmark (`cargo run --release -p livecast-transcoder --example ticket_bench`);
//  3. redemption gas per winning ticket: a short paid broadcast against a real anvil chain,
//     a relay and a paid transcoder whose tickets win 9 times in 10 (a sender refuses
//     tickets whose EV is not below their face value, as go-livepeer's does); gas read from
//     the receipts of the node's redemption transactions.
//
// Usage: npm run bench:tickets   (after bash scripts/setup.sh; BENCH_SKIP_BUILD=1 reuses pkg/)
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../tests/support/server.mjs';
import { openBrowser } from '../tests/support/browser.mjs';
import { makeY4m } from '../tests/support/media.mjs';
import { startRelay, startTranscoder, TRANSCODER_BIN, createStream } from '../tests/support/relay.mjs';
import { addDevWallet } from '../tests/support/eip1193.mjs';
import { startAnvil, deployBroker, rpc } from '../tests/support/chain.mjs';

const run = promisify(execFile);
const TICKETS = Number(process.env.BENCH_TICKETS ?? 2000);
const NODE_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'; // anvil dev account 1

if (!process.env.BENCH_SKIP_BUILD) {
  console.log('building: wasm package, relay and transcoder...');
  await run('bash', [join(repoRoot, 'scripts/build-wasm.sh')], { cwd: repoRoot, maxBuffer: 1 << 26 });
  await run('cargo', ['build', '--quiet', '-p', 'livecast-relay'], { cwd: repoRoot, maxBuffer: 1 << 26 });
  await run('cargo', ['build', '--quiet', '--release', '-p', 'livecast-transcoder'], { cwd: repoRoot, maxBuffer: 1 << 26 });
}

const dir = await mkdtemp(join(tmpdir(), 'livecast-bench-tickets-'));
const results = {};
let anvil, relay, node, browser;
try {
  await makeY4m(join(dir, 'camera.y4m'), { width: 640, height: 480, fps: 30, seconds: 3 });
  anvil = await startAnvil();
  const broker = await deployBroker(anvil.url);
  await writeFile(join(dir, 'node.key'), NODE_KEY.slice(2));
  const env = {
    LIVECAST_TRANSCODER_ETH_RPC_URL: anvil.url,
    LIVECAST_TRANSCODER_BROKER_ADDRESS: broker.address,
    LIVECAST_TRANSCODER_ETH_KEY_FILE: join(dir, 'node.key'),
    LIVECAST_TRANSCODER_PRICE_PER_UNIT: '1',
    LIVECAST_TRANSCODER_WIN_PROB_FRACTION: '0.9',
  };
  Object.assign(process.env, env);
  try {
    node = await startTranscoder({ dataDir: join(dir, 'node') });
  } finally {
    for (const k of Object.keys(env)) delete process.env[k];
  }
  relay = await startRelay({ dataDir: join(dir, 'relay'), args: ['--open', '--transcoder', node.url] });
  browser = await openBrowser({ fakeCamera: join(dir, 'camera.y4m') });
  const wallet = anvil.accounts[5];
  await addDevWallet(browser.page, { rpcUrl: anvil.url, account: wallet, chainId: 31337 });
  await browser.page.goto(`${relay.url}/www/broadcast.html`);
  await browser.page.waitForFunction(() => window.livecastReady);

  // 1. wasm signing, in the page.
  results.wasm = await browser.page.evaluate(async (n) => {
    const { benchTicketSigning } = await import('../pkg/livecast.js');
    benchTicketSigning(50); // warm-up
    const t0 = performance.now();
    const signed = benchTicketSigning(n);
    const ms = performance.now() - t0;
    return { signed, usPerTicket: (ms * 1000) / n };
  }, TICKETS);
  if (results.wasm.signed !== TICKETS) throw new Error(`wasm signed ${results.wasm.signed} of ${TICKETS} tickets`);

  // The peer: OpenSSL secp256k1 ECDSA over a 32-byte digest, per ticket.
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
  const digest = createHash('sha256').update('ticket').digest();
  for (let i = 0; i < 50; i++) sign('sha256', digest, privateKey);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < TICKETS; i++) sign('sha256', digest, privateKey);
  results.openssl = { usPerTicket: Number(process.hrtime.bigint() - t0) / 1000 / TICKETS };

  // 2. Native verification, if the transcoder has its benchmark.
  const example = join(repoRoot, 'crates', 'livecast-transcoder', 'examples', 'ticket_bench.rs');
  if (existsSync(example)) {
    const { stdout } = await run('cargo', ['run', '--quiet', '--release', '-p', 'livecast-transcoder', '--example', 'ticket_bench'], { cwd: repoRoot, maxBuffer: 1 << 24 });
    results.verification = stdout.trim();
  }

  // 3. Redemption gas: a paid broadcast whose every ticket wins.
  const stream = await createStream(relay.url);
  results.broadcast = await browser.page.evaluate(async ({ id, key, relayUrl, brokerAddress }) => {
    const { Wallet, Broadcaster } = await import('../pkg/livecast.js');
    const [found] = await Wallet.discover();
    const w = await Wallet.connect(found.provider);
    const b = new Broadcaster({
      relayUrl, streamId: id, streamKey: key, video: { width: 640, height: 480, fps: 30, bitrateKbps: 1500 },
      segmentSeconds: 2, encoder: 'webcodecs', transcode: { profiles: ['P240p30fps16x9'] },
      payment: { wallet: w, broker: brokerAddress, maxPricePerPixel: 10, deposit: 10n ** 19n, reserve: 10n ** 18n },
    });
    const errors = [];
    let stats = null;
    b.on('error', (e) => errors.push(`${e.code}: ${e.message}`));
    b.on('stats', (s) => { stats = s; });
    await b.start();
    await new Promise((r) => setTimeout(r, 8000));
    await b.stop();
    return { errors, tickets: stats?.ticketsSent ?? 0 };
  }, { id: stream.id, key: stream.streamKey, relayUrl: relay.url, brokerAddress: broker.address });
  const topic0 = await rpc(anvil.url, 'web3_sha3', [`0x${Buffer.from('WinningTicketRedeemed(address,address,uint256,uint256,uint256,uint256,bytes)').toString('hex')}`]);
  let logs = [];
  for (let i = 0; i < 40 && logs.length === 0; i++) {
    logs = await rpc(anvil.url, 'eth_getLogs', [{ address: broker.address, fromBlock: '0x0', toBlock: 'latest', topics: [topic0] }]);
    if (!logs.length) await new Promise((r) => setTimeout(r, 500));
  }
  const gas = [];
  for (const hash of new Set(logs.map((l) => l.transactionHash))) {
    const receipt = await rpc(anvil.url, 'eth_getTransactionReceipt', [hash]);
    const tickets = receipt.logs.filter((l) => l.topics[0] === topic0).length;
    gas.push(Number(BigInt(receipt.gasUsed)) / tickets);
  }
  results.redemption = gas.length ? { transactions: gas.length, gasPerTicket: gas.reduce((a, b) => a + b, 0) / gas.length, min: Math.min(...gas), max: Math.max(...gas) } : null;
} finally {
  await browser?.close();
  await relay?.stop();
  await node?.stop();
  await anvil?.stop();
  await rm(dir, { recursive: true, force: true });
}

console.log(`\nTicket create + sign, ${TICKETS} tickets:`);
console.log(`  Livecast wasm (headless Chromium, session key): ${results.wasm.usPerTicket.toFixed(1)} µs/ticket (target < 1000 µs)`);
console.log(`  peer: OpenSSL secp256k1 ECDSA via Node crypto (sign only): ${results.openssl.usPerTicket.toFixed(1)} µs/signature`);
console.log('Native ticket verification:');
console.log(results.verification ? `  ${results.verification.replace(/\n/g, '\n  ')}` : `  not measured: no ticket_bench example in crates/livecast-transcoder (binary ${TRANSCODER_BIN})`);
console.log('Redemption gas (anvil, TicketBroker, real node redemptions):');
console.log(results.redemption
  ? `  ${results.redemption.gasPerTicket.toFixed(0)} gas per winning ticket over ${results.redemption.transactions} redemption transaction(s) (min ${results.redemption.min}, max ${results.redemption.max})`
  : `  no redemption seen (${results.broadcast?.tickets ?? 0} tickets sent; errors: ${results.broadcast?.errors.join('; ') || 'none'})`);
