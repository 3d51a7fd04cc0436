/**
 * Address → device over time (docs/edr-join.md §8.3), fed by the local side of EDR records. Labels
 * flows of a known device that have no per-connection record (`method: 'device-map'`).
 * Intervals are kept in the device's own clock and corrected with its learned skew at lookup;
 * bounded by address count (oldest evicted). UDP inbound records are not used: Sysmon's
 * local side is unreliable there (§2.3).
 */
import type { EdrConnection, EdrSourceFormat } from '../records.js';
import { LruMap, type BoundStat } from '../bounded/lru.js';

export interface DeviceSpan {
  deviceId: string;
  deviceName?: string;
  source: EdrSourceFormat;
  skewKey: string;
  firstMs: number;
  lastMs: number;
}

/** How far outside its seen interval an address still belongs to a device (DHCP churn). */
export const DEVICE_MAP_SLACK_MS = 60 * 60_000;
const MAX_SPANS_PER_ADDR = 4;

export class DeviceMap {
  /** Read with `peek` only: the oldest inserted address is evicted first. */
  private readonly m: LruMap<string, DeviceSpan[]>;
  /** `maxAddrs`: config `attribute.max_devices` (no default here: the schema has it). */
  constructor(maxAddrs: number) {
    this.m = new LruMap('attribute.device_map', maxAddrs);
  }

  get evicted(): number {
    return this.m.evictions;
  }

  stat(): BoundStat {
    return this.m.stat();
  }

  /** Record the local side; true when the address gained a new device span. */
  note(rec: EdrConnection, skewKey: string): boolean {
    if (rec.transport === 'udp' && rec.direction !== 'outbound') return false;
    const k = `${rec.tenant}\u0000${rec.localAddr}`;
    let spans = this.m.peek(k);
    if (spans === undefined) {
      spans = [];
      this.m.set(k, spans);
    }
    const s = spans.find((x) => x.deviceId === rec.deviceId && x.skewKey === skewKey);
    if (s !== undefined) {
      s.firstMs = Math.min(s.firstMs, rec.tsMs);
      s.lastMs = Math.max(s.lastMs, rec.tsMs);
      return false;
    }
    const span: DeviceSpan = { deviceId: rec.deviceId, source: rec.source, skewKey, firstMs: rec.tsMs, lastMs: rec.tsMs };
    if (rec.deviceName !== undefined) span.deviceName = rec.deviceName;
    spans.push(span);
    if (spans.length > MAX_SPANS_PER_ADDR) spans.shift();
    return true;
  }

  /** The device holding `addr` at capture time `atMs`, most recently seen first. */
  lookup(tenant: string, addr: string, atMs: number, skewOf: (k: string) => number | undefined, unknownSkewSlackMs: number): DeviceSpan | undefined {
    if (this.m.size === 0) return undefined; // no device mapped yet: no key to build
    const spans = this.m.peek(`${tenant}\u0000${addr}`);
    if (spans === undefined) return undefined;
    let best: DeviceSpan | undefined;
    for (const s of spans) {
      const skew = skewOf(s.skewKey);
      const slack = DEVICE_MAP_SLACK_MS + (skew === undefined ? unknownSkewSlackMs : 0);
      const off = skew ?? 0;
      if (atMs < s.firstMs - off - slack || atMs > s.lastMs - off + slack) continue;
      if (best === undefined || s.lastMs > best.lastMs) best = s;
    }
    return best;
  }
}
