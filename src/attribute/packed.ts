/**
 * Flow records waiting in the EDR join, kept in columns instead of objects.
 *
 * A flow of a tenant that has sent no EDR record waits (hold, then wait) with nothing to match.
 * During a scan that is every flow, and as objects each waiting record (its FlowRecord, VLAN
 * array and entry) outlived V8's young generation, was promoted and then died in old space:
 * most of the garbage collector's work and a heap several times the live data. Here such a
 * record costs one slot of typed arrays plus its three strings (addresses, Community ID), and
 * `unpack` builds a record equal to the one packed — same fields, same order, same values — when
 * the join needs it (hold released, tenant's first EDR record, finalize).
 *
 * Only records made by the flow table and named by passive DNS are packed (`packable`): their
 * fields are those of `src/flow/emit.ts` then `dnsConflict` and `host` (`PassiveDns.nameFlow`).
 * A record with a handshake, an entropy or an SNI/DNS agreement stays an object.
 */
import type { FlowEndReason, FlowRecord, HostSource } from '../records.js';

const ORIG_BY: readonly FlowRecord['origBy'][] = ['syn', 'synack', 'port', 'first'];
const END: readonly FlowEndReason[] = ['fin', 'rst', 'idle', 'active', 'evicted', 'eof'];
const HOST_SOURCE: readonly HostSource[] = ['none', 'dns-client', 'dns-any', 'sni', 'quic-sni', 'edr', 'ip-range'];

/** Numbers per slot in `num`. */
const NUM = 14;

/** A flow record `PackedFlows` can hold exactly (see the file's note). */
export function packable(f: FlowRecord): boolean {
  if (f.handshake !== undefined || f.payloadEntropy !== undefined || f.hostAgrees !== undefined) return false;
  const v = f.vlan;
  if (v.length > 2 || (v.length > 0 && !(v[0]! > 0 && v[0]! < 4096)) || (v.length > 1 && !(v[1]! > 0 && v[1]! < 4096))) return false;
  return f.proto >= 0 && f.proto < 256 && f.origPort >= 0 && f.origPort < 65536 && f.respPort >= 0 && f.respPort < 65536 &&
    f.origTcpFlags >= 0 && f.origTcpFlags < 256 && f.respTcpFlags >= 0 && f.respTcpFlags < 256;
}

function codeOf<T>(table: readonly T[], x: T): number {
  const i = table.indexOf(x);
  if (i < 0) throw new Error(`cannot pack ${String(x)}`);
  return i;
}

/**
 * Slots of packed records with a free list; grows by doubling (typed arrays), never shrinks.
 * Per slot besides the record: the tenant and whether its observation was emitted.
 */
export class PackedFlows {
  private cap = 0;
  private num = new Float64Array(0);
  /** Per slot: ports (orig << 16 | resp). */
  private ports = new Uint32Array(0);
  /** Per slot: proto | origBy << 8 | endReason << 10 | hostSource << 13 | dnsConflict << 16 | emitted << 18 | VLAN count << 19. */
  private bits = new Uint32Array(0);
  /** Per slot: orig TCP flags | resp TCP flags << 8. */
  private tcpFlags = new Uint16Array(0);
  /** Per slot: VLAN ids (outer << 12 | inner). */
  private vlans = new Uint32Array(0);
  private cid: (string | undefined)[] = [];
  private orig: (string | undefined)[] = [];
  private resp: (string | undefined)[] = [];
  private host: (string | undefined)[] = [];
  private tenant: (string | undefined)[] = [];
  private free = new Int32Array(0);
  private freeTop = 0;
  /** Slots in use. */
  size = 0;

  /** Pack a record (`packable`) of `tenant`; returns its slot. */
  add(f: FlowRecord, tenant: string, emitted: boolean): number {
    if (this.freeTop === 0) this.grow();
    const s = this.free[--this.freeTop]!;
    this.size++;
    const n = this.num;
    const o = s * NUM;
    n[o] = f.flowId;
    n[o + 1] = f.origPkts;
    n[o + 2] = f.respPkts;
    n[o + 3] = f.origWireBytes;
    n[o + 4] = f.respWireBytes;
    n[o + 5] = f.origCapBytes;
    n[o + 6] = f.respCapBytes;
    n[o + 7] = f.origIpBytes;
    n[o + 8] = f.respIpBytes;
    n[o + 9] = f.origPayloadBytes;
    n[o + 10] = f.respPayloadBytes;
    n[o + 11] = f.firstTsUs;
    n[o + 12] = f.lastTsUs;
    n[o + 13] = f.ifIndex;
    this.ports[s] = ((f.origPort << 16) | f.respPort) >>> 0;
    const v = f.vlan;
    const dc = f.dnsConflict === undefined ? 0 : f.dnsConflict ? 2 : 1;
    this.bits[s] = (f.proto | (codeOf(ORIG_BY, f.origBy) << 8) | (codeOf(END, f.endReason) << 10) | (codeOf(HOST_SOURCE, f.hostSource) << 13) |
      (dc << 16) | ((emitted ? 1 : 0) << 18) | (v.length << 19)) >>> 0;
    this.tcpFlags[s] = f.origTcpFlags | (f.respTcpFlags << 8);
    this.vlans[s] = v.length === 0 ? 0 : v.length === 1 ? v[0]! << 12 : ((v[0]! << 12) | v[1]!) >>> 0;
    this.cid[s] = f.communityId;
    this.orig[s] = f.origAddr;
    this.resp[s] = f.respAddr;
    this.host[s] = f.host;
    this.tenant[s] = tenant;
    return s;
  }

  /** The record packed in slot `s`: a new object equal to the one packed. */
  unpack(s: number): FlowRecord {
    const n = this.num;
    const o = s * NUM;
    const b = this.bits[s]!;
    const nv = b >>> 19;
    const vl = this.vlans[s]!;
    const vlan: number[] = [];
    if (nv > 0) vlan.push(vl >>> 12);
    if (nv > 1) vlan.push(vl & 0xfff);
    const p = this.ports[s]!;
    const tf = this.tcpFlags[s]!;
    const rec: FlowRecord = {
      flowId: n[o]!,
      communityId: this.cid[s]!,
      proto: b & 0xff,
      vlan,
      origAddr: this.orig[s]!,
      origPort: p >>> 16,
      respAddr: this.resp[s]!,
      respPort: p & 0xffff,
      origBy: ORIG_BY[(b >>> 8) & 3]!,
      origPkts: n[o + 1]!,
      respPkts: n[o + 2]!,
      origWireBytes: n[o + 3]!,
      respWireBytes: n[o + 4]!,
      origCapBytes: n[o + 5]!,
      respCapBytes: n[o + 6]!,
      origIpBytes: n[o + 7]!,
      respIpBytes: n[o + 8]!,
      origPayloadBytes: n[o + 9]!,
      respPayloadBytes: n[o + 10]!,
      firstTsUs: n[o + 11]!,
      lastTsUs: n[o + 12]!,
      origTcpFlags: tf & 0xff,
      respTcpFlags: tf >>> 8,
      endReason: END[(b >>> 10) & 7]!,
      ifIndex: n[o + 13]!,
      hostSource: HOST_SOURCE[(b >>> 13) & 7]!,
    };
    const dc = (b >>> 16) & 3;
    if (dc !== 0) rec.dnsConflict = dc === 2;
    const h = this.host[s];
    if (h !== undefined) rec.host = h;
    return rec;
  }

  tenantOf(s: number): string {
    return this.tenant[s]!;
  }

  lastTsUs(s: number): number {
    return this.num[s * NUM + 12]!;
  }

  emitted(s: number): boolean {
    return (this.bits[s]! & (1 << 18)) !== 0;
  }

  setEmitted(s: number): void {
    this.bits[s] = (this.bits[s]! | (1 << 18)) >>> 0;
  }

  /** Free slot `s` (its strings are let go). */
  remove(s: number): void {
    this.cid[s] = undefined;
    this.orig[s] = undefined;
    this.resp[s] = undefined;
    this.host[s] = undefined;
    this.tenant[s] = undefined;
    this.free[this.freeTop++] = s;
    this.size--;
  }

  private grow(): void {
    const old = this.cap;
    const cap = old === 0 ? 1024 : old * 2;
    const num = new Float64Array(cap * NUM);
    num.set(this.num);
    this.num = num;
    const grown = <T extends Uint32Array | Uint16Array>(a: T, make: (n: number) => T): T => {
      const x = make(cap);
      x.set(a);
      return x;
    };
    this.ports = grown(this.ports, (n) => new Uint32Array(n));
    this.bits = grown(this.bits, (n) => new Uint32Array(n));
    this.tcpFlags = grown(this.tcpFlags, (n) => new Uint16Array(n));
    this.vlans = grown(this.vlans, (n) => new Uint32Array(n));
    for (const a of [this.cid, this.orig, this.resp, this.host, this.tenant]) for (let i = old; i < cap; i++) a.push(undefined);
    const free = new Int32Array(cap);
    // the new slots, lowest on top
    let top = 0;
    for (let i = cap - 1; i >= old; i--) free[top++] = i;
    this.free = free;
    this.freeTop = top;
    this.cap = cap;
  }
}
