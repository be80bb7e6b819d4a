#!/usr/bin/env node
'use strict';
// Builds the native addon with plain cargo and copies it to ./weir.node.
//   node build.js            release build (what `npm run build` does)
//   node build.js --debug    debug build (faster to compile; what run-tests.sh uses)
// CARGO_TARGET_DIR defaults to ~/.cache/weir/target, shared with the rest of the workspace.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const debug = process.argv.includes('--debug');
const profile = debug ? 'debug' : 'release';
const targetDir =
  process.env.CARGO_TARGET_DIR || path.join(os.homedir(), '.cache', 'weir', 'target');

const args = ['build', '-p', 'weir-node'];
if (!debug) args.push('--release');
const r = spawnSync('cargo', args, {
  cwd: __dirname,
  stdio: 'inherit',
  env: { ...process.env, CARGO_TARGET_DIR: targetDir },
});
if (r.error) {
  console.error(`build.js: cannot run cargo: ${r.error.message} (install Rust from https://rustup.rs)`);
  process.exit(1);
}
if (r.status !== 0) process.exit(r.status || 1);

const names = {
  linux: 'libweir_node.so',
  darwin: 'libweir_node.dylib',
  win32: 'weir_node.dll',
};
const lib = path.join(targetDir, profile, names[process.platform] || 'libweir_node.so');
const out = path.join(__dirname, 'weir.node');
// Copy to a temporary name and rename, so a running process never sees a half-written file.
fs.copyFileSync(lib, `${out}.tmp`);
fs.renameSync(`${out}.tmp`, out);
console.error(`build.js: ${lib} -> ${out}`);
