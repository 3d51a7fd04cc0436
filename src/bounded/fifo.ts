/**
 * A first-in first-out queue on a growable ring buffer: push, shift, peek and indexed reads
 * are O(1) (push amortized). A `Set` or `Map` used as a queue is not: V8 leaves a hole for
 * every entry deleted from the front until its next rehash, and `values().next()` walks past
 * every hole, so taking the oldest of n entries costs O(n).
 */
export class Fifo<T> {
  private buf: (T | undefined)[];
  private mask: number;
  private head = 0;
  private len = 0;
  /** Entries ever shifted: entry i of the queue has the absolute position `shifted + i`. */
  shifted = 0;

  constructor(initialCapacity = 16) {
    let cap = 16;
    while (cap < initialCapacity) cap *= 2;
    this.buf = new Array<T | undefined>(cap);
    this.mask = cap - 1;
  }

  get length(): number {
    return this.len;
  }

  push(x: T): void {
    if (this.len === this.buf.length) this.grow();
    this.buf[(this.head + this.len) & this.mask] = x;
    this.len++;
  }

  /** The oldest entry, removed; undefined when empty. */
  shift(): T | undefined {
    if (this.len === 0) return undefined;
    const x = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    this.len--;
    this.shifted++;
    return x;
  }

  /** The oldest entry, kept. */
  peek(): T | undefined {
    return this.len === 0 ? undefined : this.buf[this.head];
  }

  /** Entry i from the front (0 = oldest); undefined out of range. */
  at(i: number): T | undefined {
    return i < 0 || i >= this.len ? undefined : this.buf[(this.head + i) & this.mask];
  }

  /** Replace entry i from the front (0 = oldest); out of range is an error. */
  set(i: number, x: T): void {
    if (i < 0 || i >= this.len) throw new RangeError(`Fifo.set: ${i} out of 0..${this.len - 1}`);
    this.buf[(this.head + i) & this.mask] = x;
  }

  /** Keep only the entries `keep` accepts, in order (one pass; absolute positions no longer hold). */
  retain(keep: (x: T) => boolean): void {
    let w = 0;
    for (let r = 0; r < this.len; r++) {
      const x = this.buf[(this.head + r) & this.mask] as T;
      if (keep(x)) this.buf[(this.head + w++) & this.mask] = x;
    }
    for (let i = w; i < this.len; i++) this.buf[(this.head + i) & this.mask] = undefined;
    this.len = w;
  }

  clear(): void {
    this.shifted += this.len;
    this.buf = new Array<T | undefined>(16);
    this.mask = 15;
    this.head = 0;
    this.len = 0;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.len; i++) yield this.buf[(this.head + i) & this.mask] as T;
  }

  private grow(): void {
    const old = this.buf;
    const next = new Array<T | undefined>(old.length * 2);
    for (let i = 0; i < this.len; i++) next[i] = old[(this.head + i) & this.mask];
    this.buf = next;
    this.mask = next.length - 1;
    this.head = 0;
  }
}
