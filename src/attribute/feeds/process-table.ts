/**
 * Long-lived process table: (device, process key) → image, hashes, parent. Start events
 * (Sysmon EID 1, FDR ProcessRollup2, Tetragon process_exec, Elastic process events) are
 * emitted once per process, so the table must outlive any event window (docs/edr-join.md §2.2,
 * pitfall §11.3). Bounded by entry count (oldest inserted evicted first, counted).
 */
import { basename } from '../normalize.js';
import { LINEAGE_DEPTH } from '../lineage.js';
import { LruMap, type BoundStat } from '../../bounded/lru.js';

export interface ProcessInfo {
  pid?: number;
  image?: string;
  name?: string;
  sha256?: string;
  sha1?: string;
  startMs?: number;
  parentKey?: string;
  parentImage?: string;
  /** Set by a terminate event; the entry stays until evicted. */
  endedMs?: number;
}

export class ProcessTable {
  /** Read with `peek` only: the oldest inserted (or replaced) process is evicted first. */
  private readonly map: LruMap<string, ProcessInfo>;
  /** `maxEntries`: config `edr.max_processes` (no default here: the schema has it). */
  constructor(maxEntries: number) {
    this.map = new LruMap('attribute.process_table', maxEntries);
  }

  get evicted(): number {
    return this.map.evictions;
  }

  stat(): BoundStat {
    return this.map.stat();
  }

  private static k(device: string, key: string): string {
    return `${device}\u0000${key.toLowerCase()}`;
  }

  set(device: string, key: string, info: ProcessInfo): void {
    this.map.set(ProcessTable.k(device, key), info);
  }

  get(device: string, key: string): ProcessInfo | undefined {
    return this.map.peek(ProcessTable.k(device, key));
  }

  delete(device: string, key: string): void {
    this.map.delete(ProcessTable.k(device, key));
  }

  get size(): number {
    return this.map.size;
  }

  /**
   * Ancestor basenames nearest first: the known parent image, then the parent chain through
   * the table, bounded by LINEAGE_DEPTH (and by cycles).
   */
  ancestors(device: string, info: ProcessInfo | undefined, parentName?: string): string[] {
    const out: string[] = [];
    const first = basename(info?.parentImage) ?? parentName;
    if (first !== undefined) out.push(first);
    let key = info?.parentKey;
    const seen = new Set<string>();
    while (key !== undefined && out.length < LINEAGE_DEPTH && !seen.has(key)) {
      seen.add(key);
      const p = this.get(device, key);
      if (p === undefined) break;
      const gp = basename(p.parentImage);
      if (gp === undefined) break;
      out.push(gp);
      key = p.parentKey;
    }
    return out;
  }
}

/** Names by (device, process key, address) from DNS events (Sysmon EID 22): name hints. */
export class DnsHints {
  /** Read with `peek` only: the oldest inserted (or replaced) hint is evicted first. */
  private readonly map: LruMap<string, string>;
  /** `maxEntries`: config `edr.max_dns_hints` (no default here: the schema has it). */
  constructor(maxEntries: number) {
    this.map = new LruMap('attribute.dns_hints', maxEntries);
  }

  stat(): BoundStat {
    return this.map.stat();
  }

  set(device: string, addr: string, name: string): void {
    this.map.set(`${device}\u0000${addr}`, name);
  }

  get(device: string, addr: string): string | undefined {
    return this.map.peek(`${device}\u0000${addr}`);
  }
}
