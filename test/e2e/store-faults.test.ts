/**
 * `llmtap replay` of the demo (pcaps/demo, the README's quick start) into a database it cannot
 * write: on a tmpfs the test mounts that fills during the replay, an immutable (read-only)
 * file. Each time: one line when the fault starts, the summary, then a line naming the
 * database, the fault and what was not stored, one line per alert (with what was stored, the
 * nine alerts a replay into a writable database stores), and exit code 1. A disk already full
 * and a database locked by another connection when the replay starts stop it at once, naming
 * the database.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { applyConfigAllowlist } from '../../src/sensor/allowlist.js';
import { loadConfig } from '../../src/config.js';
import { Store } from '../../src/store/store.js';
import { ensureBuilt } from '../helpers/build-once.js';
import { repoRoot } from '../helpers/corpus.js';
import { faultsUnavailable, immutableCapableDir, mountTmpfs, setImmutable } from '../helpers/fs-faults.js';

const ci = process.env['CI'] === 'true';
const missing = faultsUnavailable();
if (ci && missing !== undefined) it('storage fault prerequisites', () => { throw new Error(missing); });

const demo = join(repoRoot, 'pcaps', 'demo');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

let work: string;
let config: string;

/** The demo's quick start into `db`. */
function replayDemo(db: string): Run {
  const r = spawnSync(process.execPath, ['bin/llmtap.js', 'replay', demo, '--config', config, '--edr', join(demo, 'edr', 'llmtap.ndjson'), '--db', db, '--format', 'json'],
    { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A database a sensor with this config started on before: migrated, the config allowlist in it, no alerts. */
function emptyDb(path: string): void {
  const store = Store.open(path);
  applyConfigAllowlist(loadConfig(config), store);
  store.close();
}

interface Baseline {
  alerts: string[];
  observations: number;
}
let baseline: Baseline;

/** What the replay says it could not store: the alert ids and the counts line. */
function lost(stderr: string): { head: string; alerts: string[] } {
  const head = stderr.split('\n').find((l) => l.includes('LLMTAP_ERR_STORE_FAULT')) ?? '';
  const alerts = [...stderr.matchAll(/^ {2}not stored: alert (al_[0-9a-f]+) /gm)].map((m) => m[1]!).sort();
  return { head, alerts };
}

describe.skipIf(missing !== undefined)('replay into a database that cannot take writes', () => {
  beforeAll(() => {
    ensureBuilt();
    work = mkdtempSync(join(tmpdir(), 'llmtap-faults-'));
    // the demo config with absolute paths and a short lock wait (the locked case)
    const raw = parseYaml(readFileSync(join(demo, 'llmtap.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
    raw['rules'] = { ...raw['rules'], tenant_dir: join(demo, 'rules') };
    raw['store'] = { ...raw['store'], busy_timeout_ms: 200 };
    config = join(work, 'demo.yaml');
    writeFileSync(config, toYaml(raw));
    // same-run baseline: the demo into a writable database
    const ok = replayDemo(join(work, 'ok.db'));
    expect(ok.status, ok.stderr).toBe(0);
    const summary = JSON.parse(ok.stdout) as { alerts: { id: string }[] };
    const db = new Database(join(work, 'ok.db'), { readonly: true });
    const n = (db.prepare('SELECT COUNT(*) AS n FROM observations').get() as { n: number }).n;
    db.close();
    baseline = { alerts: summary.alerts.map((a) => a.id).sort(), observations: n };
    expect(baseline.alerts).toHaveLength(9);
  }, 180_000);
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('a disk that fills during the replay: exit 1, the database named, every alert either stored or listed as not stored', () => {
    const fs = mountTmpfs(4096);
    try {
      const db = join(fs.dir, 'llmtap.db');
      emptyDb(db);
      fs.fill(64); // room to open the database (its 32 KiB -shm file), not for the demo's rows
      const r = replayDemo(db);
      expect(r.status).toBe(1);
      expect(r.stderr.split('\n')[0]).toBe(`llmtap replay: ${db}: database not writable (disk full, SQLITE_FULL): writes are queued and retried`);
      const l = lost(r.stderr);
      expect(l.head).toMatch(new RegExp(`^llmtap replay: LLMTAP_ERR_STORE_FAULT: ${db.replace(/[.]/g, '\\.')}: not stored \\(disk full: SQLITE_FULL: database or disk is full\\): ${l.alerts.length} alerts, \\d+ observations, \\d+ other writes$`));
      expect(l.alerts.length).toBeGreaterThan(0);
      // the summary (what is in the database) and the loss list together are the demo's alerts
      const stored = (JSON.parse(r.stdout) as { alerts: { id: string }[] }).alerts.map((a) => a.id);
      expect([...stored, ...l.alerts].sort()).toEqual(baseline.alerts);
      // what was committed is all there, the file intact
      const check = new Database(db, { readonly: true });
      expect((check.prepare('PRAGMA integrity_check').get() as { integrity_check: string }).integrity_check).toBe('ok');
      expect((check.prepare('SELECT id FROM alerts ORDER BY id').all() as { id: string }[]).map((x) => x.id)).toEqual([...stored].sort());
      check.close();
    } finally {
      fs.cleanup();
    }
  }, 120_000);

  it('a full disk before the replay: exit 1, the database named', () => {
    const fs = mountTmpfs(4096);
    try {
      const db = join(fs.dir, 'llmtap.db');
      emptyDb(db);
      fs.fill();
      const r = replayDemo(db);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`llmtap: LLMTAP_ERR_STORE_OPEN: cannot open store ${db}: disk I/O error\n`);
    } finally {
      fs.cleanup();
    }
  }, 120_000);

  it('a read-only database file: exit 1, the database and the nine alerts named', () => {
    const scratch = immutableCapableDir();
    const db = join(scratch.dir, 'llmtap.db');
    try {
      emptyDb(db);
      setImmutable(db, true);
      const r = replayDemo(db);
      expect(r.status).toBe(1);
      expect(r.stderr.split('\n')[0]).toBe(`llmtap replay: ${db}: database not writable (read-only database, SQLITE_READONLY): writes are queued and retried`);
      const l = lost(r.stderr);
      expect(l.head).toContain(`LLMTAP_ERR_STORE_FAULT: ${db}: not stored (read-only database: SQLITE_READONLY: attempt to write a readonly database): 9 alerts, ${baseline.observations} observations, `);
      expect(l.alerts).toEqual(baseline.alerts);
    } finally {
      setImmutable(db, false);
      scratch.cleanup();
    }
  }, 120_000);

  it('a database another connection holds the write lock of at the start: exit 1 naming it, nothing replayed, the holder’s write intact', () => {
    // (a lock taken while detection writes is queued and retried: test/store/faults.test.ts and
    // the live test; at the start the config allowlist cannot be applied, so nothing is replayed)
    const scratch = immutableCapableDir();
    const db = join(scratch.dir, 'llmtap.db');
    try {
      emptyDb(db);
      const other = new Database(db);
      other.exec('BEGIN EXCLUSIVE');
      other.prepare("INSERT INTO tenant_state (tenant, first_obs_us) VALUES ('holder', 1)").run();
      const r = replayDemo(db);
      other.exec('COMMIT');
      other.close();
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`llmtap replay: ${db}: database not writable (database locked by another connection, SQLITE_BUSY): writes are queued and retried\n`
        + `llmtap replay: LLMTAP_ERR_STORE_FAULT: ${db}: database not writable (database locked by another connection): database is locked: the config allowlist cannot be stored, nothing was replayed\n`);
      expect(r.stdout).toBe('');
      const check = new Database(db, { readonly: true });
      expect(check.prepare('SELECT tenant FROM tenant_state').all()).toEqual([{ tenant: 'holder' }]);
      expect((check.prepare('SELECT COUNT(*) AS n FROM alerts').get() as { n: number }).n).toBe(0);
      check.close();
    } finally {
      scratch.cleanup();
    }
  }, 120_000);
});
