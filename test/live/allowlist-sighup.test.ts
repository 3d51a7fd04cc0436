/**
 * `llmtap run` and SIGHUP on the config allowlist, as an operator does it: an entry removed
 * from the file is revoked from the running sensor's database, an entry added elsewhere (the
 * API's, origin `manual`) stays, and a file with an entry already expired is refused with one
 * clear line while the running config (and its entries) stay.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNative } from '../../src/source/live.js';
import { runCli } from './cli.js';
import { createVethNs, netnsUnavailable, type VethNs } from './netns.js';

const missing = [netnsUnavailable(), loadNative() instanceof Error ? 'native binding not built (npm run build:native)' : undefined].filter(
  (x): x is string => x !== undefined,
);
if (process.env['CI'] === 'true' && missing.length > 0) it('live allowlist prerequisites', () => { throw new Error(missing.join('; ')); });

describe.skipIf(missing.length > 0)('llmtap run: SIGHUP replaces the config allowlist', () => {
  let env: VethNs;
  let dir: string;
  beforeAll(() => {
    env = createVethNs('lta');
    dir = mkdtempSync(join(tmpdir(), 'llmtap-allow-hup-'));
  });
  afterAll(() => {
    env?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const rows = (db: string): string[] => {
    const c = new Database(db, { readonly: true });
    try {
      return (c.prepare('SELECT tenant, process_name AS p, origin FROM allowlist ORDER BY tenant, process_name').all() as Array<{ tenant: string; p: string; origin: string }>).map(
        (r) => `${r.tenant}/${r.p}/${r.origin}`,
      );
    } finally {
      c.close();
    }
  };
  const count = (text: string, needle: string): number => text.split(needle).length - 1;

  it('revokes the removed entry, keeps the API entry, refuses an expired one', async () => {
    const cfg = join(dir, 'llmtap.yaml');
    const db = join(dir, 'run.db');
    const write = (entries: string[]): void =>
      writeFileSync(cfg, ['allowlist:', ...entries.map((e) => `  - ${e}`), ''].join('\n'));
    write(['{ tenant: acme, process: curl, justification: "dev tool" }', '{ tenant: acme, process: python3, justification: "notebooks" }']);
    const run = runCli(['run', '--iface', env.capIf, '--no-api', '--config', cfg, '--db', db], env);
    expect(await run.waitFor('"capturing"', 60_000)).toBe(true);
    expect(rows(db)).toEqual(['acme/curl/config', 'acme/python3/config']);
    // An entry an analyst added through the API meanwhile.
    const w = new Database(db);
    w.pragma('busy_timeout = 5000');
    w.prepare("INSERT INTO allowlist (tenant, process_name, justification, created_at_ms, origin) VALUES ('acme', 'code', 'IDE', 1, 'manual')").run();
    w.close();

    write(['{ tenant: acme, process: curl, justification: "dev tool" }']);
    run.kill('SIGHUP');
    expect(await run.waitFor('SIGHUP: rules, tenants and allowlist reloaded', 20_000)).toBe(true);
    expect(run.stderr()).toMatch(/"added":0,"removed":1,"kept":1[^\n]*SIGHUP: config allowlist applied/);
    expect(rows(db)).toEqual(['acme/code/manual', 'acme/curl/config']);

    write(['{ tenant: acme, process: curl, justification: "dev tool" }', '{ tenant: acme, process: trial, expires: 2024-01-31, justification: "trial" }']);
    run.kill('SIGHUP');
    expect(await run.waitFor('SIGHUP: config invalid, keeping the running one', 20_000)).toBe(true);
    expect(run.stderr()).toContain('allowlist[1] (trial).expires: 2024-01-31 is in the past; remove the entry or give a later date');
    expect(count(run.stderr(), 'SIGHUP: rules, tenants and allowlist reloaded')).toBe(1);
    expect(rows(db)).toEqual(['acme/code/manual', 'acme/curl/config']);

    run.kill('SIGTERM');
    const r = await run.done;
    expect(r.code).toBe(0);
  }, 120_000);
});
