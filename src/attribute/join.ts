/**
 * The flow ⇄ EDR join (docs/edr-join.md §8.2). Key = tenant + transport + unordered endpoint pair;
 * a record attributes the flow side whose address:port equals its local side, so both ends are
 * attributed when both hosts report. Time: |ts_edr − skew(device) − first_seen| ≤ tolerance once
 * the device's skew is learned, a wide learning window before. Either arrival order: flows wait
 * `waitMs` (capture time) for late records and are re-emitted (same obsId, `update: true`);
 * records are kept for the window. Memory is bounded on both sides, evictions counted.
 */
import { FamilyCounts, familyKey } from '../counters.js';
import type { AttributeCounter } from './counters.js';
import type { Attribution, EdrConnection, FlowRecord, Observation } from '../records.js';
import { addrScope, protoNumber } from './normalize.js';
import { DeviceMap } from './device-map.js';
import { SkewTracker } from './skew.js';
import { attributionOf, edrOnlyObservation } from './observation.js';
import { bestCandidate, type Candidate, type Endpoint, type Match } from './match.js';
import type { AttributeOptions } from './options.js';
import { Fifo } from '../bounded/fifo.js';
import { PackedFlows, packable } from './packed.js';
import { LruMap, type BoundStat } from '../bounded/lru.js';
import { communityIdOf } from '../flow/community-id.js';

/**
 * Stable id of a flow's observation: the same flow replayed again gets the same id (so a
 * re-replay adds no duplicate alert), different flows never share one (flowId restarts at 1
 * in every run, so it cannot be the id).
 */
export function flowObsId(f: FlowRecord): string {
  // The Community ID is already a hash of the 5-tuple; with the start time (and VLANs) it names
  // one flow. Building the string costs well under a microsecond, a SHA-256 ~2.5 µs per flow.
  const v = f.vlan.length > 0 ? `.${f.vlan.join('.')}` : '';
  return `f${base36(Math.round(f.firstTsUs))}${v}.${communityIdOf(f).slice(2)}`;
}

/** The `obsId` of a flow observation an Attributor with `lazyObsId` emitted, until `obsIdOf` names it. */
export const OBS_ID_DEFERRED = '';

/**
 * `obs.obsId`, named first (and its flow's Community ID computed) when the join deferred it
 * (`Attributor.lazyObsId`): the id the join gives when it does not defer.
 */
export function obsIdOf(obs: Observation): string {
  if (obs.obsId === OBS_ID_DEFERRED && obs.flow !== undefined) obs.obsId = flowObsId(obs.flow);
  return obs.obsId;
}

const B36 = '0123456789abcdefghijklmnopqrstuvwxyz';
/** 0..1295 as two base-36 digits. */
const B36_PAIRS = Array.from({ length: 1296 }, (_, i) => `${B36[Math.floor(i / 36)]!}${B36[i % 36]!}`);
const B36_LOW = 36 ** 4;
let b36HighKey = -1;
let b36High = '';

/**
 * `n.toString(36)` for an integer, fast: V8's radix conversion of a 16-digit microsecond time
 * stamp cost ~1 µs, 7.5 % of a SYN scan's replay. The part above the last four digits changes
 * every 1.7 s of capture time and is remembered; the last four come from a table.
 */
export function base36(n: number): string {
  if (!(n >= B36_LOW) || n > Number.MAX_SAFE_INTEGER || !Number.isInteger(n)) return n.toString(36);
  const hi = Math.floor(n / B36_LOW);
  const lo = n - hi * B36_LOW;
  if (hi !== b36HighKey) {
    b36HighKey = hi;
    b36High = hi.toString(36);
  }
  return b36High + B36_PAIRS[Math.floor(lo / 1296)]! + B36_PAIRS[lo % 1296]!;
}

export { defaultAttributeOptions, type AttributeOptions } from './options.js';

export interface AttributeDeps {
  emit(obs: Observation): void;
  /**
   * The tenant of a connection only an endpoint reported (its observation is formed here):
   * default, the feed's label (`rec.tenant`).
   */
  tenantOfEdr?(rec: EdrConnection): string;
}

interface EdrEntry {
  rec: EdrConnection;
  key: string;
  skewKey: string;
  matched: boolean;
  /** Dropped from the index (expired or evicted); its slot in `entries` is skipped. */
  dropped: boolean;
}

interface PendingFlow {
  flow: FlowRecord;
  tenant: string;
  /** Join key; '' while the flow is not tracked (see `tracked`). */
  key: string;
  sig: string;
  /** skewKeys this flow already taught (made when the flow first has candidates). */
  learned: Set<string> | undefined;
  hit: boolean;
  /**
   * Keyed in `pending` and listed in `pendingByAddr`. Only flows of a tenant that has sent an
   * EDR record are: until then no record can match them, and the tenant's first record tracks
   * the flows then waiting (so late joins still find them).
   */
  tracked: boolean;
  /** An observation was emitted for this flow (later ones are updates). */
  emitted: boolean;
}

/**
 * What an update must change to be emitted again, for an observation without attributions (most
 * flows, and all of a tenant without EDR): a plain key that cannot equal the JSON form of one
 * with attributions (that starts with '[').
 */
function plainSig(clientAddr: string, host: string | undefined): string {
  return `\u0000${clientAddr}${host === undefined ? '' : `\u0001${host}`}`;
}

function endpointKey(addr: string, port: number): string {
  return `${addr}#${port}`;
}

export function joinKey(tenant: string, proto: number, a: string, ap: number, b: string, bp: number): string {
  const x = endpointKey(a, ap);
  const y = endpointKey(b, bp);
  return x < y ? `${tenant}|${proto}|${x}|${y}` : `${tenant}|${proto}|${y}|${x}`;
}

export class Attributor {
  private readonly index = new Map<string, EdrEntry[]>();
  /**
   * Insertion order = age order, for eviction and expiry sweeps. Records expired out of order
   * stay as dropped slots until they reach the front or a compaction (`deadEntries` of them).
   */
  private readonly entries = new Fifo<EdrEntry>();
  private liveEntries = 0;
  private deadEntries = 0;
  private readonly pending = new Map<string, PendingFlow[]>();
  /**
   * Waiting flows in arrival order; always finalized from the front. A number is a slot of
   * `packed`: a flow of a tenant without EDR records, kept in columns until it is needed.
   */
  private readonly pendingOrder = new Fifo<PendingFlow | number>();
  private readonly packed = new PackedFlows();
  /**
   * Absolute position (`pendingOrder.shifted` + index) of the first flow that may still be held:
   * every flow before it was emitted, so the hold sweep resumes there.
   */
  private holdFrom = 0;
  /** Tenants that sent at least one EDR record: their flows are tracked. */
  private readonly edrTenants = new Set<string>();
  /** Waiting flows by endpoint address, so a newly mapped device labels them late. */
  private readonly pendingByAddr = new Map<string, Set<PendingFlow>>();
  private readonly skews: SkewTracker;
  private readonly devices: DeviceMap;
  /** Read with `has` only: the oldest remembered is forgotten first. */
  private readonly recentEdrOnly: LruMap<string, true>;
  private readonly counters: Partial<Record<AttributeCounter, number>> = {};
  /** `records.<format>`: EDR records that reached the join, by format. */
  private readonly recordsByFormat = new FamilyCounts('records.<format>');
  private nowUs = 0;
  private lastSweepUs = 0;
  /**
   * Flow observations are emitted with their id deferred (`OBS_ID_DEFERRED`), for `obsIdOf` to
   * name where one is kept or leaves the process (src/pipeline.ts): during a scan most are
   * neither (not AI, no attribution), and the id (with the Community ID under it) was a sixth of
   * their cost. Off unless the receiver of `emit` reads ids only through `obsIdOf`.
   */
  lazyObsId = false;

  constructor(
    private readonly opts: AttributeOptions,
    private readonly deps: AttributeDeps,
  ) {
    this.skews = new SkewTracker(opts.maxDevices);
    this.devices = new DeviceMap(opts.maxDevices);
    this.recentEdrOnly = new LruMap('attribute.edr_only_dedup', opts.maxEdrOnlyDedup);
  }

  /** Every bounded structure of the join. */
  bounds(): BoundStat[] {
    return [
      { structure: 'attribute.pending_flows', entries: this.pendingOrder.length, max: this.opts.maxFlows, evictions: this.counters['flows.evicted'] ?? 0 },
      { structure: 'attribute.edr_records', entries: this.liveEntries, max: this.opts.maxRecords, evictions: this.counters['records.evicted'] ?? 0 },
      this.devices.stat(),
      this.skews.stat(),
      this.recentEdrOnly.stat(),
    ];
  }

  private count(k: AttributeCounter, n = 1): void {
    this.counters[k] = (this.counters[k] ?? 0) + n;
  }

  private skewOf = (k: string): number | undefined => this.skews.get(k);

  addEdr(rec: EdrConnection): void {
    this.recordsByFormat.inc([rec.source]);
    // Loopback records are joined like any other: a capture of a loopback interface (or a
    // pcapng that includes one) sees the same connection. Only a record still unmatched when
    // it expires becomes an edr-only observation (expireEntry).
    const loopback = addrScope(rec.localAddr) === 'loopback';
    if (loopback) this.count('records.loopback');
    if (!this.edrTenants.has(rec.tenant)) this.firstRecordOf(rec.tenant);
    const key = joinKey(rec.tenant, protoNumber(rec.transport), rec.localAddr, rec.localPort, rec.remoteAddr, rec.remotePort);
    const skewKey = `${rec.tenant}\u0000${rec.deviceId}\u0000${rec.source}`;
    const e: EdrEntry = { rec, key, skewKey, matched: false, dropped: false };
    let list = this.index.get(key);
    if (list === undefined) { list = []; this.index.set(key, list); }
    list.push(e);
    this.entries.push(e);
    this.liveEntries++;
    // 127.0.0.1 and ::1 are on every device: never an address that names one.
    const newDevice = !loopback && this.devices.note(rec, skewKey);
    while (this.liveEntries > this.opts.maxRecords) {
      const first = this.entries.shift();
      if (first === undefined) break;
      if (first.dropped) { this.deadEntries--; continue; }
      this.dropEntry(first);
      this.count('records.evicted');
    }
    const waiting = this.pending.get(key);
    if (waiting !== undefined) {
      for (const p of waiting) {
        const wasHit = p.hit;
        const wasEmitted = p.emitted;
        // the record came after its flow: a late join (an update when already emitted)
        if (this.evaluate(p, false) && !wasHit && p.hit) this.count(wasEmitted ? 'join.late' : 'join.late_held');
      }
    }
    if (newDevice) {
      const byAddr = this.pendingByAddr.get(`${rec.tenant}\u0000${rec.localAddr}`);
      if (byAddr !== undefined) {
        for (const p of byAddr) if (p.key !== key && p.emitted && this.evaluate(p, false)) this.count('join.late_device_map');
      }
    }
  }

  private firstRecordOf(tenant: string): void {
    this.edrTenants.add(tenant);
    const q = this.pendingOrder;
    for (let i = 0; i < q.length; i++) {
      let p = q.at(i)!;
      if (typeof p === 'number') {
        if (this.packed.tenantOf(p) !== tenant) continue;
        const u = this.unpack(p);
        q.set(i, u);
        p = u;
      } else if (p.tenant !== tenant) continue;
      const f = p.flow;
      p.key = joinKey(tenant, f.proto, f.origAddr, f.origPort, f.respAddr, f.respPort);
      this.track(p);
    }
  }

  /**
   * A packed flow as the entry it stood for (its slot is freed): never tracked, never hit (its
   * tenant had no EDR record), so an emitted one's observation had no attribution.
   */
  private unpack(s: number): PendingFlow {
    const flow = this.packed.unpack(s);
    const emitted = this.packed.emitted(s);
    const p: PendingFlow = {
      flow,
      tenant: this.packed.tenantOf(s),
      key: '',
      sig: emitted ? plainSig(flow.origAddr, flow.host) : '',
      learned: undefined,
      hit: false,
      tracked: false,
      emitted,
    };
    this.packed.remove(s);
    return p;
  }

  /** Key a pending flow for late records and index it by address for device-map relabelling. */
  private track(p: PendingFlow): void {
    p.tracked = true;
    let list = this.pending.get(p.key);
    if (list === undefined) { list = []; this.pending.set(p.key, list); }
    list.push(p);
    this.addrSet(p.tenant, p.flow.origAddr).add(p);
    this.addrSet(p.tenant, p.flow.respAddr).add(p);
  }

  private addrSet(tenant: string, addr: string): Set<PendingFlow> {
    const k = `${tenant}\u0000${addr}`;
    let s = this.pendingByAddr.get(k);
    if (s === undefined) { s = new Set(); this.pendingByAddr.set(k, s); }
    return s;
  }

  /**
   * A flow record at its end and its tenant (resolved once, by the caller; carried on its
   * observation). `fromTable`: made by the flow table and named by passive DNS, so its fields
   * are known (src/attribute/packed.ts) and it may wait packed.
   */
  addFlow(flow: FlowRecord, tenant: string, fromTable = false): void {
    this.count('flows');
    if (flow.firstTsUs > this.nowUs) this.nowUs = flow.firstTsUs;
    const tracked = this.edrTenants.has(tenant);
    const key = tracked ? joinKey(tenant, flow.proto, flow.origAddr, flow.origPort, flow.respAddr, flow.respPort) : '';
    const p: PendingFlow = { flow, tenant, key, sig: '', learned: undefined, hit: false, tracked: false, emitted: false };
    this.evaluate(p, this.opts.holdMs <= 0);
    if (tracked) this.track(p);
    else if (fromTable && packable(flow)) {
      this.pendingOrder.push(this.packed.add(flow, tenant, p.emitted));
      this.evictPending();
      return;
    }
    this.pendingOrder.push(p);
    this.evictPending();
  }

  private evictPending(): void {
    while (this.pendingOrder.length > this.opts.maxFlows) {
      const first = this.pendingOrder.shift();
      if (first === undefined) break;
      this.finalize(first);
      this.count('flows.evicted');
    }
  }

  /**
   * Match both sides of a pending flow and emit when the result changed. A flow without a
   * per-connection match is held back (not emitted) unless `release` is set (hold expired,
   * flow finalized). Returns true if emitted.
   */
  private evaluate(p: PendingFlow, release: boolean): boolean {
    const isUpdate = p.emitted;
    const f = p.flow;
    const cands = p.key === '' ? undefined : this.index.get(p.key);
    const firstMs = f.firstTsUs / 1000;
    let o: Match | undefined;
    let r: Match | undefined;
    // No record under the flow's key: no candidate on either side (nothing to build or learn).
    if (cands !== undefined) {
      const orig: Endpoint = { addr: f.origAddr, port: f.origPort };
      const resp: Endpoint = { addr: f.respAddr, port: f.respPort };
      p.learned ??= new Set();
      const ctx = { firstMs, lastMs: f.lastTsUs / 1000, opts: this.opts, skews: this.skews, learned: p.learned, count: (k: AttributeCounter) => this.count(k) };
      o = bestCandidate(ctx, cands as Candidate[], orig, f.proto);
      r = bestCandidate(ctx, cands as Candidate[], resp, f.proto);
      if (o !== undefined) (o.entry as EdrEntry).matched = true;
      if (r !== undefined) (r.entry as EdrEntry).matched = true;
    }
    p.hit = o !== undefined || r !== undefined;
    if (!p.hit && !p.emitted && !release) {
      this.count('join.held');
      return false;
    }

    const origAttr = o !== undefined ? attributionOf(o.entry.rec, 'orig', o.skewMs, o.ambiguous) : this.fromDeviceMap(p.tenant, f.origAddr, firstMs, 'orig');
    const respAttr = r !== undefined ? attributionOf(r.entry.rec, 'resp', r.skewMs, r.ambiguous) : this.fromDeviceMap(p.tenant, f.respAddr, firstMs, 'resp');

    // Orientation is the flow record's (decided once, by the flow table): the observation's
    // client is the record's orig side. An endpoint that reports the other direction for a
    // flow oriented by its first packet only is counted, not followed (record, observation and
    // alert name the same client).
    if (f.origBy === 'first') {
      const od = o?.entry.rec;
      const rd = r?.entry.rec;
      if (od?.direction !== 'outbound' && (rd?.direction === 'outbound' || (od?.direction === 'inbound' && od.transport === 'tcp'))) this.count('join.orientation_disputed');
    }

    const obs: Observation = {
      obsId: this.lazyObsId ? OBS_ID_DEFERRED : flowObsId(f),
      tenant: p.tenant,
      kind: 'flow',
      update: isUpdate,
      tsUs: f.firstTsUs,
      lastTsUs: f.lastTsUs,
      flow: f,
      clientAddr: f.origAddr,
      serverAddr: f.respAddr,
      serverPort: f.respPort,
      proto: f.proto,
      hostSource: f.hostSource,
      bytesOut: f.origWireBytes,
      bytesIn: f.respWireBytes,
    };
    if (origAttr !== undefined) obs.client = origAttr;
    if (respAttr !== undefined) obs.server = respAttr;
    if (f.host !== undefined) obs.host = f.host;
    else if (o?.entry.rec.remoteNameHint !== undefined) {
      obs.host = o.entry.rec.remoteNameHint;
      obs.hostSource = 'edr';
    }
    // What an update must change to be emitted again.
    const sig =
      obs.client === undefined && obs.server === undefined
        ? plainSig(obs.clientAddr, obs.host)
        : JSON.stringify([obs.client, obs.server, obs.clientAddr, obs.host]);
    if (isUpdate && sig === p.sig) return false;
    p.sig = sig;
    p.emitted = true;
    this.deps.emit(obs);
    return true;
  }

  private fromDeviceMap(tenant: string, addr: string, atMs: number, side: 'orig' | 'resp'): Attribution | undefined {
    const s = this.devices.lookup(tenant, addr, atMs, this.skewOf, this.opts.learnWindowMs);
    if (s === undefined) return undefined;
    const a: Attribution = { side, deviceId: s.deviceId, hashUnknown: true, source: s.source, method: 'device-map' };
    if (s.deviceName !== undefined) a.deviceName = s.deviceName;
    return a;
  }

  /** Emit (if still held) and forget a flow already taken off the front of `pendingOrder`. */
  private finalize(e: PendingFlow | number): void {
    const p = typeof e === 'number' ? this.unpack(e) : e;
    if (!p.emitted) this.evaluate(p, true);
    if (p.tracked) {
      this.unindexAddr(p, p.flow.origAddr);
      this.unindexAddr(p, p.flow.respAddr);
      const list = this.pending.get(p.key);
      if (list !== undefined) {
        const i = list.indexOf(p);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) this.pending.delete(p.key);
      }
    }
    this.count(p.hit ? 'join.hit' : 'join.miss');
  }

  private unindexAddr(p: PendingFlow, addr: string): void {
    const k = `${p.tenant}\u0000${addr}`;
    const set = this.pendingByAddr.get(k);
    if (set === undefined) return;
    set.delete(p);
    if (set.size === 0) this.pendingByAddr.delete(k);
  }

  /** Unindex a record; its slot in `entries` is the caller's (shifted, or counted dead). */
  private dropEntry(e: EdrEntry): void {
    e.dropped = true;
    this.liveEntries--;
    const list = this.index.get(e.key);
    if (list !== undefined) {
      const i = list.indexOf(e);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.index.delete(e.key);
    }
  }

  /** A record that expired unmatched is a connection the tap did not see. */
  private expireEntry(e: EdrEntry): void {
    this.dropEntry(e);
    if (e.matched) return;
    this.count('records.unmatched');
    const loopback = addrScope(e.rec.localAddr) === 'loopback';
    if (loopback) {
      // A local runtime's connection the sensor did not capture. The runtime's own (inbound)
      // record would describe the same connection again.
      if (e.rec.direction === 'inbound') return;
      if (!this.opts.edrOnlyLoopback) { this.count('records.unmatched_loopback'); return; }
    } else if (e.rec.direction !== 'outbound') return;
    const dedup = `${e.key}\u0000${e.rec.deviceId}`;
    if (this.recentEdrOnly.has(dedup)) return;
    this.recentEdrOnly.set(dedup, true);
    this.count(loopback ? 'edr_only.loopback' : 'edr_only.offtap');
    const tenant = this.deps.tenantOfEdr?.(e.rec) ?? e.rec.tenant;
    this.deps.emit(edrOnlyObservation(e.rec, this.skews.get(e.skewKey) ?? 0, tenant));
  }

  tick(nowUs: number): void {
    if (nowUs > this.nowUs) this.nowUs = nowUs;
    if (this.nowUs - this.lastSweepUs < 1_000_000) return;
    this.lastSweepUs = this.nowUs;
    const holdUs = this.opts.holdMs * 1000;
    const q = this.pendingOrder;
    // Only held flows are released (emitted ones wait for late records, nothing to release);
    // the sweep resumes where the last one stopped, everything before it was emitted.
    let i = Math.max(0, this.holdFrom - q.shifted);
    const packed = this.packed;
    for (; i < q.length; i++) {
      const p = q.at(i)!;
      if (typeof p === 'number') {
        if (packed.emitted(p)) continue;
        if (packed.lastTsUs(p) + holdUs >= this.nowUs) break; // roughly age-ordered
        // released: the observation is made from a record built for it, the flow stays packed
        const u: PendingFlow = { flow: packed.unpack(p), tenant: packed.tenantOf(p), key: '', sig: '', learned: undefined, hit: false, tracked: false, emitted: false };
        this.evaluate(u, true);
        packed.setEmitted(p);
        continue;
      }
      if (p.emitted) continue;
      if (p.flow.lastTsUs + holdUs >= this.nowUs) break; // roughly age-ordered
      this.evaluate(p, true);
    }
    this.holdFrom = q.shifted + i;
    const waitUs = this.opts.waitMs * 1000;
    for (let p = q.peek(); p !== undefined; p = q.peek()) {
      const last = typeof p === 'number' ? packed.lastTsUs(p) : p.flow.lastTsUs;
      if (last + waitUs >= this.nowUs) break; // roughly age-ordered: stop at the first young one
      q.shift();
      this.finalize(p);
    }
    const nowMs = this.nowUs / 1000;
    let young = 0;
    for (let j = 0; j < this.entries.length; j++) {
      const e = this.entries.at(j) as EdrEntry;
      if (e.dropped) continue;
      const skew = this.skews.get(e.skewKey);
      const window = (skew === undefined ? this.opts.learnWindowMs : this.opts.toleranceMs) + this.opts.waitMs;
      if (e.rec.tsMs - (skew ?? 0) + window < nowMs) {
        this.expireEntry(e);
        this.deadEntries++;
      } else if (++young > 1000) break;
    }
    this.trimEntries();
  }

  /** Shift dropped records off the front; compact when dropped slots outnumber a quarter of the live ones. */
  private trimEntries(): void {
    for (let e = this.entries.peek(); e !== undefined && e.dropped; e = this.entries.peek()) {
      this.entries.shift();
      this.deadEntries--;
    }
    if (this.deadEntries > 1024 && this.deadEntries * 4 > this.liveEntries) {
      this.entries.retain((e) => !e.dropped);
      this.deadEntries = 0;
    }
  }

  flush(): void {
    for (let p = this.pendingOrder.shift(); p !== undefined; p = this.pendingOrder.shift()) this.finalize(p);
    for (let e = this.entries.shift(); e !== undefined; e = this.entries.shift()) if (!e.dropped) this.expireEntry(e);
    this.deadEntries = 0;
  }

  /** EDR records that reached the join, by format (the `records` family). */
  recordFormats(): FamilyCounts {
    return this.recordsByFormat;
  }

  stats(): Record<string, number> {
    const out: Record<string, number> = this.recordsByFormat.flat();
    Object.assign(out, this.counters);
    out['records.indexed'] = this.liveEntries;
    out['flows.waiting'] = this.pendingOrder.length;
    out['device_map.evicted'] = this.devices.evicted;
    const hit = out['join.hit'] ?? 0;
    const miss = out['join.miss'] ?? 0;
    if (hit + miss > 0) out['join.rate'] = hit / (hit + miss);
    for (const [k, s] of this.skews.entries()) {
      if (s.median === undefined) continue;
      const [, device, source] = k.split('\u0000');
      out[familyKey('skew_ms.<device>.<source>', device ?? '', source ?? '')] = s.median;
    }
    return out;
  }

}
