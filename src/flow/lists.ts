/**
 * Doubly linked recency lists over flow slots, one per timeout class, most recent at the head.
 * Idle expiry walks each list from its tail; eviction takes the oldest tail of all lists.
 */
/** How often (packet time) idle flows are expired: the packet path's step, and a sharded replay reader's. */
export const EXPIRE_EVERY_US = 1e6;

export const LIST_TCP_OPEN = 0;
export const LIST_TCP_CLOSED = 1;
export const LIST_OTHER = 2;
const NLISTS = 3;

export class FlowLists {
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly listOf: Int8Array;
  private readonly heads = new Int32Array(NLISTS).fill(-1);
  private readonly tails = new Int32Array(NLISTS).fill(-1);

  constructor(cap: number) {
    this.prev = new Int32Array(cap).fill(-1);
    this.next = new Int32Array(cap).fill(-1);
    this.listOf = new Int8Array(cap).fill(-1);
  }

  /** The list a slot is in (-1: none). */
  of(slot: number): number {
    return this.listOf[slot]!;
  }

  tail(list: number): number {
    return this.tails[list]!;
  }

  push(slot: number, list: number): void {
    const h = this.heads[list]!;
    this.prev[slot] = -1;
    this.next[slot] = h;
    if (h >= 0) this.prev[h] = slot;
    else this.tails[list] = slot;
    this.heads[list] = slot;
    this.listOf[slot] = list;
  }

  remove(slot: number): void {
    const list = this.listOf[slot]!;
    if (list < 0) return;
    const p = this.prev[slot]!;
    const n = this.next[slot]!;
    if (p >= 0) this.next[p] = n;
    else this.heads[list] = n;
    if (n >= 0) this.prev[n] = p;
    else this.tails[list] = p;
    this.listOf[slot] = -1;
  }

  /** Move to the head of its list (most recently active). */
  touch(slot: number): void {
    const list = this.listOf[slot]!;
    if (this.heads[list] === slot) return;
    this.remove(slot);
    this.push(slot, list);
  }

  move(slot: number, list: number): void {
    if (this.listOf[slot] === list) return;
    this.remove(slot);
    this.push(slot, list);
  }

  /** The least recently active slot over all lists, or -1. */
  oldest(last: Float64Array): number {
    let best = -1;
    for (let l = 0; l < NLISTS; l++) {
      const t = this.tails[l]!;
      if (t >= 0 && (best < 0 || last[t]! < last[best]!)) best = t;
    }
    return best;
  }
}
