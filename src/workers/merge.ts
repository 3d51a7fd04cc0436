/**
 * The time-ordered merge of several workers' outputs. Each worker delivers its items in key
 * order (flat: key, sub-key, kind, payload, extra) with a watermark: it will never deliver an item with a
 * smaller key. The merge releases, in key order, every item below the smallest watermark — a
 * bounded reorder window (how far the slowest worker trails, at most its ring) — and keeps the
 * rest. Equal keys (flows several workers end at one expiry step, or at end of input) are
 * ordered by their sub-key (where one flow table would have emitted them), then worker order.
 *
 * Work per item: a comparison per worker to find the smallest head; nothing per packet.
 */
export type MergeRelease = (kind: number, payload: unknown, extra: number, worker: number, key: number) => void;

/** Words per item: key, sub-key, kind, payload, extra. */
export const MERGE_ITEM_WIDTH = 5;
const W = MERGE_ITEM_WIDTH;

export class OrderedMerge {
  private readonly q: unknown[][];
  private readonly head: number[];
  private readonly wm: number[];
  /** Items held (not yet released), for the reorder-window gauge. */
  held = 0;
  maxHeld = 0;

  constructor(
    readonly n: number,
    private readonly release: MergeRelease,
  ) {
    this.q = Array.from({ length: n }, () => []);
    this.head = new Array<number>(n).fill(0);
    this.wm = new Array<number>(n).fill(0);
  }

  /** Items from worker `w` (keys not below anything it sent before) and its new watermark. */
  push(w: number, items: unknown[], watermark: number): void {
    const q = this.q[w]!;
    for (let i = 0; i < items.length; i++) q.push(items[i]);
    this.held += items.length / W;
    if (this.held > this.maxHeld) this.maxHeld = this.held;
    if (watermark > this.wm[w]!) this.wm[w] = watermark;
    this.drain();
  }

  /** Worker `w` delivers nothing more (done, or gone). */
  end(w: number): void {
    this.wm[w] = Infinity;
    this.drain();
  }

  watermark(w: number): number {
    return this.wm[w]!;
  }

  private drain(): void {
    let min = Infinity;
    for (const x of this.wm) if (x < min) min = x;
    const q = this.q;
    const head = this.head;
    for (;;) {
      let best = -1;
      let bestKey = min;
      let bestSub = 0;
      for (let w = 0; w < this.n; w++) {
        const h = head[w]!;
        const qw = q[w]!;
        if (h >= qw.length) continue;
        const k = qw[h] as number;
        if (k < bestKey || (k === bestKey && best >= 0 && (qw[h + 1] as number) < bestSub)) {
          bestKey = k;
          bestSub = qw[h + 1] as number;
          best = w;
        }
      }
      if (best < 0) break;
      const qb = q[best]!;
      const h = head[best]!;
      head[best] = h + W;
      this.held--;
      this.release(qb[h + 2] as number, qb[h + 3], qb[h + 4] as number, best, bestKey);
    }
    for (let w = 0; w < this.n; w++) {
      const qw = q[w]!;
      const h = head[w]!;
      if (h === qw.length) {
        qw.length = 0;
        head[w] = 0;
      } else if (h > 65536 && h * 2 > qw.length) {
        q[w] = qw.slice(h);
        head[w] = 0;
      }
    }
  }
}
