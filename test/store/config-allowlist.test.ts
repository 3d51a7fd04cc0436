/**
 * The config file's allowlist is the config's own set: re-applying a changed file (what SIGHUP
 * does) revokes entries removed from it and replaces changed ones, while entries added through
 * the API and approved candidates stay. An expiry in the past is a config error naming the
 * entry; `sha256` takes only SHA-256 and `sha1` only SHA-1, and a SHA-1 pin matches a binary's
 * SHA-1.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { applyConfigAllowlist } from '../../src/sensor/allowlist.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { Store } from '../../src/store/store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'llmtap-cfg-allow-'));
  dirs.push(d);
  return d;
}
/** Writes the config file with these allowlist lines and loads it like start-up and SIGHUP do. */
function configWith(path: string, lines: string[]): ReturnType<typeof loadConfig> {
  writeFileSync(path, lines.length === 0 ? 'allowlist: []\n' : ['allowlist:', ...lines.map((l) => `  - ${l}`), ''].join('\n'));
  return loadConfig(path);
}
const SHA256 = 'ab'.repeat(32);
const SHA1 = 'cd'.repeat(20);
const at = { deviceGroups: [], provider: 'OpenAI', category: 'api' as const, atMs: Date.now() };

describe('config allowlist on reload', () => {
  it('revokes removed entries, replaces changed ones, keeps API entries and unchanged ids', () => {
    const d = tmp();
    const cfgPath = join(d, 'llmtap.yaml');
    const store = Store.open(join(d, 'llmtap.db'), { flushIntervalMs: 0 });
    const first = configWith(cfgPath, [
      '{ tenant: acme, process: curl, provider: OpenAI, justification: "dev tool" }',
      '{ tenant: acme, process: python3, justification: "notebooks" }',
      '{ tenant: globex, process: node, justification: "build bots" }',
    ]);
    expect(applyConfigAllowlist(first, store)).toEqual({ added: 3, removed: 0, kept: 0 });
    const api = store.addAllowlist('acme', { processName: 'code', justification: 'IDE (API)' });
    const curlId = store.listAllowlist('acme').find((e) => e.processName === 'curl')?.id;
    // Applying the same file again changes nothing.
    expect(applyConfigAllowlist(loadConfig(cfgPath), store)).toEqual({ added: 0, removed: 0, kept: 3 });

    // The edited file: python3 removed, globex's node re-justified, a new entry for acme.
    const second = configWith(cfgPath, [
      '{ tenant: acme, process: curl, provider: OpenAI, justification: "dev tool" }',
      '{ tenant: globex, process: node, justification: "build bots (ticket 42)" }',
      '{ tenant: acme, process: ollama, category: local_llm, justification: "local runtime" }',
    ]);
    expect(applyConfigAllowlist(second, store)).toEqual({ added: 2, removed: 2, kept: 1 });
    const acme = store.listAllowlist('acme');
    expect(acme.map((e) => [e.processName, e.origin]).sort()).toEqual([['code', 'manual'], ['curl', 'config'], ['ollama', 'config']]);
    expect(acme.find((e) => e.processName === 'curl')?.id).toBe(curlId);
    expect(acme.find((e) => e.processName === 'code')?.id).toBe(api.id);
    expect(store.listAllowlist('globex').map((e) => e.justification)).toEqual(['build bots (ticket 42)']);
    // The revoked entry no longer allows anything; the API entry still does.
    expect(store.isAllowlisted('acme', { ...at, processName: 'python3' })).toBeUndefined();
    expect(store.isAllowlisted('acme', { ...at, processName: 'code' })?.id).toBe(api.id);

    // An empty allowlist revokes every config entry and nothing else.
    writeFileSync(cfgPath, 'store: { retention_hours: 72 }\n');
    expect(applyConfigAllowlist(loadConfig(cfgPath), store)).toEqual({ added: 0, removed: 3, kept: 0 });
    expect(store.listAllowlist('acme').map((e) => e.processName)).toEqual(['code']);
    expect(store.listAllowlist('globex')).toEqual([]);
    store.close();
  });

  it('adopts entries an older llmtap stored from the config as manual, so they can be revoked', () => {
    const d = tmp();
    const dbPath = join(d, 'llmtap.db');
    const cfgPath = join(d, 'llmtap.yaml');
    const old = Store.open(dbPath, { flushIntervalMs: 0 });
    old.close();
    // What the former start-up wrote for `{ tenant: acme, process: curl, justification: dev tool }`.
    const raw = new Database(dbPath);
    raw.prepare("INSERT INTO allowlist (tenant, process_name, justification, created_at_ms, origin) VALUES ('acme', 'curl', 'dev tool', 1, 'manual')").run();
    raw.close();
    const store = Store.open(dbPath, { flushIntervalMs: 0 });
    expect(applyConfigAllowlist(configWith(cfgPath, ['{ tenant: acme, process: curl, justification: "dev tool" }']), store)).toEqual({ added: 0, removed: 0, kept: 1 });
    expect(store.listAllowlist('acme').map((e) => e.origin)).toEqual(['config']);
    expect(applyConfigAllowlist(configWith(cfgPath, []), store)).toEqual({ added: 0, removed: 1, kept: 0 });
    expect(store.listAllowlist('acme')).toEqual([]);
    store.close();
  });
});

describe('config allowlist validation', () => {
  const d = (): string => join(tmp(), 'llmtap.yaml');
  it('an expiry in the past is a config error naming the entry', () => {
    const p = d();
    expect(() => configWith(p, ['{ process: curl, justification: "x" }', '{ process: old-tool, expires: 2024-01-31, justification: "trial" }'])).toThrow(ConfigError);
    expect(() => configWith(p, ['{ process: old-tool, expires: 2024-01-31, justification: "trial" }'])).toThrow(
      `${p}: allowlist[0] (old-tool).expires: 2024-01-31 is in the past; remove the entry or give a later date`,
    );
    expect(() => configWith(p, ['{ process: x, expires: "next tuesday", justification: "y" }'])).toThrow(/allowlist\[0\] \(x\)\.expires: not an ISO 8601 date/);
  });

  it('a future expiry is kept and ends the entry at that time', () => {
    const p = d();
    const cfg = configWith(p, ['{ tenant: acme, process: trial-tool, expires: "2099-06-30T18:00:00Z", justification: "trial" }']);
    const store = Store.open(':memory:', { flushIntervalMs: 0 });
    applyConfigAllowlist(cfg, store);
    const until = Date.parse('2099-06-30T18:00:00Z');
    expect(store.listAllowlist('acme')[0]?.expiresAtMs).toBe(until);
    expect(store.isAllowlisted('acme', { ...at, processName: 'trial-tool', atMs: until - 1 })).toBeDefined();
    expect(store.isAllowlisted('acme', { ...at, processName: 'trial-tool', atMs: until })).toBeUndefined();
    store.close();
  });

  it('sha256 takes only a SHA-256, sha1 only a SHA-1, not both', () => {
    const p = d();
    expect(() => configWith(p, [`{ process: a, sha256: ${SHA1}, justification: "x" }`])).toThrow(/allowlist\/0\/sha256|allowlist\.0\.sha256: must match pattern/);
    expect(() => configWith(p, [`{ process: a, sha1: ${SHA256}, justification: "x" }`])).toThrow(/allowlist\.0\.sha1: must match pattern/);
    expect(() => configWith(p, [`{ process: a, sha256: ${SHA256}, sha1: ${SHA1}, justification: "x" }`])).toThrow(/allowlist\[0\] \(a\): give sha256 or sha1, not both/);
    expect(configWith(p, [`{ process: a, sha256: ${SHA256.toUpperCase()}, justification: "x" }`]).allowlist[0]?.sha256).toBe(SHA256.toUpperCase());
  });

  it('a SHA-1 pin matches the binary’s SHA-1 and never its SHA-256', () => {
    const store = Store.open(':memory:', { flushIntervalMs: 0 });
    applyConfigAllowlist(configWith(d(), [`{ tenant: acme, process: agent.exe, sha1: ${SHA1.toUpperCase()}, justification: "Defender feed" }`]), store);
    expect(store.listAllowlist('acme')[0]?.binaryHash).toBe(SHA1);
    // A Defender record: SHA-1 only.
    expect(store.isAllowlisted('acme', { ...at, processName: 'agent.exe', binaryHash: SHA1, sha1: SHA1 })).toBeDefined();
    // A feed with both: the SHA-256 is the identity, the SHA-1 still matches the pin.
    expect(store.isAllowlisted('acme', { ...at, processName: 'agent.exe', binaryHash: SHA256, sha1: SHA1 })).toBeDefined();
    // Another binary of the same name.
    expect(store.isAllowlisted('acme', { ...at, processName: 'agent.exe', binaryHash: 'ee'.repeat(32), sha1: 'ff'.repeat(20) })).toBeUndefined();
    expect(store.isAllowlisted('acme', { ...at, processName: 'agent.exe' })).toBeUndefined();
    store.close();
  });
});
