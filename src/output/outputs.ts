/**
 * The set of push outputs of a run. It follows the store's alert change log (per tenant, by
 * change seq, like a SIEM cursor) and hands every new change to each output's queue. Only
 * changes written after the outputs started are pushed (a restart does not resend history:
 * a SIEM that needs it reads `GET /v1/alerts`). `configure` applies an `outputs:` list: outputs
 * whose settings did not change keep their queue (file outputs reopen their file, for
 * logrotate), removed ones are closed, new ones start.
 *
 * The store may answer synchronously (SQLite) or with a promise (PostgreSQL, the fleet hub's
 * store): a poll then runs on as each answer comes, and the next poll starts only when it
 * has ended, so every change is queued once and in seq order either way.
 */
import type { OutputConfig } from '../config.js';
import type { Alert } from '../records.js';
import type { FormatContext } from './format.js';
import type { OutputCounters } from '../metrics.js';
import { createOutput, type OutputLog, type PathResolver, type PushOutput } from './push.js';

/** An answer now (SQLite) or later (PostgreSQL). */
export type Answer<T> = T | Promise<T>;

/** What the outputs read from the store. */
export interface ChangeSource {
  listAlertChanges(tenant: string, q: { afterSeq: number; limit: number }): Answer<Alert[]>;
  lastAlertSeq(tenant: string): Answer<number>;
}

function isPromise<T>(v: Answer<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/**
 * Runs a generator that yields the store's answers: synchronously while they come now, on
 * from the first that is a promise (awaited; a rejection is thrown into the generator).
 */
function drive<T, R>(g: Generator<Answer<T>, R, T>): Answer<R> {
  let r = g.next();
  while (r.done !== true) {
    const v = r.value;
    if (isPromise(v)) return settle(g, v);
    r = g.next(v);
  }
  return r.value;
}

async function settle<T, R>(g: Generator<Answer<T>, R, T>, first: Promise<T>): Promise<R> {
  let pending: Answer<T> = first;
  for (;;) {
    let r: IteratorResult<Answer<T>, R>;
    try {
      r = g.next(await pending);
    } catch (e) {
      r = g.throw(e);
    }
    if (r.done === true) return r.value;
    pending = r.value;
  }
}

const PAGE = 1000;

export class Outputs {
  private list: { key: string; out: PushOutput }[] = [];
  private readonly cursors = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  /** The poll under way while the store answers later. */
  private polling: Promise<number> | undefined;

  constructor(
    private readonly store: ChangeSource,
    private readonly ctx: FormatContext,
    private readonly resolvePath: PathResolver,
    private readonly log?: OutputLog,
  ) {}

  /**
   * Tenants whose changes are followed; a tenant seen for the first time starts at its newest
   * change. Over a store that answers later, the returned promise resolves once every new
   * tenant's start is known (it is followed from then on).
   */
  follow(tenants: readonly string[]): Answer<void> {
    const store = this.store;
    const cursors = this.cursors;
    return drive((function* (): Generator<Answer<number>, void, number> {
      for (const t of tenants) {
        if (cursors.has(t)) continue;
        const last = yield store.lastAlertSeq(t);
        if (!cursors.has(t)) cursors.set(t, last);
      }
    })());
  }

  /**
   * Applies an outputs list. Builds every new output first, so a bad one (e.g. a missing
   * secret file) throws before anything changes; then closes the removed ones.
   */
  async configure(cfgs: readonly OutputConfig[]): Promise<void> {
    const keyOf = (c: OutputConfig, i: number): string => JSON.stringify({ ...c, name: c.name ?? `${c.type}-${i}` });
    const old = new Map(this.list.map((e) => [e.key, e.out]));
    const next: { key: string; out: PushOutput }[] = [];
    const created: PushOutput[] = [];
    try {
      cfgs.forEach((c, i) => {
        const key = keyOf(c, i);
        const kept = old.get(key);
        if (kept !== undefined) {
          old.delete(key);
          kept.reopen();
          next.push({ key, out: kept });
        } else {
          const out = createOutput(c, i, this.ctx, this.resolvePath, this.log);
          created.push(out);
          next.push({ key, out });
        }
      });
    } catch (e) {
      await Promise.all(created.map((o) => o.close()));
      throw e;
    }
    this.list = next;
    await Promise.all([...old.values()].map((o) => o.close()));
  }

  get size(): number {
    return this.list.length;
  }

  /**
   * Reads new alert changes and queues them on every output; never throws (nor rejects). Returns
   * how many changes it queued — now when the store answers now, else a promise. A poll asked
   * for while one is under way runs after it.
   */
  poll(): Answer<number> {
    if (this.list.length === 0) return 0;
    if (this.polling !== undefined) return this.polling.then(() => this.poll());
    const n = drive(this.pollSteps());
    if (!isPromise(n)) return n;
    const p = n.finally(() => {
      if (this.polling === p) this.polling = undefined;
    });
    this.polling = p;
    return p;
  }

  private *pollSteps(): Generator<Answer<Alert[]>, number, Alert[]> {
    let n = 0;
    for (const [tenant, after] of this.cursors) {
      let cursor = after;
      try {
        for (;;) {
          const page = yield this.store.listAlertChanges(tenant, { afterSeq: cursor, limit: PAGE });
          for (const a of page) {
            for (const { out } of this.list) out.enqueue(a);
            cursor = a.seq ?? cursor;
            n++;
          }
          if (page.length < PAGE) break;
        }
      } catch (e) {
        this.log?.warn({ tenant, err: (e as Error).message }, 'outputs: reading alert changes failed');
      }
      this.cursors.set(tenant, cursor);
    }
    return n;
  }

  /** Polls every `everyMs` until close. */
  start(everyMs = 1000): void {
    if (this.timer !== undefined) return;
    // a tick while the last poll still waits for the store is skipped
    this.timer = setInterval(() => {
      if (this.polling === undefined) void this.poll();
    }, everyMs);
    this.timer.unref();
  }

  /** Waits until every queue is empty, at most `timeoutMs`; true when all delivered. */
  async drain(timeoutMs: number): Promise<boolean> {
    const r = await Promise.all(this.list.map((e) => e.out.drain(timeoutMs)));
    return r.every(Boolean);
  }

  counters(): OutputCounters[] {
    return this.list.map((e) => e.out.counters());
  }

  outputs(): readonly PushOutput[] {
    return this.list.map((e) => e.out);
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.polling;
    await Promise.all(this.list.map((e) => e.out.close()));
    this.list = [];
  }
}
