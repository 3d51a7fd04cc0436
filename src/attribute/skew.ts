/**
 * Per-device clock offset (EDR time minus capture time), learned as the running median of
 * unambiguous matches (docs/edr-join.md §8.2 step 3). Real data has constant offsets from sub-second to
 * 11.6 h, and local time labelled as UTC, so the key is device + source (a host's Sysmon
 * UtcTime and its WFP envelope time differ). TCP connect/accept samples are preferred: Sysmon
 * reports UDP late and spread (§9: −41,657 … −41,677 s where TCP was constant).
 */
import { LruMap, type BoundStat } from '../bounded/lru.js';

const MAX_SAMPLES = 31;

interface Samples {
  tcp: number[];
  udp: number[];
  median: number | undefined;
}

function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

export class SkewTracker {
  /** Read with `peek` only: the oldest inserted device is evicted first. */
  private readonly m: LruMap<string, Samples>;
  /** `maxDevices`: config `attribute.max_devices` (no default here: the schema has it). */
  constructor(maxDevices: number) {
    this.m = new LruMap('attribute.skew_devices', maxDevices);
  }

  stat(): BoundStat {
    return this.m.stat();
  }

  add(key: string, transport: 'tcp' | 'udp', sampleMs: number): void {
    let s = this.m.peek(key);
    if (s === undefined) {
      s = { tcp: [], udp: [], median: undefined };
      this.m.set(key, s);
    }
    const list = transport === 'tcp' ? s.tcp : s.udp;
    list.push(sampleMs);
    if (list.length > MAX_SAMPLES) list.shift();
    s.median = s.tcp.length > 0 ? median(s.tcp) : median(s.udp);
  }

  /** Learned offset (ms), undefined while nothing was learned. */
  get(key: string): number | undefined {
    return this.m.peek(key)?.median;
  }

  /** True when the offset rests on TCP samples (then UDP windows may stay narrow too). */
  hasTcp(key: string): boolean {
    return (this.m.peek(key)?.tcp.length ?? 0) > 0;
  }

  entries(): IterableIterator<[string, Samples]> {
    return this.m.entries();
  }
}
