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
  /**
   * A store that keeps where each output stands (the hub's PostgreSQL): per tenant, the seq of
   * the last change the output (by name) delivered. An output resumes there after a restart.
   */
  outputPositions?(output: string): Answer<ReadonlyMap<string, number>>;
  saveOutputPositions?(output: string, positions: ReadonlyMap<string, number>): Answer<void>;
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

interface Entry {
  key: string;
  out: PushOutput;
  /** Per tenant, the seq of the last change queued on this output. */
  queued: Map<string, number>;
  /** Its stored position (a store that keeps them), per tenant. */
  stored: ReadonlyMap<string, number>;
  /** What was last saved of `out.done`, per tenant. */
  saved: Map<string, number>;
}

export class Outputs {
  private list: Entry[] = [];
  /** Per tenant, the seq of the last change read: where an output added later starts. */
  private readonly cursors = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  /** The poll under way while the store answers later. */
  private polling: Promise<number> | undefined;
  private saveFailed = false;

  constructor(
    private readonly store: ChangeSource,
    private readonly ctx: FormatContext,
    private readonly resolvePath: PathResolver,
    private readonly log?: OutputLog,
  ) {}

  /**
   * Tenants whose changes are followed; a tenant seen for the first time starts at its newest
   * change (an output with a stored position for it: there). Over a store that answers later,
   * the returned promise resolves once every new tenant's start is known.
   */
  follow(tenants: readonly string[]): Answer<void> {
    const store = this.store;
    const cursors = this.cursors;
    const list = (): Entry[] => this.list;
    return drive((function* (): Generator<Answer<number>, void, number> {
      for (const t of tenants) {
        if (cursors.has(t)) continue;
        const last = yield store.lastAlertSeq(t);
        if (cursors.has(t)) continue;
        cursors.set(t, last);
        for (const e of list()) if (!e.queued.has(t)) e.queued.set(t, Math.min(e.stored.get(t) ?? last, last));
      }
    })());
  }

  /**
   * Applies an outputs list. Builds every new output first, so a bad one (e.g. a missing
   * secret file) throws before anything changes; then closes the removed ones (their position
   * saved). A new output starts at its stored position, else at the changes read so far.
   */
  async configure(cfgs: readonly OutputConfig[]): Promise<void> {
    const keyOf = (c: OutputConfig, i: number): string => JSON.stringify({ ...c, name: c.name ?? `${c.type}-${i}` });
    const old = new Map(this.list.map((e) => [e.key, e]));
    const next: Entry[] = [];
    const created: Entry[] = [];
    try {
      cfgs.forEach((c, i) => {
        const key = keyOf(c, i);
        const kept = old.get(key);
        if (kept !== undefined) {
          old.delete(key);
          kept.out.reopen();
          next.push(kept);
        } else {
          const out = createOutput(c, i, this.ctx, this.resolvePath, this.log);
          const e: Entry = { key, out, queued: new Map(), stored: new Map(), saved: new Map() };
          created.push(e);
          next.push(e);
        }
      });
      for (const e of created) {
        const stored = this.store.outputPositions === undefined ? undefined : await this.store.outputPositions(e.out.name);
        if (stored !== undefined) e.stored = stored;
        for (const [t, seq] of this.cursors) e.queued.set(t, Math.min(e.stored.get(t) ?? seq, seq));
        for (const [t, seq] of e.stored) e.saved.set(t, seq);
      }
    } catch (e) {
      await Promise.all(created.map((o) => o.out.close()));
      throw e;
    }
    this.list = next;
    const removed = [...old.values()];
    await Promise.all(removed.map((e) => e.out.close()));
    await this.savePositions(removed);
  }

  get size(): number {
    return this.list.length;
  }

  /**
   * Reads new alert changes and queues them on every output (each change once per output, in
   * seq order), then saves where the outputs stand (a store that keeps it); never throws (nor
   * rejects). Returns how many changes it queued — now when the store answers now, else a
   * promise. A poll asked for while one is under way runs after it.
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

  private *pollSteps(): Generator<Answer<unknown>, number, unknown> {
    let n = 0;
    for (const tenant of [...this.cursors.keys()]) {
      // from the output furthest behind (all at the same place unless one resumed from a stored position)
      let from = Number.POSITIVE_INFINITY;
      for (const e of this.list) from = Math.min(from, e.queued.get(tenant) ?? Number.POSITIVE_INFINITY);
      if (from === Number.POSITIVE_INFINITY) continue;
      try {
        for (;;) {
          const page = (yield this.store.listAlertChanges(tenant, { afterSeq: from, limit: PAGE })) as Alert[];
          for (const a of page) {
            const seq = a.seq ?? from;
            for (const e of this.list) {
              if (seq <= (e.queued.get(tenant) ?? Number.POSITIVE_INFINITY)) continue;
              e.out.enqueue(a);
              e.queued.set(tenant, seq);
            }
            from = seq;
            if (seq > (this.cursors.get(tenant) ?? 0)) this.cursors.set(tenant, seq);
            n++;
          }
          if (page.length < PAGE) break;
        }
      } catch (e) {
        this.log?.warn({ tenant, err: (e as Error).message }, 'outputs: reading alert changes failed');
      }
    }
    if (this.store.saveOutputPositions !== undefined) yield* this.saveSteps(this.list);
    return n;
  }

  /** Saves the positions that moved (a store that keeps them); a failure is logged once and tried again. */
  private *saveSteps(entries: readonly Entry[]): Generator<Answer<unknown>, void, unknown> {
    const save = this.store.saveOutputPositions?.bind(this.store);
    if (save === undefined) return;
    for (const e of entries) {
      const moved = new Map<string, number>();
      for (const [t, seq] of e.out.done) if (seq > (e.saved.get(t) ?? -1)) moved.set(t, seq);
      if (moved.size === 0) continue;
      try {
        yield save(e.out.name, moved);
        for (const [t, seq] of moved) e.saved.set(t, seq);
        if (this.saveFailed) this.log?.warn({ output: e.out.name }, 'outputs: positions saved again');
        this.saveFailed = false;
      } catch (err) {
        if (!this.saveFailed) this.log?.warn({ output: e.out.name, err: (err as Error).message }, 'outputs: saving where the output stands failed; will retry');
        this.saveFailed = true;
      }
    }
  }

  private savePositions(entries: readonly Entry[]): Answer<void> {
    return drive(this.saveSteps(entries));
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

  /** Where each output stands, per tenant: the last change delivered or dropped (what `close` saves). */
  positions(): Map<string, Map<string, number>> {
    return new Map(this.list.map((e) => [e.out.name, new Map(e.out.done)]));
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
    // what each output delivered; what it still held was not, and comes again after a restart
    await this.savePositions(this.list);
    this.list = [];
  }
}
