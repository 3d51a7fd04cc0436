/**
 * SIEM poller over a real socket: while a writer creates and updates alerts through the real
 * Store (dedup bumps and status changes, interleaved on the event loop with the server), a
 * client follows `next_cursor` over HTTP until the writer is done and the feed is drained.
 * The (alert id, seq) pairs it saw must equal the store's change log: none skipped, none twice.
 */
import { setImmediate as tick } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert } from '../../src/records.js';
import { TOKENS, makeHarness } from './harness.js';
import type { Harness } from './harness.js';
import { makeAlert } from './seed.js';

const ALERTS = 60;
const UPDATES = 400;

let h: Harness;
let base: string;
beforeAll(async () => {
  h = await makeHarness();
  base = await h.app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await h.close();
});

/** Deterministic PRNG so a failure reproduces. */
function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x * 1664525 + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

async function writer(): Promise<void> {
  const rand = rng(7);
  const live: Alert[] = [];
  for (let i = 0; i < ALERTS + UPDATES; i++) {
    const tenant = rand() < 0.8 ? 't1' : 't2';
    if (i < ALERTS || live.length === 0) {
      live.push(h.store.upsertAlert(makeAlert(tenant, rand() < 0.5 ? 'h1' : 'beacon', 'medium')));
    } else {
      const k = Math.floor(rand() * live.length);
      const a = live[k]!;
      if (rand() < 0.2) {
        const s = h.store.setAlertStatus(a.tenant, a.id, a.status === 'open' ? 'acknowledged' : 'open');
        if (s !== undefined) live[k] = s;
      } else {
        live[k] = h.store.upsertAlert({ ...a, count: a.count + 1, lastSeenUs: a.lastSeenUs + 1_000_000 });
      }
    }
    // Detect's writes batch in an open transaction; let the server and the poller run in between.
    if (i % 5 === 0) await tick();
  }
  h.store.flush();
}

/** Pages that brought items while the writer was still writing (proves the overlap). */
const duringWrites = { t1: 0, t2: 0 };

async function poll(tenant: 't1' | 't2', done: () => boolean): Promise<Array<[string, number]>> {
  const seen: Array<[string, number]> = [];
  let cursor = '';
  for (let round = 0; round < 10_000; round++) {
    const writerDone = done();
    const res = await fetch(`${base}/v1/alerts?limit=7&cursor=${cursor}`, { headers: { authorization: `Bearer ${TOKENS[tenant]}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { items: Array<{ id: string; seq: number }>; next_cursor: string; has_more: boolean };
    for (const a of body.items) seen.push([a.id, a.seq]);
    if (!done() && body.items.length > 0) duringWrites[tenant]++;
    cursor = body.next_cursor;
    // Stop only after a poll that started once the writer had finished came back empty-handed.
    if (writerDone && !body.has_more) return seen;
  }
  throw new Error('poller did not drain');
}

describe('SIEM poller', () => {
  it('sees every alert change exactly once while alerts are written and updated', async () => {
    let finished = false;
    const w = writer().then(() => {
      finished = true;
    });
    const [p1, p2] = await Promise.all([poll('t1', () => finished), poll('t2', () => finished), w]);
    for (const [tenant, seen] of [['t1', p1], ['t2', p2]] as const) {
      const log = h.store.listAlertChanges(tenant, { afterSeq: 0, limit: 10_000 }).map((a) => [a.id, a.seq] as [string, number]);
      expect(log.length).toBeGreaterThan(tenant === 't1' ? 300 : 20);
      expect(seen).toEqual(log);
      const keys = new Set(seen.map(([id, seq]) => `${id}@${seq}`));
      expect(keys.size).toBe(seen.length);
      expect(seen.every(([id]) => id.startsWith(`${tenant}-`))).toBe(true);
    }
    expect(duringWrites.t1).toBeGreaterThan(5);
  });
});
