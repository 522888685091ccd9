// Compiles contracts/TicketBroker.sol with the npm `solc` compiler pinned in package.json and
// writes contracts/artifacts/TicketBroker.json (ABI, bytecode, compiler version and settings).
//
//   node contracts/build.mjs           write the artifact
//   node contracts/build.mjs --check   exit 1 if the committed artifact differs from a fresh build
//
// The Rust bindings (crates/livecast-broker) are generated from the committed artifact, so the
// drift test (tests/contracts/drift.test.mjs) keeps the contract, the artifact and the
// bindings in step.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const solc = require('solc');

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
export const SOURCE = 'contracts/TicketBroker.sol';
export const ARTIFACT = join(repoRoot, 'contracts', 'artifacts', 'TicketBroker.json');
const CONTRACT = 'TicketBroker';

/** Compiler settings; part of the artifact so a change of settings is drift too. */
export const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'prague',
  outputSelection: {
    '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object', 'evm.methodIdentifiers'] },
  },
};

/** The solc version package.json pins; the compiler in node_modules must be exactly it. */
function pinnedSolcVersion() {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
  return pkg.devDependencies?.solc;
}

/** Resolves `@openzeppelin/...` imports from node_modules. */
function findImports(path) {
  try {
    return { contents: readFileSync(join(repoRoot, 'node_modules', path), 'utf8') };
  } catch (e) {
    return { error: `import ${path} not found in node_modules (run npm ci): ${e.message}` };
  }
}

/**
 * Compiles the contract (or `source`, the text of a variant of it) and returns the artifact
 * object. Throws with solc's messages on errors.
 */
export function compile({ source } = {}) {
  const pinned = pinnedSolcVersion();
  const version = solc.version();
  if (!pinned || !version.startsWith(`${pinned}+`)) {
    throw new Error(`solc ${version} is installed but package.json pins ${pinned}: run npm ci`);
  }
  const input = {
    language: 'Solidity',
    sources: { [SOURCE]: { content: source ?? readFileSync(join(repoRoot, SOURCE), 'utf8') } },
    settings: SETTINGS,
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  for (const w of (output.errors ?? []).filter((e) => e.severity !== 'error')) console.warn(w.formattedMessage);
  if (errors.length > 0) {
    throw new Error(`solc failed:\n${errors.map((e) => e.formattedMessage).join('\n')}`);
  }
  const contract = output.contracts[SOURCE][CONTRACT];
  return {
    contractName: CONTRACT,
    sourceName: SOURCE,
    compiler: { name: 'solc', version, settings: { optimizer: SETTINGS.optimizer, evmVersion: SETTINGS.evmVersion } },
    abi: contract.abi,
    bytecode: `0x${contract.evm.bytecode.object}`,
    deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
    // Function signature => 4-byte selector (hex), for callers without an ABI encoder.
    methodIdentifiers: contract.evm.methodIdentifiers,
  };
}

/** The artifact as written to disk (stable formatting, trailing newline). */
export function serialize(artifact) {
  return `${JSON.stringify(artifact, null, 2)}\n`;
}

/** Reads the committed artifact. */
export function readArtifact() {
  return JSON.parse(readFileSync(ARTIFACT, 'utf8'));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const artifact = compile();
  if (process.argv.includes('--check')) {
    const committed = readFileSync(ARTIFACT, 'utf8');
    if (committed !== serialize(artifact)) {
      console.error(`${relative(process.cwd(), ARTIFACT)} is out of date: run node contracts/build.mjs`);
      process.exit(1);
    }
    console.log(`${relative(process.cwd(), ARTIFACT)} is up to date`);
  } else {
    writeFileSync(ARTIFACT, serialize(artifact));
    console.log(`wrote ${relative(process.cwd(), ARTIFACT)} (${(artifact.deployedBytecode.length - 2) / 2} bytes deployed, solc ${artifact.compiler.version})`);
  }
}
