/**
 * Flow table behaviour: orientation rules, end reasons, timeouts on packet time, LRU eviction
 * that emits (never loses) flows, fragments, and the Community ID spec's test vectors.
 */
import { describe, expect, it } from 'vitest';
import { parseAddr } from '../../src/decode/addr.js';
import { communityId } from '../../src/flow/community-id.js';
import { FlowTable, type FlowTableOptions } from '../../src/flow/table.js';
import { PacketPath } from '../../src/pipeline.js';
import type { FlowMeta, FlowRecord } from '../../src/records.js';
import { allocBatch } from '../../src/source/batch.js';

/** An Ethernet/IPv4/TCP-or-UDP frame (60 bytes minimum, as on the wire). */
function frame(src: string, sport: number, dst: string, dport: number, opts: { proto?: number; flags?: number; payload?: number; frag?: { off: number; mf: boolean; id: number } } = {}): Buffer {
  const proto = opts.proto ?? 6;
  const l4len = opts.frag && opts.frag.off > 0 ? 0 : proto === 6 ? 20 : 8;
  const pay = opts.payload ?? 0;
  const ip = Buffer.alloc(20 + l4len + pay);
  ip[0] = 0x45;
  ip.writeUInt16BE(ip.length, 2);
  if (opts.frag) {
    ip.writeUInt16BE(opts.frag.id, 4);
    ip.writeUInt16BE((opts.frag.mf ? 0x2000 : 0) | (opts.frag.off / 8), 6);
  }
  ip[8] = 64;
  ip[9] = proto;
  Buffer.from(parseAddr(src)!).copy(ip, 12);
  Buffer.from(parseAddr(dst)!).copy(ip, 16);
  if (l4len > 0) {
    ip.writeUInt16BE(sport, 20);
    ip.writeUInt16BE(dport, 22);
    if (proto === 6) {
      ip[32] = 0x50;
      ip[33] = opts.flags ?? 0x10;
    } else ip.writeUInt16BE(8 + pay, 24);
  }
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(0x0800, 12);
  const f = Buffer.concat([eth, ip]);
  return f.length < 60 ? Buffer.concat([f, Buffer.alloc(60 - f.length)]) : f;
}

function run(frames: { f: Buffer; tsS: number }[], opts: Partial<FlowTableOptions> = {}): { flows: FlowRecord[]; pp: PacketPath } {
  const flows: FlowRecord[] = [];
  const pp = new PacketPath(opts, { onFlow: (r) => flows.push(r) });
  const b = allocBatch(frames.length);
  b.buf = Buffer.concat(frames.map((x) => x.f));
  let off = 0;
  frames.forEach((x, i) => {
    b.offset[i] = off;
    b.capLen[i] = x.f.length;
    b.wireLen[i] = x.f.length;
    b.tsUs[i] = 1_700_000_000e6 + x.tsS * 1e6;
    b.linkType[i] = 1;
    off += x.f.length;
  });
  b.count = frames.length;
  pp.onBatch(b);
  return { flows, pp };
}

const C = '10.0.0.5';
const S = '93.184.216.34';
const SYN = 0x02;
const SYNACK = 0x12;
const ACK = 0x10;
const FIN = 0x11;
const RST = 0x04;

describe('orientation', () => {
  it('the SYN sender is orig even when the server has the lower address', () => {
    const { flows, pp } = run([
      { f: frame('9.9.9.9', 50000, '1.1.1.1', 443, { flags: SYN }), tsS: 0 },
      { f: frame('1.1.1.1', 443, '9.9.9.9', 50000, { flags: SYNACK }), tsS: 0.01 },
    ]);
    pp.finish();
    expect(flows[0]).toMatchObject({ origAddr: '9.9.9.9', origPort: 50000, respAddr: '1.1.1.1', respPort: 443, origBy: 'syn', origPkts: 1, respPkts: 1 });
  });
  it('a SYN+ACK seen first makes its receiver orig', () => {
    const { flows, pp } = run([{ f: frame(S, 443, C, 50000, { flags: SYNACK }), tsS: 0 }]);
    pp.finish();
    expect(flows[0]).toMatchObject({ origAddr: C, origBy: 'synack', respPkts: 1, origPkts: 0 });
  });
  it('mid-flow capture: a packet from a service port marks its receiver as orig (one-sided mirror)', () => {
    const { flows, pp } = run([
      { f: frame(S, 443, C, 50000, { flags: ACK, payload: 100 }), tsS: 0 },
      { f: frame(S, 443, C, 50000, { flags: ACK, payload: 100 }), tsS: 0.1 },
    ]);
    pp.finish();
    expect(flows[0]).toMatchObject({ origAddr: C, origPort: 50000, origBy: 'port', respPkts: 2 });
  });
  it('two ephemeral ports: the first sender is orig', () => {
    const { flows, pp } = run([{ f: frame(S, 40001, C, 50000, { proto: 17, payload: 10 }), tsS: 0 }]);
    pp.finish();
    expect(flows[0]).toMatchObject({ origAddr: S, origBy: 'first' });
  });
});

describe('end reasons and timeouts (packet time)', () => {
  it('fin, rst, idle and eof', () => {
    const { flows, pp } = run(
      [
        { f: frame(C, 50001, S, 443, { flags: SYN }), tsS: 0 },
        { f: frame(C, 50001, S, 443, { flags: FIN }), tsS: 1 },
        { f: frame(S, 443, C, 50001, { flags: FIN }), tsS: 1.1 },
        { f: frame(C, 50002, S, 443, { flags: SYN }), tsS: 2 },
        { f: frame(S, 443, C, 50002, { flags: RST }), tsS: 2.1 },
        { f: frame(C, 50003, S, 53, { proto: 17, payload: 30 }), tsS: 3 },
        { f: frame(C, 50004, S, 443, { flags: SYN }), tsS: 200 },
      ],
      { tcpClosedS: 5, otherIdleS: 60 },
    );
    // by t=200 the closed flows and the idle UDP flow have been emitted
    expect(flows.map((f) => [f.origPort, f.endReason])).toEqual([
      [50001, 'fin'],
      [50002, 'rst'],
      [50003, 'idle'],
    ]);
    pp.finish();
    expect(flows[3]).toMatchObject({ origPort: 50004, endReason: 'eof' });
  });

  it('the active timeout splits a long flow; a SYN after close starts a new flow (port reuse)', () => {
    const { flows, pp } = run(
      [
        { f: frame(C, 50001, S, 443, { flags: ACK, payload: 10 }), tsS: 0 },
        { f: frame(C, 50001, S, 443, { flags: ACK, payload: 10 }), tsS: 50 },
        { f: frame(C, 50001, S, 443, { flags: ACK, payload: 10 }), tsS: 101 },
        { f: frame(C, 50005, S, 443, { flags: RST }), tsS: 102 },
        { f: frame(C, 50005, S, 443, { flags: SYN }), tsS: 102.5 },
      ],
      { activeS: 100 },
    );
    pp.finish();
    const p1 = flows.filter((f) => f.origPort === 50001);
    expect(p1.map((f) => [f.endReason, f.origPkts])).toEqual([
      ['active', 2],
      ['eof', 1],
    ]);
    const p5 = flows.filter((f) => f.origPort === 50005);
    expect(p5.map((f) => f.endReason)).toEqual(['rst', 'eof']);
  });

  it('at the memory bound the least recently active flow is evicted and emitted', () => {
    const frames = Array.from({ length: 40 }, (_, i) => ({ f: frame(C, 40000 + i, S, 443, { flags: SYN }), tsS: i * 0.001 }));
    frames.push({ f: frame(C, 40000, S, 443, { flags: ACK }), tsS: 1 }); // 40000 evicted earlier: starts again
    const { flows, pp } = run(frames, { maxFlows: 16 });
    const evicted = flows.filter((f) => f.endReason === 'evicted');
    expect(evicted.length).toBe(40 - 16 + 1);
    expect(evicted[0]!.origPort).toBe(40000); // oldest first
    pp.finish();
    // every packet is in exactly one emitted record
    expect(flows.reduce((a, f) => a + f.origPkts + f.respPkts, 0)).toBe(41);
    expect(pp.flows.ended.evicted).toBe(evicted.length);
  });
});

describe('meta objects reused by a slot\'s next flow', () => {
  it('a reused meta starts clean: id, ports, inspect, dissect state, handshake, entropy and shed are the new flow\'s', () => {
    const seen: { flowId: number; meta: FlowMeta; snap: string }[] = [];
    const t = new FlowTable({ maxFlows: 16 }, (r, m) => seen.push({ flowId: r.flowId, meta: m, snap: JSON.stringify({ ...m, dissectState: typeof m.dissectState }) }));
    const b = allocBatch(1);
    const pv = new PacketPath({}, { onFlow: () => {} }); // only for its decoder and view
    const packet = (i: number): void => {
      const f = frame('10.0.0.5', 40000 + i, '172.16.0.1', 443, { flags: 0x02 });
      b.buf = f; b.offset[0] = 0; b.capLen[0] = f.length; b.wireLen[0] = f.length; b.tsUs[0] = 1_700_000_000e6 + i; b.linkType[0] = 1; b.count = 1;
      expect(pv.decoder.decode(pv.view, b.buf, 0, f.length, f.length, 1, b.tsUs[0]!, 0)).toBe(true);
      const slot = t.update(pv.view);
      const m = t.meta[slot]!;
      // what dissect and overload leave on a meta
      if (i < 16) { m.handshake = { kind: 'tls', sni: `h${i}.example` } as unknown as FlowMeta['handshake']; m.payloadEntropy = 7.5; m.dissectState = i; m.inspect = false; }
    };
    t.shedLevel = 2;
    for (let i = 0; i < 16; i++) packet(i);
    t.shedLevel = 0;
    for (let i = 16; i < 32; i++) packet(i); // each evicts one of the first 16 and takes its slot
    t.flushAll();
    expect(seen.length).toBe(32);
    // the first 16 ended with what was left on them, before their slots were reused
    expect(JSON.parse(seen[0]!.snap)).toEqual({ flowId: 1, proto: 6, origPort: 40000, respPort: 443, inspect: false, dissectState: 'number', handshake: { kind: 'tls', sni: 'h0.example' }, payloadEntropy: 7.5, shed: 2 });
    // the next 16: same objects, nothing of the flows before them
    const later = seen.filter((x) => x.flowId > 16);
    expect(later.length).toBe(16);
    for (const x of later) {
      expect(seen.slice(0, 16).some((y) => y.meta === x.meta)).toBe(true);
      expect(JSON.parse(x.snap)).toEqual({ flowId: x.flowId, proto: 6, origPort: 40000 + x.flowId - 1, respPort: 443, inspect: true, dissectState: 'undefined' });
    }
  });
});

describe('fragments', () => {
  it('non-first fragments count into the flow of their first fragment, in the right direction', () => {
    const { flows, pp } = run([
      { f: frame(C, 5353, S, 53, { proto: 17, payload: 1400, frag: { off: 0, mf: true, id: 7 } }), tsS: 0 },
      { f: frame(C, 0, S, 0, { proto: 17, payload: 600, frag: { off: 1408, mf: false, id: 7 } }), tsS: 0.001 },
      { f: frame(C, 0, S, 0, { proto: 17, payload: 600, frag: { off: 1408, mf: false, id: 99 } }), tsS: 0.002 },
    ]);
    pp.finish();
    expect(flows.length).toBe(1);
    expect(flows[0]!.origPkts).toBe(2);
    expect(pp.flows.fragmentsOrphaned).toBe(1);
  });
});

describe('Community ID v1 (spec test vectors)', () => {
  const a = (s: string): Uint8Array => parseAddr(s)!;
  it('TCP IPv4', () => {
    expect(communityId(6, a('128.232.110.120'), 34855, a('66.35.250.204'), 80)).toBe('1:LQU9qZlK+B5F3KDmev6m5PMibrg=');
    // direction does not matter
    expect(communityId(6, a('66.35.250.204'), 80, a('128.232.110.120'), 34855)).toBe('1:LQU9qZlK+B5F3KDmev6m5PMibrg=');
  });
  it('UDP IPv4', () => {
    expect(communityId(17, a('192.168.1.52'), 54585, a('8.8.8.8'), 53)).toBe('1:d/FP5EW3wiY1vCndhwleRRKHowQ=');
  });
  it('records carry it', () => {
    const { flows, pp } = run([{ f: frame('128.232.110.120', 34855, '66.35.250.204', 80, { flags: SYN }), tsS: 0 }]);
    pp.finish();
    expect(flows[0]!.communityId).toBe('1:LQU9qZlK+B5F3KDmev6m5PMibrg=');
  });
});
