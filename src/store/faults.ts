/**
 * Storage faults: what counts as one, and the bounded queue that keeps detect's writes while the
 * database cannot take them.
 *
 * A fault is an SQLite error that says the database, not the data, is the problem: the disk is
 * full (SQLITE_FULL), an I/O error (SQLITE_IOERR_*), a read-only file or file system
 * (SQLITE_READONLY_*), another connection holding the write lock (SQLITE_BUSY, SQLITE_LOCKED) or
 * a file that cannot be opened any more (SQLITE_CANTOPEN). Anything else (a constraint, a bug)
 * is not a fault and is thrown as before.
 *
 * The queue holds writes as replayable operations in two lanes: `alert` (alert upserts and the
 * contributions that count observations toward them) and `other` (observations, inventory,
 * lineage, candidates, warm-up clock). When full, the oldest `other` write is dropped first; an
 * alert is dropped only when no other write is left. Alert and observation upserts carry their
 * full state, so a repeat of the same id replaces the queued one in place (the queue holds one
 * entry per alert, not one per update). Every operation is O(1) amortized: lanes are arrays read
 * from a head index and compacted when half consumed.
 */
import type { Alert } from '../records.js';

export type FaultReason = 'full' | 'io' | 'readonly' | 'busy' | 'cantopen';

export type WriteKind = 'alert' | 'observation' | 'other';

/** The fault an error stands for, or undefined when it is not a storage fault. */
export function faultReasonOf(err: unknown): FaultReason | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
  if (code === 'SQLITE_FULL') return 'full';
  if (code.startsWith('SQLITE_IOERR')) return 'io';
  if (code.startsWith('SQLITE_READONLY')) return 'readonly';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'busy';
  if (code.startsWith('SQLITE_CANTOPEN')) return 'cantopen';
  return undefined;
}

/** Human words for a reason (log lines, readiness, replay's loss report). */
export const FAULT_TEXT: Record<FaultReason, string> = {
  full: 'disk full',
  io: 'I/O error',
  readonly: 'read-only database',
  busy: 'database locked by another connection',
  cantopen: 'database file cannot be opened',
};

/** One write detect made, replayable against the database. */
export interface QueuedWrite {
  kind: WriteKind;
  /** Same key: the later write replaces the earlier one in place (alerts, observations, contributions). */
  key: string | undefined;
  run: () => void;
  /** The alert an alert upsert writes (for the loss report) and its dedup key. */
  alert?: Alert;
  dedupKey?: string;
}

class Lane {
  items: (QueuedWrite | undefined)[] = [];
  head = 0;
  get size(): number {
    return this.items.length - this.head;
  }
  push(w: QueuedWrite): void {
    this.items.push(w);
  }
  shift(): QueuedWrite | undefined {
    if (this.head >= this.items.length) return undefined;
    const w = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return w;
  }
  at(i: number): QueuedWrite | undefined {
    return this.items[this.head + i];
  }
}

export interface QueueCounts {
  alert: number;
  observation: number;
  other: number;
}

const zero = (): QueueCounts => ({ alert: 0, observation: 0, other: 0 });

export class WriteQueue {
  private readonly alerts = new Lane();
  private readonly others = new Lane();
  private readonly byKey = new Map<string, QueuedWrite>();
  /** Queued alerts by tenant\0id and by tenant\0dedupKey (detect's reads see them). */
  private readonly alertById = new Map<string, Alert>();
  private readonly alertByKey = new Map<string, Alert>();
  readonly depth: QueueCounts = zero();
  /** Writes dropped because the queue was full, since start. */
  readonly dropped: QueueCounts = zero();
  /** Alerts dropped (the newest 100 kept for the loss report). */
  readonly droppedAlerts: Alert[] = [];

  constructor(readonly max: number) {}

  get size(): number {
    return this.alerts.size + this.others.size;
  }

  /** Adds a write; returns false when it replaced a queued one (same key). */
  add(w: QueuedWrite, dedupKey?: string): boolean {
    if (w.key !== undefined) {
      const old = this.byKey.get(w.key);
      if (old !== undefined) {
        old.run = w.run;
        if (w.alert !== undefined) this.noteAlert(old, w.alert, dedupKey);
        return false;
      }
      this.byKey.set(w.key, w);
    }
    while (this.size >= this.max && this.size > 0) this.dropOldest();
    (w.kind === 'other' || w.kind === 'observation' ? this.others : this.alerts).push(w);
    this.depth[w.kind]++;
    if (w.alert !== undefined) this.noteAlert(w, w.alert, dedupKey);
    return true;
  }

  private noteAlert(w: QueuedWrite, a: Alert, dedupKey: string | undefined): void {
    w.alert = a;
    this.alertById.set(`${a.tenant}\0${a.id}`, a);
    if (dedupKey !== undefined) {
      w.dedupKey = dedupKey;
      this.alertByKey.set(`${a.tenant}\0${dedupKey}`, a);
    }
  }

  private dropOldest(): void {
    const w = this.others.size > 0 ? this.others.shift() : this.alerts.shift();
    if (w === undefined) return;
    this.forget(w);
    this.dropped[w.kind]++;
    if (w.alert !== undefined) {
      this.droppedAlerts.push(w.alert);
      if (this.droppedAlerts.length > 100) this.droppedAlerts.shift();
    }
  }

  private forget(w: QueuedWrite): void {
    this.depth[w.kind]--;
    if (w.key !== undefined && this.byKey.get(w.key) === w) this.byKey.delete(w.key);
    const a = w.alert;
    if (a !== undefined) {
      const k = `${a.tenant}\0${a.id}`;
      if (this.alertById.get(k) === a) this.alertById.delete(k);
      if (w.dedupKey !== undefined) {
        const dk = `${a.tenant}\0${w.dedupKey}`;
        if (this.alertByKey.get(dk) === a) this.alertByKey.delete(dk);
      }
    }
  }

  /** The first `n` writes in replay order (alerts and their contributions first). */
  peek(n: number): QueuedWrite[] {
    const out: QueuedWrite[] = [];
    for (let i = 0; i < this.alerts.size && out.length < n; i++) out.push(this.alerts.at(i)!);
    for (let i = 0; i < this.others.size && out.length < n; i++) out.push(this.others.at(i)!);
    return out;
  }

  /** Removes the first `n` writes (after they were committed). */
  consume(n: number): void {
    for (let i = 0; i < n; i++) {
      const w = this.alerts.size > 0 ? this.alerts.shift() : this.others.shift();
      if (w === undefined) return;
      this.forget(w);
    }
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  alert(tenant: string, id: string): Alert | undefined {
    return this.alertById.get(`${tenant}\0${id}`);
  }

  openAlertByKey(tenant: string, dedupKey: string): Alert | undefined {
    const a = this.alertByKey.get(`${tenant}\0${dedupKey}`);
    return a !== undefined && a.status !== 'closed' ? a : undefined;
  }

  /** Every queued alert (the loss report). */
  queuedAlerts(): Alert[] {
    return [...this.alertById.values()];
  }
}
