// The chain harness against a real anvil: start/stop by PID, deploy, rounds, funding and the
// funder-recovery extension driven from JavaScript (what the browser tests build on).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startAnvil, deployBroker, currentRound, advanceRounds, blockHashForRound, blockNumber, rpc,
  balanceOf, senderInfo, funderOf, fundDepositAndReserveFor, sendTx, calldata,
} from '../support/chain.mjs';

let chain;
let broker;
before(async () => {
  chain = await startAnvil();
  broker = await deployBroker(chain.url, { unlockPeriod: 2, ticketValidityPeriod: 2, roundLength: 5 });
});
after(async () => { await chain?.stop(); });

test('anvil runs on 127.0.0.1 with its own PID and ten dev accounts', async () => {
  assert.match(chain.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(chain.pid > 0);
  process.kill(chain.pid, 0); // throws if that PID is not alive
  assert.equal(chain.accounts.length, 10);
  assert.equal(BigInt(await rpc(chain.url, 'eth_chainId')), 31337n);
});

test('deploy lands in round 1 with a block hash for it', async () => {
  assert.match(broker.address, /^0x[0-9a-f]{40}$/);
  assert.equal(await currentRound(chain.url, broker.address), 1n);
  const hash = await blockHashForRound(chain.url, broker.address, 1n);
  const block = await rpc(chain.url, 'eth_getBlockByNumber', ['0x4', false]);
  assert.equal(hash, block.hash, 'round 1 hash is the last block of round 0');
  assert.equal(await blockHashForRound(chain.url, broker.address, 0n), `0x${'0'.repeat(64)}`);
});

test('advanceRounds mines to the first block of the target round', async () => {
  const before = await currentRound(chain.url, broker.address);
  const round = await advanceRounds(chain.url, broker.address, 2);
  assert.equal(round, before + 2n);
  assert.equal(await blockNumber(chain.url), round * 5n);
});

test('a wallet funds a session key, unlocks it and withdraws the rest to itself', async () => {
  const [, wallet, key] = chain.accounts;
  await fundDepositAndReserveFor(chain.url, broker.address, { from: wallet, sender: key, deposit: 10n ** 17n, reserve: 2n * 10n ** 17n });
  assert.deepEqual(await senderInfo(chain.url, broker.address, key),
    { deposit: 10n ** 17n, withdrawRound: 0n, reserve: 2n * 10n ** 17n, reserveClaimedInCurrentRound: 0n });
  assert.equal(await funderOf(chain.url, broker.address, key), wallet);

  await sendTx(chain.url, { from: wallet, to: broker.address, data: calldata('unlockFor(address)', key) });
  const info = await senderInfo(chain.url, broker.address, key);
  assert.equal(info.withdrawRound, (await currentRound(chain.url, broker.address)) + 2n);
  await assert.rejects(sendTx(chain.url, { from: wallet, to: broker.address, data: calldata('withdrawFor(address)', key) }),
    /reverted|locked/, 'withdraw before the unlock period ends is refused');

  await advanceRounds(chain.url, broker.address, 2);
  const walletBefore = await balanceOf(chain.url, wallet);
  const receipt = await sendTx(chain.url, { from: wallet, to: broker.address, data: calldata('withdrawFor(address)', key) });
  const gas = BigInt(receipt.gasUsed) * BigInt(receipt.effectiveGasPrice);
  assert.equal(await balanceOf(chain.url, wallet), walletBefore + 3n * 10n ** 17n - gas);
  assert.deepEqual(await senderInfo(chain.url, broker.address, key),
    { deposit: 0n, withdrawRound: info.withdrawRound, reserve: 0n, reserveClaimedInCurrentRound: 0n });
});

test('stop() ends the anvil process', async () => {
  const other = await startAnvil();
  await other.stop();
  assert.throws(() => process.kill(other.pid, 0), /ESRCH/);
});
