/**
 * A map with a fixed most-entries bound: inserting into a full map evicts its least recently
 * used entry (counted). Every operation is O(1) (lru-cache keeps recency in index-linked
 * typed arrays). `peek` reads without touching, so a map read only with `peek` evicts in
 * insertion order. A `Map` used this way is not O(1): deleting its first key leaves a hole that
 * every later `keys().next()` walks past until the next rehash.
 */
import { LRUCache } from 'lru-cache';

/** One bounded structure's state, as exported to Prometheus (`llmtap_bound_*{structure}`). */
export interface BoundStat {
  /** `<stage>.<structure>`, e.g. `detect.beacon_series`. */
  structure: string;
  entries: number;
  max: number;
  /** Entries dropped because the structure was full (not expiry by age). */
  evictions: number;
}

/** Something that keeps bounded state and reports it. */
export interface HasBounds {
  bounds(): BoundStat[];
}

const NO_OPTS = {};
const ONE = (): number => 1;

export class LruMap<K extends {}, V extends {}> {
  private readonly c: LRUCache<K, V>;
  evictions = 0;

  constructor(
    readonly structure: string,
    readonly max: number,
    onEvict?: (value: V, key: K) => void,
  ) {
    // `maxSize` with every entry of size 1 rather than `max`: with `max`, lru-cache allocates its
    // arrays for every entry at construction; this way they grow with use, same bound and order.
    this.c = new LRUCache<K, V>({
      maxSize: Math.max(1, Math.floor(max)),
      sizeCalculation: ONE,
      dispose: (v, k, reason) => {
        if (reason !== 'evict') return;
        this.evictions++;
        onEvict?.(v, k);
      },
    });
  }

  get size(): number {
    return this.c.size;
  }

  /** Read and mark as most recently used. */
  get(k: K): V | undefined {
    return this.c.get(k, NO_OPTS);
  }

  /** Read without changing the order. */
  peek(k: K): V | undefined {
    return this.c.peek(k, NO_OPTS);
  }

  has(k: K): boolean {
    return this.c.has(k, NO_OPTS);
  }

  /** Insert or replace (most recently used); evicts the least recently used when full. */
  set(k: K, v: V): void {
    this.c.set(k, v, NO_OPTS);
  }

  delete(k: K): boolean {
    return this.c.delete(k);
  }

  clear(): void {
    this.c.clear();
  }

  /** The least recently used entry, unchanged; undefined when empty. */
  oldest(): [K, V] | undefined {
    const it = this.c.rentries().next();
    return it.done === true ? undefined : (it.value as [K, V]);
  }

  /** Entries from the most to the least recently used. */
  entries(): IterableIterator<[K, V]> {
    return this.c.entries() as IterableIterator<[K, V]>;
  }

  values(): IterableIterator<V> {
    return this.c.values() as IterableIterator<V>;
  }

  stat(): BoundStat {
    return { structure: this.structure, entries: this.c.size, max: this.max, evictions: this.evictions };
  }
}
