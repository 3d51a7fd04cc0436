import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { Store } from '../../src/store/store.js';
import { alerts, obs, rig } from '../detect/helpers.js';

/** Column names that would mean content, command lines or identities are persisted. */
const FORBIDDEN = /(command|cmd|argv|args|prompt|response|payload(?!_entropy)|body|content|user|sid$|^sid|path|message)/i;

describe('privacy', () => {
  it('the schema has no column for command lines, payload, prompts, paths, users or SIDs', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'llmtap-priv-')), 'x.db');
    Store.open(path).close();
    const db = new Database(path, { readonly: true });
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name);
    expect(tables).toContain('alerts');
    expect(tables).toContain('observations');
    const cols: string[] = [];
    for (const t of tables) for (const c of db.pragma(`table_info(${t})`) as { name: string }[]) cols.push(`${t}.${c.name}`);
    expect(cols.length).toBeGreaterThan(50);
    expect(cols.filter((c) => FORBIDDEN.test(c.split('.')[1] ?? ''))).toEqual([]);
    db.close();
    rmSync(join(path, '..'), { recursive: true, force: true });
  });

  it('process paths (even redacted) and raw flow fields do not reach the database', () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmtap-priv-'));
    const path = join(dir, 'x.db');
    const { store, det } = rig(undefined, [], path);
    for (let i = 0; i < 6; i++) det.onObservation(obs({ id: `p${i}`, atS: i * 60, proc: 'agent.exe' }));
    store.flush();
    expect(alerts(store).length).toBeGreaterThan(0);
    const raw = ['', '-wal'].map((s) => path + s).filter(existsSync).map((p) => readFileSync(p).toString('latin1')).join('');
    expect(raw).toContain('agent.exe');
    expect(raw).not.toContain('AppData');
    expect(raw).not.toContain('processPath');
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
