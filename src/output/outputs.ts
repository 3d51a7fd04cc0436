/**
 * The set of push outputs of a run. It follows the store's alert change log (per tenant, by
 * change seq, like a SIEM cursor) and hands every new change to each output's queue. Only
 * changes written after the outputs started are pushed (a restart does not resend history:
 * a SIEM that needs it reads `GET /v1/alerts`). `configure` applies an `outputs:` list: outputs
 * whose settings did not change keep their queue (file outputs reopen their file, for
 * logrotate), removed ones are closed, new ones start.
 */
import type { OutputConfig } from '../config.js';
import type { Alert } from '../records.js';
import type { FormatContext } from './format.js';
import type { OutputCounters } from '../metrics.js';
import { createOutput, type OutputLog, type PathResolver, type PushOutput } from './push.js';

/** What the outputs read from the store. */
export interface ChangeSource {
  listAlertChanges(tenant: string, q: { afterSeq: number; limit: number }): Alert[];
  lastAlertSeq(tenant: string): number;
}

const PAGE = 1000;

export class Outputs {
  private list: { key: string; out: PushOutput }[] = [];
  private readonly cursors = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: ChangeSource,
    private readonly ctx: FormatContext,
    private readonly resolvePath: PathResolver,
    private readonly log?: OutputLog,
  ) {}

  /** Tenants whose changes are followed; a tenant seen for the first time starts at its newest change. */
  follow(tenants: readonly string[]): void {
    for (const t of tenants) if (!this.cursors.has(t)) this.cursors.set(t, this.store.lastAlertSeq(t));
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

  /** Reads new alert changes and queues them on every output; never throws. */
  poll(): number {
    if (this.list.length === 0) return 0;
    let n = 0;
    for (const [tenant, after] of this.cursors) {
      let cursor = after;
      try {
        for (;;) {
          const page = this.store.listAlertChanges(tenant, { afterSeq: cursor, limit: PAGE });
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
    this.timer = setInterval(() => this.poll(), everyMs);
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
    await Promise.all(this.list.map((e) => e.out.close()));
    this.list = [];
  }
}
