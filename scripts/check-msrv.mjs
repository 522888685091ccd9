// Checks each workspace crate's declared `rust-version` against its dependencies': a crate
// cannot build on an older Rust than the newest `rust-version` among the crates it depends
// on (normal and build dependencies, all targets, as Cargo.lock resolves them, with
// features unified across the workspace as a workspace build resolves them: an
// overestimate for a crate built alone), and the Rust here must be at least every declared
// one. cargo has no such check of its own (it only refuses a too-old toolchain), and
// cargo-msrv would download toolchains.
// Run by the test command; prints one line per crate.
import { execFileSync } from 'node:child_process';

const meta = JSON.parse(execFileSync('cargo', ['metadata', '--format-version', '1', '--locked'], { maxBuffer: 256 * 1024 * 1024 }));
const rustc = execFileSync('rustc', ['--version']).toString().match(/rustc (\d+\.\d+\.\d+)/)[1];
const parse = (v) => (v ?? '0').split('.').map(Number).concat([0, 0, 0]).slice(0, 3);
const cmp = (a, b) => { for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] - b[i]; return 0; };
const packages = new Map(meta.packages.map((p) => [p.id, p]));
const nodes = new Map(meta.resolve.nodes.map((n) => [n.id, n]));

let failed = false;
for (const id of meta.workspace_members) {
  const crate = packages.get(id);
  const declared = crate.rust_version ?? null;
  let need = [0, 0, 0], by = 'nothing';
  const seen = new Set();
  const stack = [id];
  while (stack.length) {
    const at = stack.pop();
    if (seen.has(at)) continue;
    seen.add(at);
    const pkg = packages.get(at);
    if (at !== id && pkg.rust_version && cmp(parse(pkg.rust_version), need) > 0) {
      need = parse(pkg.rust_version);
      by = `${pkg.name} ${pkg.version}`;
    }
    for (const dep of nodes.get(at).deps) {
      if (dep.dep_kinds.some((k) => k.kind === null || k.kind === 'build')) stack.push(dep.pkg);
    }
  }
  const problems = [];
  if (!declared) problems.push('declares no rust-version');
  else if (cmp(parse(declared), need) < 0) problems.push(`declares ${declared}, but ${by} needs ${need.join('.')}`);
  if (declared && cmp(parse(rustc), parse(declared)) < 0) problems.push(`the Rust here (${rustc}) is older than its rust-version ${declared}`);
  console.log(`${crate.name}: rust-version ${declared ?? '-'}, dependencies need ${need.join('.')} (${by})${problems.length ? ' — ' + problems.join('; ') : ''}`);
  if (problems.length) failed = true;
}
if (failed) {
  console.error('rust-version check failed: raise the crate\'s rust-version (Cargo.toml) to what its dependencies need');
  process.exit(1);
}
