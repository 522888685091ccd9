// The committed TicketBroker artifact (ABI + bytecode, from which the Rust bindings are
// generated) must be exactly what the pinned solc makes of contracts/TicketBroker.sol.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile, readArtifact, serialize, ARTIFACT, SOURCE, repoRoot } from '../../contracts/build.mjs';

const fresh = compile();

test('committed artifact ABI equals a fresh compile', () => {
  assert.deepEqual(readArtifact().abi, fresh.abi,
    'contracts/artifacts/TicketBroker.json ABI is stale: run node contracts/build.mjs');
});

test('committed artifact bytecode equals a fresh compile', () => {
  const committed = readArtifact();
  assert.equal(committed.bytecode, fresh.bytecode, 'creation bytecode drifted: run node contracts/build.mjs');
  assert.equal(committed.deployedBytecode, fresh.deployedBytecode, 'runtime bytecode drifted: run node contracts/build.mjs');
  assert.equal(committed.compiler.version, fresh.compiler.version, 'compiler version changed');
  assert.equal(readFileSync(ARTIFACT, 'utf8'), serialize(fresh), 'artifact file differs from a fresh build');
});

test('the pragma pins the same solc version as package.json', () => {
  const pinned = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).devDependencies.solc;
  const source = readFileSync(join(repoRoot, SOURCE), 'utf8');
  assert.match(source, new RegExp(`pragma solidity ${pinned.replaceAll('.', '\\.')};`));
  assert.ok(fresh.compiler.version.startsWith(`${pinned}+`), fresh.compiler.version);
});

test('a one-word change to the source is detected as drift', () => {
  const source = readFileSync(join(repoRoot, SOURCE), 'utf8');
  const changed = source.replace('"ticket did not win"', '"ticket lost"');
  assert.notEqual(changed, source, 'the test edit must apply');
  const variant = compile({ source: changed });
  assert.deepEqual(variant.abi, fresh.abi, 'a revert string does not change the ABI');
  assert.notEqual(variant.bytecode, fresh.bytecode, 'but it changes the bytecode');
});

test('Livepeer selectors are preserved', () => {
  const ids = fresh.methodIdentifiers;
  // go-livepeer's eth bindings call these selectors on Livepeer's TicketBroker.
  assert.equal(ids['redeemWinningTicket((address,address,uint256,uint256,uint256,bytes32,bytes),bytes,uint256)'], 'ec8b3cb6');
  for (const sig of ['fundDeposit()', 'fundDepositAndReserve(uint256,uint256)', 'fundDepositAndReserveFor(address,uint256,uint256)', 'fundReserve()', 'unlock()', 'cancelUnlock()', 'withdraw()',
    'getSenderInfo(address)', 'isUnlockInProgress(address)', 'usedTickets(bytes32)', 'claimableReserve(address,address)']) {
    assert.ok(ids[sig], `missing ${sig}`);
  }
});
