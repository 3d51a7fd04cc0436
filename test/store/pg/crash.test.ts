/**
 * A hub killed with SIGKILL mid-stream, against a real PostgreSQL 15: what it committed is there
 * with the numbers a SIEM already read; a new hub reloads detection's state from the database,
 * takes the whole input again (what was not acknowledged is delivered again) and ends with the
 * same alerts as one clean run, each committed change listed once.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Detector } from '../../../src/detect/detector.js';
import type { Alert } from '../../../src/records.js';
import { PgStore } from '../../../src/store/pg/store.js';
import { Store } from '../../../src/store/store.js';
import { TenantResolver } from '../../../src/tenants/resolver.js';
import { defaultTenantConfig } from '../../../src/tenants/schema.js';
import { alerts } from '../../detect/helpers.js';
import { usePostgres } from '../../helpers/postgres.js';
import { crashInput } from '../crash-input.js';
import { runWriterAndKill } from '../kill-writer.js';

const here = dirname(fileURLToPath(import.meta.url));
const TOTAL = 8_000;
const KILL_AFTER = 2_000;

const postgres = usePostgres();

function detector(store: Store | PgStore): Detector {
  return new Detector({ tenants: new TenantResolver([{ ...defaultTenantConfig(), warmup_days: 0 }]) }, { store });
}

/** Every change of the tenant, in order. */
async function changes(s: PgStore): Promise<Alert[]> {
  const out: Alert[] = [];
  for (;;) {
    const page = await s.listAlertChanges('default', { afterSeq: out.at(-1)?.seq ?? 0, limit: 1000 });
    out.push(...page);
    if (page.length < 1000) return out;
  }
}

const key = (a: Alert): string => `${a.id} ${a.heuristic} ${a.firstSeenUs} ${a.count}`;

/** Runs the writer child and SIGKILLs it once `KILL_AFTER` observations are committed. */
function runAndKill(url: string): Promise<{ committed: number; finished: boolean }> {
  return runWriterAndKill(join(here, 'crash-writer.ts'), url, TOTAL, KILL_AFTER);
}

describe.skipIf(!postgres.present)('PostgreSQL store: kill -9 and restart', () => {
  it('keeps what was committed, and a restarted hub taking the input again ends as one clean run', async () => {
    const url = await postgres.server.createDatabase('crash');
    const { committed, finished } = await runAndKill(url);
    expect(finished).toBe(false);
    expect(committed).toBeGreaterThanOrEqual(KILL_AFTER);
    expect(committed).toBeLessThan(TOTAL);

    // the committed prefix, computed independently (SQLite in memory)
    const ref = Store.open(':memory:', { flushIntervalMs: 0 });
    const dr = detector(ref);
    crashInput(TOTAL).slice(0, committed).forEach((o) => dr.onObservation(o));
    ref.flush();
    const expected = alerts(ref);
    ref.close();
    const hub = await PgStore.open(url, { flushIntervalMs: 0 });
    const before = await changes(hub);
    const got = new Map<string, Alert>();
    for (const c of before) got.set(c.id, c);
    expect(expected.length).toBeGreaterThan(50);
    for (const a of expected) {
      const b = got.get(a.id);
      expect(b && `${b.id} ${b.heuristic} ${b.firstSeenUs}`, a.id).toBe(`${a.id} ${a.heuristic} ${a.firstSeenUs}`);
      expect(b!.count).toBeGreaterThanOrEqual(a.count);
    }

    // the restarted hub gets everything again (nothing past the kill was acknowledged)
    const d = detector(hub);
    for (const o of crashInput(TOTAL)) d.onObservation(o);
    await hub.commit();
    const clean = Store.open(':memory:', { flushIntervalMs: 0 });
    const dc = detector(clean);
    crashInput(TOTAL).forEach((o) => dc.onObservation(o));
    clean.flush();
    const after = await changes(hub);
    const latest = new Map<string, Alert>();
    for (const c of after) latest.set(c.id, c);
    expect([...latest.values()].map(key).sort()).toEqual(alerts(clean).map(key).sort());
    // a SIEM that read before the crash goes on from its cursor: earlier changes kept their numbers
    expect(after.slice(0, before.length).map((c) => [c.seq, c.id, c.count])).toEqual(before.map((c) => [c.seq, c.id, c.count]));
    expect(after.map((c) => c.seq)).toEqual(after.map((_, i) => i + 1));
    expect((await hub.listObservations('default', { afterSeq: 0, limit: 10_000 })).length).toBe(clean.listObservations('default', { afterSeq: 0, limit: 10_000 }).length);
    clean.close();
    await hub.close();
  }, 240_000);
});
