#!/usr/bin/env node
// Builds the live-capture binding (native/build/Release/llmtap_capture.node) with node-gyp
// against the system libpcap. Run by `npm run build:native`.
//
// Without libpcap headers (or without a compiler) it prints what to install and exits 0, so
// `npm ci` works on machines that only replay files; `llmtap run` then reports that the
// binding is missing. Set LLMTAP_NATIVE_REQUIRED=1 to make a failed build fail the command.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const required = process.env.LLMTAP_NATIVE_REQUIRED === '1';

function giveUp(msg) {
  process.stderr.write(`llmtap native: ${msg}\n`);
  process.stderr.write('llmtap native: live capture (`llmtap run`) is unavailable; file replay works.\n');
  process.exit(required ? 1 : 0);
}

const headerDirs = ['/usr/include', '/usr/local/include', '/opt/homebrew/include'];
if (!headerDirs.some((d) => existsSync(join(d, 'pcap', 'pcap.h')))) {
  giveUp('libpcap headers not found (pcap/pcap.h). Install them, e.g. `apt-get install libpcap-dev` ' +
    'or `dnf install libpcap-devel`, then run `npm run build:native`.');
}

// node-gyp: the one npm runs scripts with, else the copy bundled with npm, else from PATH.
function findNodeGyp() {
  const fromEnv = process.env.npm_config_node_gyp;
  if (fromEnv && existsSync(fromEnv)) return [process.execPath, fromEnv];
  const req = createRequire(import.meta.url);
  for (const id of ['node-gyp/bin/node-gyp.js', 'npm/node_modules/node-gyp/bin/node-gyp.js']) {
    try { return [process.execPath, req.resolve(id)]; } catch { /* next */ }
  }
  const bundled = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules',
    'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(bundled)) return [process.execPath, bundled];
  return ['node-gyp'];
}

const args = ['rebuild', '--release'];
// Prefer the headers installed with this Node (distribution packages put them under
// <prefix>/include/node) so the build needs no download.
const prefix = join(dirname(process.execPath), '..');
if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);

const [cmd, ...pre] = findNodeGyp();
const r = spawnSync(cmd, [...pre, ...args], { cwd: here, stdio: 'inherit' });
if (r.error) giveUp(`node-gyp could not be started: ${r.error.message}`);
if (r.status !== 0) giveUp(`node-gyp failed with exit code ${r.status}`);
process.stdout.write('llmtap native: built build/Release/llmtap_capture.node\n');
