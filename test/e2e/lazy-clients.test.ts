/**
 * A replay or a single-box sensor never loads the PostgreSQL or NATS clients: the hub store and
 * the fleet publisher are imported by the assembly only when the config asks for them
 * (`store.url` for `llmtap hub`, `fleet.servers`). Loading them cost a replay ~50 ms and 130
 * modules at start. Checked by recording every module a real `llmtap replay` of the demo
 * resolves (a resolve hook preloaded into the child); the same hook sees them load for the hub
 * store's module, so the check can fail.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/build-once.js';
import { repoRoot } from '../helpers/corpus.js';

let tmp: string;
let hook: string;

/** Packages (below node_modules) a node process resolved, from the hook's report on stderr. */
function packagesLoaded(args: string[]): string[] {
  const r = spawnSync(process.execPath, ['--require', hook, ...args], { cwd: repoRoot, encoding: 'utf8', maxBuffer: 1 << 26 });
  expect(r.status, r.stderr).toBe(0);
  const line = r.stderr.split('\n').find((l) => l.startsWith('loaded-packages '));
  expect(line, r.stderr).toBeDefined();
  return JSON.parse((line ?? '').slice('loaded-packages '.length)) as string[];
}

beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'llmtap-lazy-'));
  hook = join(tmp, 'hook.cjs');
  writeFileSync(hook, `
const { registerHooks } = require('node:module');
const seen = new Set();
registerHooks({ resolve(spec, ctx, next) { const r = next(spec, ctx); const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(r.url); if (m) seen.add(m[1]); return r; } });
process.on('exit', () => process.stderr.write('loaded-packages ' + JSON.stringify([...seen].sort()) + '\\n'));
`);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('clients load on use', () => {
  it('llmtap replay of the demo loads neither pg nor @nats-io', () => {
    const pkgs = packagesLoaded([join(repoRoot, 'bin/llmtap.js'), 'replay', join(repoRoot, 'pcaps/demo/demo.pcap.gz'), '--db', join(tmp, 'r.db'), '--format', 'json']);
    expect(pkgs).toContain('better-sqlite3');
    expect(pkgs.filter((p) => p === 'pg' || p.startsWith('@nats-io/'))).toEqual([]);
  });

  it('the hook sees them where they are used (the hub store and the fleet publisher)', () => {
    const pkgs = packagesLoaded(['-e', `Promise.all([import('./dist/store/pg/store.js'), import('./dist/fleet/sensor.js')])`]);
    expect(pkgs).toContain('pg');
    expect(pkgs.some((p) => p.startsWith('@nats-io/'))).toBe(true);
  });
});
