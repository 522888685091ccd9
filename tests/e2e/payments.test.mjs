// End to end with payments: a real anvil chain with the TicketBroker, a real relay, two
// real livecast-transcoder nodes taking tickets (one priced above the page's maximum), and
// headless Chromium whose wallet is an EIP-1193 provider backed by an anvil dev account.
// The page connects, funds its session key with one transaction, broadcasts and pays per
// segment; winning tickets are redeemed on chain; the page reloads and reuses the key and
// its deposit; the wallet gets the remainder back with unlock + withdraw.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBrowser } from '../support/browser.mjs';
import { makeY4m, decodeErrors } from '../support/media.mjs';
import { startRelay, startTranscoder, createStream } from '../support/relay.mjs';
import { addDevWallet } from '../support/eip1193.mjs';
import {
  startAnvil, deployBroker, rpc, calldata, senderInfo, funderOf, balanceOf, advanceRounds, mine, fundDepositAndReserveFor,
} from '../support/chain.mjs';

const ETH = 10n ** 18n;
const PROFILES = ['P360p30fps16x9', 'P240p30fps16x9'];
// anvil's well-known dev keys (its default mnemonic): accounts 1 and 2 run the nodes and
// pay their redemption gas. Checked against anvil's own account list below.
const NODE_KEYS = [
  ['0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d', 1],
  ['0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a', 2],
];
const WALLET_INDEX = 5;
// Wei per output pixel of the first node; the page accepts up to twice that.
const PRICE = 1_000_000_000;
const MAX_PRICE = 2 * PRICE;

let dir, anvil, broker, relay, nodes, browser, wallet;

/** Starts a paid transcoder: price in wei per pixel, every ticket wins with `winProb`. */
async function startPaidTranscoder(i, { price, winProb }) {
  const keyFile = join(dir, `node${i}.key`);
  await writeFile(keyFile, NODE_KEYS[i][0].slice(2));
  const env = {
    LIVECAST_TRANSCODER_ETH_RPC_URL: anvil.url,
    LIVECAST_TRANSCODER_BROKER_ADDRESS: broker.address,
    LIVECAST_TRANSCODER_ETH_KEY_FILE: keyFile,
    LIVECAST_TRANSCODER_PRICE_PER_UNIT: String(price),
    LIVECAST_TRANSCODER_WIN_PROB_FRACTION: String(winProb),
  };
  // The support helper takes no flags: the node reads the same settings from its
  // environment, which the spawned process inherits.
  Object.assign(process.env, env);
  try {
    return await startTranscoder({ dataDir: join(dir, `node${i}`) });
  } finally {
    for (const k of Object.keys(env)) delete process.env[k];
  }
}

/** Winning-ticket redemptions on the broker, optionally only those of `sender`. */
async function redemptions(sender) {
  const topic0 = await rpc(anvil.url, 'web3_sha3', [`0x${Buffer.from('WinningTicketRedeemed(address,address,uint256,uint256,uint256,uint256,bytes)').toString('hex')}`]);
  const topics = [topic0];
  if (sender) topics.push(`0x${sender.slice(2).toLowerCase().padStart(64, '0')}`);
  const logs = await rpc(anvil.url, 'eth_getLogs', [{ address: broker.address, fromBlock: '0x0', toBlock: 'latest', topics }]);
  return Promise.all(logs.map(async (log) => {
    const receipt = await rpc(anvil.url, 'eth_getTransactionReceipt', [log.transactionHash]);
    return {
      recipient: `0x${log.topics[2].slice(26)}`,
      faceValue: BigInt(`0x${log.data.slice(2, 66)}`),
      gas: BigInt(receipt.gasUsed) * BigInt(receipt.effectiveGasPrice),
      from: receipt.from,
    };
  }));
}

/** Sender info at a block (`getSenderInfo` through eth_call). */
async function senderInfoAt(address, block) {
  const hex = await rpc(anvil.url, 'eth_call', [{ to: broker.address, data: calldata('getSenderInfo(address)', address) }, `0x${block.toString(16)}`]);
  const w = hex.slice(2).match(/.{64}/g).map((x) => BigInt(`0x${x}`));
  return { deposit: w[0], reserve: w[2] };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'livecast-payments-'));
  await makeY4m(join(dir, 'camera.y4m'), { width: 640, height: 480, fps: 30, seconds: 3 });
  anvil = await startAnvil();
  broker = await deployBroker(anvil.url, { unlockPeriod: 2, ticketValidityPeriod: 2, roundLength: 10 });
  nodes = [
    // About one ticket's EV per 2 s segment, so most segments carry a ticket; 9 in 10 win.
    await startPaidTranscoder(0, { price: PRICE, winProb: 0.9 }),
    await startPaidTranscoder(1, { price: 10 * PRICE, winProb: 0.9 }),
  ];
  relay = await startRelay({ dataDir: join(dir, 'relay'), args: ['--open', ...nodes.flatMap((n) => ['--transcoder', n.url])] });
  browser = await openBrowser({ fakeCamera: join(dir, 'camera.y4m') });
  wallet = anvil.accounts[WALLET_INDEX];
  await addDevWallet(browser.page, { rpcUrl: anvil.url, account: wallet, chainId: 31337 });
});

after(async () => {
  await browser?.close();
  await relay?.stop();
  await Promise.all((nodes ?? []).map((n) => n.stop()));
  await anvil?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

// ------------------------------------------------------------------ Payment bytes
// Just enough protobuf to find a field's bytes inside the `Livepeer-Payment` header and
// change them in place (same length), as a tampering sender would.

function varint(buf, i) {
  let n = 0n;
  let shift = 0n;
  for (;;) {
    const b = buf[i++];
    n |= BigInt(b & 0x7f) << shift;
    if (!(b & 0x80)) return [n, i];
    shift += 7n;
  }
}

/** The length-delimited fields of a message: `[{ num, start, end }]` (others skipped). */
function fields(buf, start = 0, end = buf.length) {
  const out = [];
  let i = start;
  while (i < end) {
    const [key, a] = varint(buf, i);
    const num = Number(key >> 3n);
    const type = Number(key & 7n);
    if (type === 0) { i = varint(buf, a)[1]; continue; }
    if (type === 1) { i = a + 8; continue; }
    if (type === 5) { i = a + 4; continue; }
    if (type !== 2) throw new Error(`wire type ${type}`);
    const [len, b] = varint(buf, a);
    out.push({ num, start: b, end: b + Number(len) });
    i = b + Number(len);
  }
  return out;
}

/** `header` (base64 Payment) with one byte of field `path` (e.g. [1, 2]) xor-ed at `at`. */
function tamper(header, path, at = -1) {
  const buf = Buffer.from(header, 'base64');
  let range = { start: 0, end: buf.length };
  for (const num of path) {
    range = fields(buf, range.start, range.end).find((f) => f.num === num);
    if (!range) throw new Error(`no field ${path.join('.')} in the payment`);
  }
  const i = at < 0 ? range.end + at : range.start + at;
  buf[i] ^= 0x01;
  return buf.toString('base64');
}

async function openPage() {
  const { page } = browser;
  await page.goto(`${relay.url}/www/broadcast.html`);
  await page.waitForFunction(() => window.livecastReady);
}

test('Wallet: EIP-6963 discovery, connect, chain switch, events, and typed refusals', async () => {
  await openPage();
  const r = await browser.page.evaluate(async ({ brokerAddress }) => {
    const { Wallet } = await import('../pkg/livecast.js');
    const code = (p) => p.then(() => 'resolved', (e) => `${e.code}: ${e.message}`);
    const found = await Wallet.discover();
    window.devWallet.rejectNext('eth_requestAccounts');
    const rejected = await code(Wallet.connect(found[0].provider));
    const notProvider = await code(Wallet.connect({}));
    const w = await Wallet.connect(found[0].provider);
    const before = { address: w.address, chainId: w.chainId };
    const same = await code(w.ensureChain(31337));
    const wrong = await code(w.ensureChain(1));
    const added = await code(w.ensureChain(10, { chainName: 'x', nativeCurrency: { name: 'E', symbol: 'E', decimals: 18 }, rpcUrls: ['http://x'] }));
    const events = [];
    w.on('chainChanged', (id) => events.push(['chainChanged', id]));
    w.on('accountsChanged', (a) => events.push(['accountsChanged', a]));
    window.devWallet.emit('chainChanged', '0xa');
    const switched = w.chainId;
    window.devWallet.emit('chainChanged', '0x7a69');
    window.devWallet.emit('accountsChanged', [window.devWallet.account]);
    const signsBefore = window.devWallet.calls.filter((c) => c === 'personal_sign').length;
    const k1 = await w.sessionKey(brokerAddress);
    const k2 = await w.sessionKey(brokerAddress);
    const signs = window.devWallet.calls.filter((c) => c === 'personal_sign').length - signsBefore;
    // Another Wallet object for the same account derives the same key (as after a reload).
    const w2 = await Wallet.connect(found[0].provider);
    const k3 = await w2.sessionKey(brokerAddress);
    const w3 = await Wallet.connect(found[0].provider);
    window.devWallet.rejectNext('personal_sign');
    const signRejected = await code(w3.sessionKey(brokerAddress));
    const ether = [Wallet.formatEther(1500000000000000000n), Wallet.formatEther('1')];
    w.disconnect();
    const listenersAfter = window.devWallet.listenerCount('chainChanged');
    return { found: found.map((f) => f.info), rejected, notProvider, before, same, wrong, added, events, switched, k1, k2, k3, signs, signRejected, ether, listenersAfter };
  }, { brokerAddress: broker.address });
  assert.equal(r.found.length, 1);
  assert.equal(r.found[0].rdns, 'dev.livecast.testwallet');
  assert.match(r.rejected, /^USER_REJECTED: eth_requestAccounts: the user rejected it/);
  assert.match(r.notProvider, /^INVALID_CONFIG: .*EIP-1193 provider/);
  assert.equal(r.before.address.toLowerCase(), wallet.toLowerCase());
  assert.equal(r.before.chainId, 31337);
  assert.equal(r.same, 'resolved');
  assert.match(r.wrong, /^WRONG_CHAIN: .*does not know chain 1: pass addParams/);
  assert.match(r.added, /^USER_REJECTED: wallet_addEthereumChain/);
  assert.equal(r.switched, 10);
  assert.deepEqual(r.events, [['chainChanged', 10], ['chainChanged', 31337], ['accountsChanged', [wallet]]]);
  assert.match(r.k1, /^0x[0-9a-fA-F]{40}$/);
  assert.equal(r.k1, r.k2);
  assert.equal(r.k1, r.k3, 'the same wallet derives the same session key');
  assert.notEqual(r.k1.toLowerCase(), wallet.toLowerCase());
  assert.equal(r.signs, 1, 'one personal_sign, then the key is kept');
  assert.match(r.signRejected, /^USER_REJECTED: personal_sign/);
  assert.deepEqual(r.ether, ['1.5', '0.000000000000000001']);
  assert.equal(r.listenersAfter, 2, 'the disconnected Wallet stopped listening (two others still do)');
});

test('unfunded wallet-mode sender and bad payment options are refused with clear errors', async () => {
  await openPage();
  const stream = await createStream(relay.url);
  const r = await browser.page.evaluate(async ({ maxPrice, id, key, relayUrl, brokerAddress }) => {
    const { Wallet, Broadcaster } = await import('../pkg/livecast.js');
    const [found] = await Wallet.discover();
    const w = await Wallet.connect(found.provider);
    const base = { relayUrl, streamId: id, streamKey: key, video: { width: 640, height: 480 }, encoder: 'webcodecs' };
    const make = (payment) => { try { new Broadcaster({ ...base, payment }); return 'ok'; } catch (e) { return `${e.name} ${e.code}: ${e.message}`; } };
    const badOptions = [
      make({ wallet: {}, broker: brokerAddress, maxPricePerPixel: 1, deposit: 1n, reserve: 0n }),
      make({ wallet: w, broker: 'nope', maxPricePerPixel: 1, deposit: 1n, reserve: 0n }),
      make({ wallet: w, broker: brokerAddress, maxPricePerPixel: -1, deposit: 1n, reserve: 0n }),
      make({ wallet: w, broker: brokerAddress, maxPricePerPixel: 1, deposit: 0n, reserve: 0n }),
      make({ wallet: w, broker: brokerAddress, mode: 'card', maxPricePerPixel: 1, deposit: 1n, reserve: 0n }),
    ];
    // Wallet mode: the wallet itself is the sender and has no deposit.
    const b = new Broadcaster({ ...base, payment: { wallet: w, broker: brokerAddress, mode: 'wallet', maxPricePerPixel: maxPrice, deposit: 1n, reserve: 0n } });
    const errors = [];
    b.on('error', (e) => errors.push(e));
    const started = await b.start().then(() => 'started', (e) => `${e.code}: ${e.message}`);
    return { badOptions, started, errors, state: b.state };
  }, { maxPrice: MAX_PRICE, id: stream.id, key: stream.streamKey, relayUrl: relay.url, brokerAddress: broker.address });
  assert.match(r.badOptions[0], /^TypeError INVALID_CONFIG: .*payment.wallet` must be a connected Wallet/);
  assert.match(r.badOptions[1], /^RangeError INVALID_CONFIG: .*payment.broker`: "nope" is not an address/);
  assert.match(r.badOptions[2], /^RangeError INVALID_CONFIG: .*maxPricePerPixel/);
  assert.match(r.badOptions[3], /^RangeError INVALID_CONFIG: .*deposit` must be above 0/);
  assert.match(r.badOptions[4], /^RangeError INVALID_CONFIG: .*mode/);
  assert.match(r.started, /^DEPOSIT_TOO_LOW: the ticket sender 0x[0-9a-fA-F]{40} has no deposit/);
  assert.equal(r.state, 'ended');
  assert.ok(r.errors.some((e) => e.code === 'DEPOSIT_TOO_LOW' && e.fatal));
});

test('a funded session key pays per segment: tickets accepted, winners redeemed, reload reuses the key and deposit, the wallet withdraws the rest', async () => {
  const nodeAddresses = NODE_KEYS.map(([, i]) => anvil.accounts[i].toLowerCase());
  const nodeBalanceBefore = await balanceOf(anvil.url, nodeAddresses[0]);
  await openPage();
  const stream = await createStream(relay.url);
  const deposit = 2n * ETH;
  const reserve = ETH / 2n;
  const first = await browser.page.evaluate(async ({ maxPrice, id, key, relayUrl, brokerAddress, profiles, deposit, reserve }) => {
    const { Wallet, Broadcaster } = await import('../pkg/livecast.js');
    const [found] = await Wallet.discover();
    const w = await Wallet.connect(found.provider);
    const sessionKey = await w.sessionKey(brokerAddress);
    const need = await w.fundingNeeded(brokerAddress, { deposit: BigInt(deposit), reserve: BigInt(reserve) });
    const b = new Broadcaster({
      relayUrl, streamId: id, streamKey: key,
      video: { width: 640, height: 480, fps: 30, bitrateKbps: 2000 },
      segmentSeconds: 2, encoder: 'webcodecs', transcode: { profiles },
      payment: { wallet: w, broker: brokerAddress, maxPricePerPixel: maxPrice, deposit: BigInt(deposit), reserve: BigInt(reserve) },
    });
    window.pay = { b, w, segments: [], errors: [], stats: [] };
    b.on('segment', (s) => window.pay.segments.push(s));
    b.on('error', (e) => window.pay.errors.push(e));
    b.on('stats', (s) => window.pay.stats.push(s));
    const txBefore = window.devWallet.calls.filter((c) => c === 'eth_sendTransaction').length;
    await b.start();
    const txs = window.devWallet.calls.filter((c) => c === 'eth_sendTransaction').length - txBefore;
    return { sessionKey, need: { deposit: String(need.deposit), reserve: String(need.reserve), total: String(need.total) }, txs };
  }, { maxPrice: MAX_PRICE, id: stream.id, key: stream.streamKey, relayUrl: relay.url, brokerAddress: broker.address, profiles: PROFILES, deposit: String(deposit), reserve: String(reserve) });
  assert.deepEqual(first.need, { deposit: String(deposit), reserve: String(reserve), total: String(deposit + reserve) });
  assert.equal(first.txs, 1, 'one funding transaction');
  const funded = await senderInfo(anvil.url, broker.address, first.sessionKey);
  assert.equal(funded.deposit, deposit);
  assert.equal(funded.reserve, reserve);
  assert.equal(await funderOf(anvil.url, broker.address, first.sessionKey), wallet.toLowerCase());

  await browser.page.waitForTimeout(20_000);
  await browser.page.evaluate(() => window.pay.b.stop());
  const run = await browser.page.evaluate(() => ({ segments: window.pay.segments, errors: window.pay.errors, stats: window.pay.stats.at(-1) }));
  assert.deepEqual(run.errors.filter((e) => e.fatal), []);
  const priceErrors = run.errors.filter((e) => e.code === 'PRICE_TOO_HIGH');
  assert.equal(priceErrors.length, 1, JSON.stringify(run.errors));
  assert.match(priceErrors[0].message, new RegExp(`transcoder ${nodes[1].url} charges ${10 * PRICE} wei per pixel, above the maximum of ${MAX_PRICE}`));
  assert.ok(run.segments.length >= 7, `${run.segments.length} segments acknowledged`);
  const paid = run.segments.filter((s) => s.payment);
  assert.ok(paid.length >= run.segments.length - 1, `${paid.length} of ${run.segments.length} segments paid`);
  for (const s of paid) {
    assert.equal(s.transcoder, nodes[0].url, 'only the node within the price cap transcodes');
    assert.equal(s.renditions.length, 2);
    const pixels = s.renditions.reduce((n, r) => n + r.pixels, 0);
    assert.equal(BigInt(s.payment.fee), BigInt(pixels) * BigInt(PRICE), 'fee = price × output pixels');
  }
  const tickets = paid.reduce((n, s) => n + s.payment.tickets, 0);
  assert.ok(tickets >= 1);
  assert.equal(run.stats.ticketsSent, tickets);
  assert.equal(BigInt(run.stats.evPaid), paid.reduce((n, s) => n + BigInt(s.payment.ev), 0n));
  assert.equal(BigInt(run.stats.feesDebited), paid.reduce((n, s) => n + BigInt(s.payment.fee), 0n));
  assert.equal(run.stats.ticketSender, first.sessionKey);

  // Winners: with a win probability of 0.5 some of the tickets win; the node redeems them.
  let won = [];
  for (let i = 0; i < 60 && won.length === 0; i++) {
    won = await redemptions(first.sessionKey);
    if (!won.length) await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(tickets >= 5, `${tickets} tickets for ${paid.length} segments`);
  assert.ok(won.length >= 1, `${tickets} tickets at p = 0.9 and no winner redeemed`);
  // Let the node's queue drain, then compare balances with what the redemptions say.
  let settled = -1;
  for (let i = 0; i < 20 && settled !== won.length; i++) {
    settled = won.length;
    await new Promise((r) => setTimeout(r, 1000));
    won = await redemptions(first.sessionKey);
  }
  for (const w of won) {
    assert.equal(w.recipient, nodeAddresses[0]);
    assert.equal(w.from.toLowerCase(), nodeAddresses[0], 'the node pays its own redemption gas');
  }
  const faceTotal = won.reduce((n, w) => n + w.faceValue, 0n);
  console.log(`# per segment: ${JSON.stringify(paid.map((s) => s.payment))}`);
  console.log(`# ${run.segments.length} segments, ${paid.length} paid, ${tickets} tickets, EV ${run.stats.evPaid} wei, fees ${run.stats.feesDebited} wei, ${won.length} winners redeemed (${faceTotal} wei), stats.winningTickets ${run.stats.winningTickets}`);
  const gasTotal = won.reduce((n, w) => n + w.gas, 0n);
  const nodeBalanceAfter = await balanceOf(anvil.url, nodeAddresses[0]);
  assert.equal(nodeBalanceAfter - nodeBalanceBefore, faceTotal - gasTotal, 'the node got the face values, less the gas it paid');
  const afterRun = await senderInfo(anvil.url, broker.address, first.sessionKey);
  assert.equal(afterRun.deposit, deposit - faceTotal, 'the deposit paid the winners');
  assert.equal(afterRun.reserve, reserve);

  // The renditions decode as a ladder.
  const master = await (await fetch(`${relay.url}/hls/${stream.id}/master.m3u8`)).text();
  assert.match(master, /RESOLUTION=640x360/);
  assert.match(master, /RESOLUTION=426x240/);
  assert.equal(await decodeErrors(`${relay.url}/hls/${stream.id}/master.m3u8`, null), '', 'ffmpeg decodes the ladder');

  // Reload: the same wallet derives the same key, and its deposit pays without a new
  // funding transaction (the page asks for no more than it has).
  await openPage();
  const stream2 = await createStream(relay.url);
  const second = await browser.page.evaluate(async ({ maxPrice, id, key, relayUrl, brokerAddress, profiles }) => {
    const { Wallet, Broadcaster } = await import('../pkg/livecast.js');
    const [found] = await Wallet.discover();
    const w = await Wallet.connect(found.provider);
    const sessionKey = await w.sessionKey(brokerAddress);
    const info = await w.senderInfo(brokerAddress);
    const b = new Broadcaster({
      relayUrl, streamId: id, streamKey: key, video: { width: 640, height: 480, fps: 30, bitrateKbps: 2000 },
      segmentSeconds: 2, encoder: 'webcodecs', transcode: { profiles },
      payment: { wallet: w, broker: brokerAddress, maxPricePerPixel: maxPrice, deposit: 1n, reserve: 0n },
    });
    const segments = [];
    const errors = [];
    b.on('segment', (s) => segments.push(s));
    b.on('error', (e) => errors.push(e));
    await b.start();
    await new Promise((r) => setTimeout(r, 7000));
    await b.stop();
    return { sessionKey, deposit: String(info.deposit), segments, errors, txs: window.devWallet.calls.filter((c) => c === 'eth_sendTransaction').length };
  }, { maxPrice: MAX_PRICE, id: stream2.id, key: stream2.streamKey, relayUrl: relay.url, brokerAddress: broker.address, profiles: PROFILES });
  assert.equal(second.sessionKey, first.sessionKey, 'the reload derives the same session key');
  assert.equal(BigInt(second.deposit), afterRun.deposit);
  assert.equal(second.txs, 0, 'no funding transaction after the reload');
  assert.ok(second.segments.filter((s) => s.payment && s.renditions.length === 2).length >= 2, JSON.stringify(second.errors));

  // Unlock, past the unlock period withdraw: the wallet gets exactly what remained.
  const unlocked = await browser.page.evaluate(async ({ brokerAddress }) => {
    const { Wallet } = await import('../pkg/livecast.js');
    const [found] = await Wallet.discover();
    const w = await Wallet.connect(found.provider);
    const early = await w.withdrawSessionKey(brokerAddress).then(() => 'withdrew', (e) => `${e.code}: ${e.message}`);
    await w.unlockSessionKey(brokerAddress);
    return { early, info: await w.senderInfo(brokerAddress).then((i) => ({ withdrawRound: String(i.withdrawRound) })) };
  }, { brokerAddress: broker.address });
  assert.match(unlocked.early, /^WALLET_ERROR: withdrawFor/);
  assert.ok(BigInt(unlocked.info.withdrawRound) > 0n);
  await advanceRounds(anvil.url, broker.address, Number(broker.unlockPeriod) + 1);
  const walletBefore = await balanceOf(anvil.url, wallet);
  const hash = await browser.page.evaluate(async ({ brokerAddress }) => {
    const { Wallet } = await import('../pkg/livecast.js');
    const [found] = await Wallet.discover();
    const w = await Wallet.connect(found.provider);
    return w.withdrawSessionKey(brokerAddress);
  }, { brokerAddress: broker.address });
  const receipt = await rpc(anvil.url, 'eth_getTransactionReceipt', [hash]);
  const remained = await senderInfoAt(first.sessionKey, BigInt(receipt.blockNumber) - 1n);
  const gas = BigInt(receipt.gasUsed) * BigInt(receipt.effectiveGasPrice);
  const walletAfter = await balanceOf(anvil.url, wallet);
  assert.ok(remained.deposit + remained.reserve > 0n);
  assert.equal(walletAfter - walletBefore, remained.deposit + remained.reserve - gas, 'the wallet got back exactly what remained');
  const emptied = await senderInfo(anvil.url, broker.address, first.sessionKey);
  assert.equal(emptied.deposit + emptied.reserve, 0n);
});

test('tampered face value, wrong signer, replayed nonce and expired tickets are refused by the node with a clear error, then payments go on', async () => {
  await openPage();
  const { page } = browser;
  const stream = await createStream(relay.url);
  // What happens to the n-th upload carrying a payment (the page's own bytes otherwise).
  const plan = ['pass', 'face', 'pass', 'sig', 'pass', 'replay', 'hold', 'pass', 'expired'];
  const seen = [];
  let accepted = null;
  let held = null;
  await page.route(`${relay.url}/live/**`, async (route) => {
    const headers = route.request().headers();
    const payment = headers['livepeer-payment'];
    const send = (value) => route.continue({ headers: { ...headers, 'livepeer-payment': value } });
    try {
      if (!payment) return await route.continue();
      // A payment may carry no ticket (the balance covers the segment): cases that change
      // or replay tickets wait for one that has some.
      const hasTickets = fields(Buffer.from(payment, 'base64')).some((f) => f.num === 4);
      const action = plan[seen.length] ?? 'pass';
      if (!hasTickets && ['sig', 'replay', 'hold'].includes(action)) return await route.continue();
      seen.push(action);
      switch (action) {
        case 'face': return await send(tamper(payment, [1, 2]));          // TicketParams.face_value
        case 'sig': return await send(tamper(payment, [4, 2], 10));        // first ticket's signature
        case 'replay': return await send(accepted);                        // tickets the node already took
        case 'hold': held = payment; return await route.abort('failed');   // never reaches the node
        case 'expired':
          await mine(anvil.url, 100);                                      // past its expiration block
          await send(held);
          return await page.evaluate(() => { window.planDone = Date.now(); });
        default:
          if (hasTickets) accepted = payment;
          return await route.continue();
      }
    } catch (e) {
      seen.push(`handler failed: ${e.message}`);
      return route.continue().catch(() => {});
    }
  });
  const result = await page.evaluate(async ({ maxPrice, id, key, relayUrl, brokerAddress, profiles, plan }) => {
    const { Wallet, Broadcaster } = await import('../pkg/livecast.js');
    const [found] = await Wallet.discover();
    const w = await Wallet.connect(found.provider);
    const b = new Broadcaster({
      relayUrl, streamId: id, streamKey: key, video: { width: 640, height: 480, fps: 30, bitrateKbps: 1500 },
      segmentSeconds: 1, encoder: 'webcodecs', transcode: { profiles },
      // The previous test withdrew everything: this funds the session key again.
      payment: { wallet: w, broker: brokerAddress, maxPricePerPixel: maxPrice, deposit: 2n * 10n ** 18n, reserve: 0n },
    });
    const segments = [];
    const errors = [];
    b.on('segment', (s) => segments.push({ ...s, at: Date.now() }));
    b.on('error', (e) => errors.push(e));
    await b.start();
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      // Two paid segments after the last planned case: payments went on.
      if (window.planDone && segments.filter((s) => s.at > window.planDone && s.payment).length >= 2) break;
    }
    await b.stop();
    return { segments, errors, planDone: window.planDone };
  }, { maxPrice: MAX_PRICE, id: stream.id, key: stream.streamKey, relayUrl: relay.url, brokerAddress: broker.address, profiles: ['P240p30fps16x9'], plan });
  await page.unroute(`${relay.url}/live/**`);
  assert.deepEqual(seen.slice(0, plan.length), plan, `every planned case ran: ${JSON.stringify(seen)}`);
  const rejected = result.errors.filter((e) => e.code === 'PAYMENT_REJECTED').map((e) => e.message);
  const expect = [
    ['face', /recipientRand check: these ticket params were not issued by this node/],
    ['sig', /signature check: ticket 0 \(nonce \d+\): (signed by 0x[0-9a-fA-F]{40}, not by the sender|bad ticket signature)/],
    ['replay', /nonce check: ticket 0/],
    ['expired', /expiration check: the ticket params expired at block \d+ \(the chain is at block \d+\)/],
  ];
  for (const [what, pattern] of expect) {
    assert.ok(rejected.some((m) => pattern.test(m) && m.includes(nodes[0].url)), `${what}: ${pattern} not in ${JSON.stringify(rejected, null, 1)}`);
  }
  assert.equal(rejected.length, expect.length, JSON.stringify(rejected, null, 1));
  assert.deepEqual(result.errors.filter((e) => e.fatal), []);
  // After every refusal the page took fresh params, and payments went on.
  assert.ok(result.planDone, 'the expired case ran');
  assert.ok(result.segments.filter((s) => s.at > result.planDone && s.payment).length >= 2, 'segments were paid again after the last refusal');
});

test('wallet mode: the wallet itself is the sender and signs discovery, segments and tickets', async () => {
  // The wallet funds its own deposit (a plain sender, as in Livepeer).
  await fundDepositAndReserveFor(anvil.url, broker.address, { from: wallet, sender: wallet, deposit: ETH, reserve: 0n });
  await openPage();
  const stream = await createStream(relay.url);
  const r = await browser.page.evaluate(async ({ maxPrice, id, key, relayUrl, brokerAddress }) => {
    const { Wallet, Broadcaster } = await import('../pkg/livecast.js');
    const [found] = await Wallet.discover();
    const w = await Wallet.connect(found.provider);
    const b = new Broadcaster({
      relayUrl, streamId: id, streamKey: key, video: { width: 640, height: 480, fps: 30, bitrateKbps: 1500 },
      segmentSeconds: 2, encoder: 'webcodecs', transcode: { profiles: ['P240p30fps16x9'] },
      payment: { wallet: w, broker: brokerAddress, mode: 'wallet', maxPricePerPixel: maxPrice, deposit: 1n, reserve: 0n },
    });
    const segments = [];
    const errors = [];
    let stats = null;
    b.on('segment', (s) => segments.push(s));
    b.on('error', (e) => errors.push(e));
    b.on('stats', (s) => { stats = s; });
    await b.start();
    await new Promise((res) => setTimeout(res, 8000));
    await b.stop();
    return { segments, errors, stats, signs: window.devWallet.calls.filter((c) => c === 'personal_sign').length, txs: window.devWallet.calls.filter((c) => c === 'eth_sendTransaction').length };
  }, { maxPrice: MAX_PRICE, id: stream.id, key: stream.streamKey, relayUrl: relay.url, brokerAddress: broker.address });
  const paid = r.segments.filter((s) => s.payment && s.renditions.length === 1);
  assert.ok(paid.length >= 2, `${paid.length} paid segments; errors ${JSON.stringify(r.errors)}`);
  assert.equal(r.stats.ticketSender.toLowerCase(), wallet.toLowerCase());
  const tickets = paid.reduce((n, s) => n + s.payment.tickets, 0);
  // One personal_sign for discovery, one per segment sent to the node, one per ticket.
  assert.ok(r.signs >= 1 + paid.length + tickets, `${r.signs} signatures for ${paid.length} segments and ${tickets} tickets`);
  assert.equal(r.txs, 0, 'wallet mode sends no funding transaction');
});

test('demo page: the marked local dev wallet, the funding shown in ETH before it is sent, live spend', async () => {
  const { page } = browser;
  // The demo command's URL: the broker, payments on, the local dev wallet picked.
  await page.goto(`${relay.url}/www/broadcast.html?pay=1&wallet=dev&broker=${broker.address}&rpc=${encodeURIComponent(anvil.url)}&segment=1`);
  await page.waitForFunction(() => window.livecastReady && document.getElementById('wallet-choice').value === 'dev');
  const options = await page.$$eval('#wallet-choice option', (list) => list.map((o) => o.textContent));
  assert.ok(options.includes('Livecast test wallet (anvil)'), `EIP-6963 wallets are listed: ${options}`);
  const label = await page.$eval('#wallet-choice option[value="dev"]', (o) => o.textContent);
  assert.match(label, /development only, not a real wallet/);
  await page.click('#connect');
  await page.waitForFunction(() => /^Connected: 0x/.test(document.getElementById('wallet-status').textContent));
  await page.fill('#deposit', '0.75');
  await page.fill('#max-price', String(MAX_PRICE));
  await page.fill('#reserve', '0.05');
  await page.click('#start');
  await page.waitForSelector('#confirm-funding:not([hidden])');
  const text = await page.textContent('#funding-text');
  assert.match(text, /will send 0\.8 ETH to the TicketBroker for session key 0x[0-9a-fA-F]{40}: deposit 0\.75 ETH \+ reserve 0\.05 ETH/);
  const sessionKey = text.match(/session key (0x[0-9a-fA-F]{40})/)[1];
  assert.equal((await senderInfo(anvil.url, broker.address, sessionKey)).deposit, 0n, 'nothing is sent before the user confirms');
  await page.click('#funding-ok');
  await page.waitForFunction(() => Number(document.getElementById('stat-ticketsSent')?.textContent) >= 1, null, { timeout: 30_000 });
  const spend = await page.evaluate(() => ({
    sender: document.getElementById('stat-ticketSender').textContent,
    paid: document.getElementById('stat-evPaid').textContent,
    log: document.getElementById('log').textContent,
  }));
  assert.equal(spend.sender, sessionKey);
  assert.match(spend.paid, /^0\.\d+ ETH$/);
  assert.match(spend.log, /paid 1 ticket\(s\) worth 0\.\d+ ETH/);
  const funded = await senderInfo(anvil.url, broker.address, sessionKey);
  assert.equal(funded.reserve, 5n * 10n ** 16n);
  await page.click('#stop');
  await page.waitForFunction(() => window.broadcastEnded, null, { timeout: 30_000 });
});
