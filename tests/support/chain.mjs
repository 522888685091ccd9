// A local chain for tests and the demo: the real anvil binary from the npm package
// `@foundry-rs/anvil` on 127.0.0.1 and a free port, the TicketBroker deployed from the
// committed artifact (contracts/artifacts/TicketBroker.json), and helpers to mine blocks,
// advance rounds and read balances and a sender's deposit/reserve. No ABI library: the
// calls used here take and return only static words, encoded by hand.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './server.mjs';

const PLATFORM = { linux: 'linux', darwin: 'darwin', win32: 'win32' }[process.platform] ?? process.platform;
const ARCH = { x64: 'amd64', arm64: 'arm64' }[process.arch] ?? process.arch;

/** The anvil binary the npm package installs for this platform (override: LIVECAST_ANVIL_BIN). */
export const ANVIL_BIN = process.env.LIVECAST_ANVIL_BIN
  ?? join(repoRoot, 'node_modules', '@foundry-rs', `anvil-${PLATFORM}-${ARCH}`, 'bin',
    process.platform === 'win32' ? 'anvil.exe' : 'anvil');

/** The committed TicketBroker artifact: `{ abi, bytecode, methodIdentifiers, ... }`. */
export const BROKER_ARTIFACT = JSON.parse(
  readFileSync(join(repoRoot, 'contracts', 'artifacts', 'TicketBroker.json'), 'utf8'));

/**
 * Starts anvil on 127.0.0.1 and a free port. Resolves to
 * `{ url, pid, process, accounts, output, stop(), kill() }` once it listens; `pid` is
 * anvil's own PID (the binary is spawned directly, no wrapper shell). `blockTime` (s) mines
 * blocks on a timer as well as on each transaction; `args` are extra anvil flags.
 */
export async function startAnvil({ blockTime, args = [] } = {}) {
  if (!existsSync(ANVIL_BIN)) {
    throw new Error(`anvil not found at ${ANVIL_BIN}: run npm ci (package @foundry-rs/anvil)`);
  }
  const argv = ['--host', '127.0.0.1', '--port', '0', ...(blockTime ? ['--block-time', String(blockTime)] : []), ...args];
  const child = spawn(ANVIL_BIN, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = [];
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`anvil did not start:\n${output.join('')}`)), 20_000);
    const onData = (chunk) => {
      output.push(chunk.toString());
      const m = output.join('').match(/Listening on ([\d.]+:\d+)/);
      if (m) { clearTimeout(timer); resolve(`http://${m[1]}`); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`anvil exited with ${code}:\n${output.join('')}`)); });
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
  });
  // Keep draining its output so anvil never blocks on a full pipe.
  child.stdout.on('data', () => {});
  child.stderr.on('data', () => {});
  const accounts = await rpc(url, 'eth_accounts');
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  return {
    url,
    pid: child.pid,
    process: child,
    accounts,
    output,
    /** SIGTERM to anvil's PID, and wait for the exit. */
    stop: () => new Promise((ok) => { if (exited()) return ok(); child.once('exit', ok); process.kill(child.pid, 'SIGTERM'); }),
    /** SIGKILL to anvil's PID, and wait for the exit. */
    kill: () => new Promise((ok) => { if (exited()) return ok(); child.once('exit', ok); process.kill(child.pid, 'SIGKILL'); }),
  };
}

let rpcId = 0;

/** One JSON-RPC call; throws an Error carrying the node's message (and `data`) on failure. */
export async function rpc(url, method, params = []) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method, params }),
  });
  if (!res.ok) throw new Error(`${method}: HTTP ${res.status}`);
  const body = await res.json();
  if (body.error) {
    const err = new Error(`${method}: ${body.error.message}`);
    err.data = body.error.data;
    throw err;
  }
  return body.result;
}

// ---------------------------------------------------------------- ABI words

/** A 32-byte word (hex, no 0x) for a uint256 (bigint/number) or an address. */
export function word(value) {
  if (typeof value === 'string') return value.toLowerCase().replace(/^0x/, '').padStart(64, '0');
  return BigInt(value).toString(16).padStart(64, '0');
}

/** Calldata: the selector of `signature` (from the artifact) followed by static words. */
export function calldata(signature, ...args) {
  const selector = BROKER_ARTIFACT.methodIdentifiers[signature];
  if (!selector) throw new Error(`TicketBroker has no function ${signature}`);
  return `0x${selector}${args.map(word).join('')}`;
}

/** Splits return data into 32-byte words as bigints. */
function words(hex) {
  const h = hex.replace(/^0x/, '');
  const out = [];
  for (let i = 0; i + 64 <= h.length; i += 64) out.push(BigInt(`0x${h.slice(i, i + 64)}`));
  return out;
}

/** An `eth_call` to the broker; resolves to the return words as bigints. */
export async function callBroker(url, broker, signature, ...args) {
  return words(await rpc(url, 'eth_call', [{ to: broker, data: calldata(signature, ...args) }, 'latest']));
}

// ---------------------------------------------------------------- transactions

/**
 * Sends a transaction from an unlocked anvil account and waits for its receipt. Rejects
 * if it reverts (with the revert reason when anvil reports one).
 */
export async function sendTx(url, { from, to, data, value = 0n }) {
  const hash = await rpc(url, 'eth_sendTransaction', [{ from, to, data, value: `0x${BigInt(value).toString(16)}` }]);
  return waitReceipt(url, hash);
}

/** Polls for a transaction's receipt; rejects when it reverted. */
export async function waitReceipt(url, hash, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const receipt = await rpc(url, 'eth_getTransactionReceipt', [hash]);
    if (receipt) {
      if (receipt.status !== '0x1') throw new Error(`transaction ${hash} reverted`);
      return receipt;
    }
    if (Date.now() > deadline) throw new Error(`no receipt for ${hash} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Deploys the TicketBroker from `from` (default: anvil's first dev account) with
 * `unlockPeriod` and `ticketValidityPeriod` in rounds and `roundLength` in blocks, then (by
 * default) mines into round 1 — round 0 has no block hash, so tickets need round >= 1.
 * Resolves to `{ address, roundLength, unlockPeriod, ticketValidityPeriod, deployer, receipt }`.
 */
export async function deployBroker(url, {
  from, unlockPeriod = 2, ticketValidityPeriod = 2, roundLength = 10, toFirstRound = true,
} = {}) {
  const deployer = from ?? (await rpc(url, 'eth_accounts'))[0];
  const data = `${BROKER_ARTIFACT.bytecode}${word(unlockPeriod)}${word(ticketValidityPeriod)}${word(roundLength)}`;
  const hash = await rpc(url, 'eth_sendTransaction', [{ from: deployer, data }]);
  const receipt = await waitReceipt(url, hash);
  const address = receipt.contractAddress;
  if (toFirstRound && (await currentRound(url, address)) === 0n) await advanceRounds(url, address, 1);
  return { address, roundLength: BigInt(roundLength), unlockPeriod: BigInt(unlockPeriod), ticketValidityPeriod: BigInt(ticketValidityPeriod), deployer, receipt };
}

// ---------------------------------------------------------------- blocks and rounds

/** The latest block number (bigint). */
export async function blockNumber(url) {
  return BigInt(await rpc(url, 'eth_blockNumber'));
}

/** Mines `blocks` empty blocks at once. */
export async function mine(url, blocks = 1) {
  await rpc(url, 'anvil_mine', [`0x${BigInt(blocks).toString(16)}`]);
}

/** The broker's current round (bigint). */
export async function currentRound(url, broker) {
  return (await callBroker(url, broker, 'currentRound()'))[0];
}

/** The block hash the broker holds for `round` (0x…; all zeros when it has none). */
export async function blockHashForRound(url, broker, round) {
  return `0x${word((await callBroker(url, broker, 'blockHashForRound(uint256)', round))[0])}`;
}

/**
 * Mines up to the first block of round `current + rounds`. Resolves to the new round.
 * Uses the broker's own `roundLength`, so it matches `currentRound()`.
 */
export async function advanceRounds(url, broker, rounds = 1) {
  const [length] = await callBroker(url, broker, 'roundLength()');
  const target = ((await currentRound(url, broker)) + BigInt(rounds)) * length;
  const latest = await blockNumber(url);
  if (target > latest) await mine(url, target - latest);
  return currentRound(url, broker);
}

// ---------------------------------------------------------------- balances

/** An account's ETH balance in wei (bigint). */
export async function balanceOf(url, address) {
  return BigInt(await rpc(url, 'eth_getBalance', [address, 'latest']));
}

/** `getSenderInfo(addr)` as `{ deposit, withdrawRound, reserve, reserveClaimedInCurrentRound }` (bigints). */
export async function senderInfo(url, broker, address) {
  const [deposit, withdrawRound, reserve, reserveClaimedInCurrentRound] =
    await callBroker(url, broker, 'getSenderInfo(address)', address);
  return { deposit, withdrawRound, reserve, reserveClaimedInCurrentRound };
}

/** The recorded funder of `address` (0x… lowercase; the zero address when none). */
export async function funderOf(url, broker, address) {
  return `0x${word((await callBroker(url, broker, 'funderOf(address)', address))[0]).slice(24)}`;
}

/** Funds `sender`'s deposit and reserve from the unlocked account `from`. Resolves to the receipt. */
export async function fundDepositAndReserveFor(url, broker, { from, sender, deposit, reserve }) {
  return sendTx(url, {
    from,
    to: broker,
    data: calldata('fundDepositAndReserveFor(address,uint256,uint256)', sender, deposit, reserve),
    value: BigInt(deposit) + BigInt(reserve),
  });
}
