import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { Detector } from '../../src/detect/detector.js';
import { TenantResolver } from '../../src/tenants/resolver.js';
import { defaultTenantConfig } from '../../src/tenants/schema.js';
import type { Alert } from '../../src/records.js';
import { Store } from '../../src/store/store.js';
import { alerts } from '../detect/helpers.js';
import { crashInput } from './crash-input.js';
import { runWriterAndKill } from './kill-writer.js';

const here = dirname(fileURLToPath(import.meta.url));
const TOTAL = 16_000;
const KILL_AFTER = 3_000;

function replay(store: Store, upTo: number): void {
  const det = new Detector({ tenants: new TenantResolver([{ ...defaultTenantConfig(), warmup_days: 0 }]) }, { store });
  crashInput(TOTAL).slice(0, upTo).forEach((o) => det.onObservation(o));
  store.flush();
}

const key = (a: Alert): string => `${a.id} ${a.heuristic} ${a.firstSeenUs}`;

/** Runs the writer child and SIGKILLs it once `KILL_AFTER` observations are committed. */
function runAndKill(db: string): Promise<{ committed: number; finished: boolean }> {
  return runWriterAndKill(join(here, 'crash-writer.ts'), db, TOTAL, KILL_AFTER);
}

describe('durability', () => {
  it('kill -9 mid-replay: database opens clean, committed alerts intact, re-replay adds no duplicates', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmtap-crash-'));
    try {
      const db = join(dir, 'llmtap.db');
      const { committed, finished } = await runAndKill(db);
      expect(finished).toBe(false);
      expect(committed).toBeGreaterThanOrEqual(KILL_AFTER);
      expect(committed).toBeLessThan(TOTAL);

      const raw = new Database(db);
      expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
      raw.close();

      // What must be there: the state after the committed prefix, computed independently.
      const ref = Store.open(':memory:', { flushIntervalMs: 0 });
      replay(ref, committed);
      const expected = alerts(ref);
      ref.close();
      const crashed = Store.open(db, { flushIntervalMs: 0 });
      const got = new Map(alerts(crashed).map((a) => [a.id, a]));
      expect(expected.length).toBeGreaterThan(100);
      for (const a of expected) {
        const b = got.get(a.id);
        expect(b && key(b)).toBe(key(a));
        expect(b?.count ?? 0).toBeGreaterThanOrEqual(a.count);
      }

      // Re-replay the whole input on the crashed database: same result as one clean run.
      replay(crashed, TOTAL);
      const clean = Store.open(':memory:', { flushIntervalMs: 0 });
      replay(clean, TOTAL);
      const want = alerts(clean).map((a) => `${key(a)} ${a.count}`).sort();
      const have = alerts(crashed).map((a) => `${key(a)} ${a.count}`).sort();
      expect(have).toEqual(want);
      expect(new Set(have).size).toBe(have.length);
      expect(crashed.listObservations('default', { afterSeq: 0, limit: 10_000 }).length).toBe(10_000);
      clean.close();
      crashed.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
