import { describe, expect, it } from 'vitest';
import { Attributor, base36, defaultAttributeOptions, flowObsId, obsIdOf, type AttributeOptions } from '../../src/attribute/join.js';
import { communityId, COMMUNITY_ID_DEFERRED } from '../../src/flow/community-id.js';
import type { EdrConnection, Observation } from '../../src/records.js';
import { mkFlow } from './helpers.js';

const T0 = Date.UTC(2024, 0, 10, 12, 0, 0); // capture ms
const CLIENT = '10.1.2.3';
const API = '104.18.7.192';

function rec(p: Partial<EdrConnection> & Pick<EdrConnection, 'tsMs' | 'localPort'>): EdrConnection {
  return {
    v: 1, tenant: 't1', source: 'sysmon', tsKind: 'connect', receivedAtMs: 0,
    deviceId: 'laptop-1', localAddr: CLIENT, remoteAddr: API, remotePort: 443,
    transport: 'tcp', direction: 'outbound', pid: 4242, processKey: '{p1}',
    processName: 'python.exe', sha256: 'ab'.repeat(32), hashUnknown: false, ...p,
  };
}

function harness(opts: Partial<AttributeOptions> = {}) {
  const out: Observation[] = [];
  const at = new Attributor({ ...defaultAttributeOptions, holdMs: 0, ...opts }, { emit: (o) => out.push(o) });
  const last = (id: string) => [...out].reverse().find((o) => o.obsId === id);
  return { at, out, last };
}

const flowAt = (ms: number, port: number) => mkFlow({ origAddr: CLIENT, origPort: port, respAddr: API, respPort: 443, firstTsUs: ms * 1000 });

describe('join: arrival order and skew', () => {
  for (const skewMs of [0, 60_000, -60_000, 11 * 3_600_000]) {
    for (const order of ['edr-first', 'flow-first'] as const) {
      it(`attributes with ${skewMs / 1000}s skew, ${order}`, () => {
        const { at, out, last } = harness();
        // Three connections: the first teaches the skew, the others must match in the narrow window.
        const flows = [flowAt(T0, 50001), flowAt(T0 + 5 * 60_000, 50002), flowAt(T0 + 9 * 60_000, 50003)];
        const recs = flows.map((f, i) => rec({ tsMs: f.firstTsUs / 1000 + skewMs + 150 + i * 20, localPort: f.origPort }));
        if (order === 'edr-first') { recs.forEach((r) => at.addEdr(r)); flows.forEach((f) => at.addFlow(f, 't1')); }
        else { flows.forEach((f) => at.addFlow(f, 't1')); recs.forEach((r) => at.addEdr(r)); }
        for (const f of flows) {
          const o = last(flowObsId(f))!;
          expect(o.client?.processName).toBe('python.exe');
          expect(o.client?.sha256).toBe('ab'.repeat(32));
          expect(o.client?.method).toBe('edr');
          expect(o.update).toBe(order === 'flow-first');
          expect(o.bytesOut).toBe(f.origWireBytes);
        }
        const learned = at.stats()['skew_ms.laptop-1.sysmon']!;
        expect(Math.abs(learned - (skewMs + 170))).toBeLessThanOrEqual(20);
        if (order === 'flow-first') {
          // first emission unattributed, then one update per flow
          expect(out.filter((o) => !o.update && o.client === undefined).length).toBe(3);
          expect(at.stats()['join.late']).toBe(3);
        }
      });
    }
  }

  it('after learning, a record outside the narrow window does not match', () => {
    const { at, last } = harness();
    const f1 = flowAt(T0, 50010);
    at.addEdr(rec({ tsMs: T0 + 60_000, localPort: 50010 }));
    at.addFlow(f1, 't1');
    expect(last(flowObsId(f1))!.client?.method).toBe('edr');
    const f2 = flowAt(T0 + 120_000, 50011);
    at.addEdr(rec({ tsMs: T0 + 120_000 + 60_000 + 30_000, localPort: 50011 })); // 30 s off the learned skew
    at.addFlow(f2, 't1');
    expect(last(flowObsId(f2))!.client?.method).toBe('device-map');
  });
});

describe('join: candidates', () => {
  it('port reuse: the nearest record in time wins', () => {
    const { at, last } = harness();
    at.addEdr(rec({ tsMs: T0 - 20 * 60_000, localPort: 50100, pid: 1, processKey: '{old}', processName: 'old.exe' }));
    at.addEdr(rec({ tsMs: T0 + 200, localPort: 50100, pid: 2, processKey: '{new}', processName: 'new.exe' }));
    at.addEdr(rec({ tsMs: T0 + 30 * 60_000, localPort: 50100, pid: 3, processKey: '{later}', processName: 'later.exe' }));
    const f = flowAt(T0, 50100);
    at.addFlow(f, 't1');
    expect(last(flowObsId(f))!.client?.processName).toBe('new.exe');
  });

  it('rejects a process that started after the flow', () => {
    const { at, last } = harness();
    // Learn the skew (0) on another connection first.
    const f0 = flowAt(T0 - 60_000, 50200);
    at.addEdr(rec({ tsMs: T0 - 60_000, localPort: 50200 }));
    at.addFlow(f0, 't1');
    at.addEdr(rec({ tsMs: T0 + 100, localPort: 50201, processKey: '{young}', processName: 'young.exe', processStartMs: T0 + 60_000 }));
    const f = flowAt(T0, 50201);
    at.addFlow(f, 't1');
    const o = last(flowObsId(f))!;
    expect(o.client?.processName).toBeUndefined();
    expect(at.stats()['join.rejected_process_after_flow']).toBeGreaterThanOrEqual(1);
  });

  it('two different processes within tolerance → ambiguous, no process picked', () => {
    const { at, last } = harness();
    at.addEdr(rec({ tsMs: T0 + 100, localPort: 50300, pid: 10, processName: 'a.exe' }));
    at.addEdr(rec({ tsMs: T0 + 300, localPort: 50300, pid: 11, processName: 'b.exe' }));
    const f = flowAt(T0, 50300);
    at.addFlow(f, 't1');
    const c = last(flowObsId(f))!.client!;
    expect(c.ambiguous).toBe(true);
    expect(c.deviceId).toBe('laptop-1');
    expect(c.processName).toBeUndefined();
    expect(c.hashUnknown).toBe(true);
  });

  it('the same process reported by two sources is one candidate; the richer record wins', () => {
    const { at, last } = harness();
    const wfp = rec({ source: 'wfp', tsMs: T0 + 900, localPort: 50400, hashUnknown: true });
    delete wfp.processKey; // WFP 5156 carries no process instance id and no hash
    delete wfp.sha256;
    at.addEdr(wfp);
    at.addEdr(rec({ tsMs: T0 + 300, localPort: 50400 }));
    const f = flowAt(T0, 50400);
    at.addFlow(f, 't1');
    const c = last(flowObsId(f))!.client!;
    expect(c.ambiguous).toBeUndefined();
    expect(c.source).toBe('sysmon');
    expect(c.sha256).toBe('ab'.repeat(32));
  });

  it('a SHA-1-only record (Defender) is richer than one without any hash: its binary identity is kept', () => {
    const { at, last } = harness();
    const wfp = rec({ source: 'wfp', tsMs: T0 + 100, localPort: 50410, hashUnknown: true, lineageHash: 'l'.repeat(64), processPath: '/usr/bin/tool' });
    delete wfp.sha256;
    const mde = rec({ source: 'mde', tsMs: T0 + 900, localPort: 50410, sha1: 'c1'.repeat(20) });
    delete mde.sha256;
    delete mde.processKey;
    at.addEdr(wfp);
    at.addEdr(mde);
    const f = flowAt(T0, 50410);
    at.addFlow(f, 't1');
    const c = last(flowObsId(f))!.client!;
    expect(c.ambiguous).toBeUndefined();
    expect(c.source).toBe('mde');
    expect(c.sha1).toBe('c1'.repeat(20));
    expect(c.hashUnknown).toBe(false);
  });

  it('both ends attributed when both hosts report; server side from the accept record', () => {
    const { at, last } = harness();
    const server = '10.1.9.9';
    at.addEdr(rec({ tsMs: T0, localPort: 50500, remoteAddr: server, remotePort: 8443 }));
    at.addEdr(rec({ deviceId: 'srv-1', tsMs: T0 - 2000, tsKind: 'accept', direction: 'inbound', localAddr: server, localPort: 8443, remoteAddr: CLIENT, remotePort: 50500, processName: 'nginx', pid: 80 }));
    const f = mkFlow({ origAddr: CLIENT, origPort: 50500, respAddr: server, respPort: 8443, firstTsUs: T0 * 1000 });
    at.addFlow(f, 't1');
    const o = last(flowObsId(f))!;
    expect(o.client?.deviceId).toBe('laptop-1');
    expect(o.server?.deviceId).toBe('srv-1');
    expect(o.server?.processName).toBe('nginx');
    expect(o.server?.side).toBe('resp');
  });

  it('one-sided mirror: the record\'s first-packet orientation stands; an endpoint that says otherwise is counted', () => {
    const { at, last } = harness();
    at.addEdr(rec({ tsMs: T0, localPort: 50600 }));
    // The capture saw the responder's packet first: orig = API. The endpoint's outbound record
    // is on the record's resp side: it is that side's attribution, and the observation's
    // client stays the record's orig (record, observation and alert name the same client).
    const f = mkFlow({ origAddr: API, origPort: 443, respAddr: CLIENT, respPort: 50600, firstTsUs: T0 * 1000, origBy: 'first', origWireBytes: 9000, respWireBytes: 700 });
    at.addFlow(f, 't1');
    const o = last(flowObsId(f))!;
    expect(o.clientAddr).toBe(API);
    expect(o.serverAddr).toBe(CLIENT);
    expect(o.serverPort).toBe(50600);
    expect(o.client).toBeUndefined();
    expect(o.server?.side).toBe('resp');
    expect(o.server?.deviceId).toBe('laptop-1');
    expect(o.bytesOut).toBe(9000);
    expect(at.stats()['join.orientation_disputed']).toBe(1);
    expect(at.stats()['join.orientation_corrected']).toBeUndefined();
  });

  it('device map labels a flow without a per-connection record; other tenants do not see it', () => {
    const { at, last } = harness();
    at.addEdr(rec({ tsMs: T0, localPort: 50700 }));
    const f = flowAt(T0 + 60_000, 50701);
    at.addFlow(f, 't1');
    const c = last(flowObsId(f))!.client!;
    expect(c.method).toBe('device-map');
    expect(c.deviceId).toBe('laptop-1');
    expect(c.processName).toBeUndefined();
    const seen: Observation[] = [];
    const at2 = new Attributor({ ...defaultAttributeOptions, holdMs: 0 }, { emit: (o) => seen.push(o) });
    at2.addEdr(rec({ tsMs: T0, localPort: 50702 }));
    at2.addFlow(flowAt(T0, 50702), 't2');
    expect(seen[0]?.client).toBeUndefined();
  });
});

describe('join: edr-only, waits, bounds', () => {
  it('a loopback record no captured flow matched becomes an edr-only observation when the window ends, not before', () => {
    const { at, out } = harness({ learnWindowMs: 60_000, waitMs: 60_000 });
    at.addEdr(rec({ tsMs: T0, localAddr: '127.0.0.1', localPort: 51000, remoteAddr: '127.0.0.1', remotePort: 11434, processName: 'node.exe' }));
    at.addEdr(rec({ tsMs: T0, localAddr: '127.0.0.1', localPort: 11434, remoteAddr: '127.0.0.1', remotePort: 51000, direction: 'inbound', tsKind: 'accept', processName: 'ollama.exe' }));
    expect(out.length).toBe(0); // a captured loopback flow may still come
    at.tick((T0 + 60_000) * 1000);
    expect(out.length).toBe(0);
    at.tick((T0 + 3 * 60_000) * 1000);
    expect(out.length).toBe(1); // the runtime's own inbound record is the same connection
    const o = out[0]!;
    expect(o.kind).toBe('edr-only');
    expect(o.serverPort).toBe(11434);
    expect(o.client?.processName).toBe('node.exe');
    expect(o.tsUs).toBe(T0 * 1000);
    expect(at.stats()['edr_only.loopback']).toBe(1);
  });

  it('an edr-only observation carries the tenant resolved when it is formed (the feed\'s label without a resolver)', () => {
    const seen: Observation[] = [];
    const labels: string[] = [];
    const mk = (tenantOfEdr?: (r: EdrConnection) => string): Attributor =>
      new Attributor({ ...defaultAttributeOptions, holdMs: 0 }, tenantOfEdr === undefined ? { emit: (o) => seen.push(o) } : { emit: (o) => seen.push(o), tenantOfEdr });
    const a = mk((r) => { labels.push(r.tenant); return 'acme'; });
    a.addEdr(rec({ tsMs: T0, localPort: 51500 }));
    a.flush();
    const b = mk();
    b.addEdr(rec({ tsMs: T0, localPort: 51501 }));
    b.flush();
    expect(seen.map((o) => [o.kind, o.tenant])).toEqual([['edr-only', 'acme'], ['edr-only', 't1']]);
    expect(labels).toEqual(['t1']);
  });

  for (const lo of ['127.0.0.1', '::1']) {
    for (const order of ['edr-first', 'flow-first'] as const) {
      it(`a captured loopback flow [${lo}]:11434 joins its records: one connection, client and runtime attributed, no edr-only (${order})`, () => {
        const { at, out } = harness({ holdMs: 30_000 });
        const f = mkFlow({ origAddr: lo, origPort: 51000, respAddr: lo, respPort: 11434, firstTsUs: (T0 + 40) * 1000 });
        const recs = [
          rec({ tsMs: T0 + 100, localAddr: lo, localPort: 51000, remoteAddr: lo, remotePort: 11434, processName: 'curl', pid: 11 }),
          rec({ tsMs: T0 + 101, localAddr: lo, localPort: 11434, remoteAddr: lo, remotePort: 51000, direction: 'inbound', tsKind: 'accept', processName: 'ollama', pid: 12 }),
        ];
        if (order === 'edr-first') { recs.forEach((r) => at.addEdr(r)); at.addFlow(f, 't1'); }
        else { at.addFlow(f, 't1'); recs.forEach((r) => at.addEdr(r)); }
        at.flush();
        // one connection: one observation (its second record may update it), never an edr-only one
        expect(out.every((o) => o.kind === 'flow' && o.obsId === flowObsId(f))).toBe(true);
        expect(out.filter((o) => !o.update).length).toBe(1);
        const o = out[out.length - 1]!;
        expect(o.clientAddr).toBe(lo);
        expect(o.client?.processName).toBe('curl');
        expect(o.client?.deviceId).toBe('laptop-1');
        expect(o.client?.method).toBe('edr');
        expect(o.server?.processName).toBe('ollama');
        expect(o.bytesOut).toBe(f.origWireBytes);
        const s = at.stats();
        expect(s['edr_only.loopback']).toBeUndefined();
        expect(s['join.hit']).toBe(1);
      });
    }
  }

  it('edr_only_loopback off: captured loopback flows are still attributed; unmatched loopback records become nothing', () => {
    const { at, out } = harness({ edrOnlyLoopback: false });
    const f = mkFlow({ origAddr: '127.0.0.1', origPort: 51001, respAddr: '127.0.0.1', respPort: 11434, firstTsUs: T0 * 1000 });
    at.addEdr(rec({ tsMs: T0 + 50, localAddr: '127.0.0.1', localPort: 51001, remoteAddr: '127.0.0.1', remotePort: 11434, processName: 'curl' }));
    at.addEdr(rec({ tsMs: T0 + 60, localAddr: '127.0.0.1', localPort: 51002, remoteAddr: '127.0.0.1', remotePort: 11434, processName: 'curl' }));
    at.addFlow(f, 't1');
    at.flush();
    expect(out.map((o) => `${o.kind}|${o.client?.processName ?? '-'}`)).toEqual(['flow|curl']);
    expect(at.stats()['records.unmatched_loopback']).toBe(1);
  });

  it('loopback never labels a flow through the device map (127.0.0.1 is on every device)', () => {
    const { at, out } = harness();
    at.addEdr(rec({ tsMs: T0, localAddr: '127.0.0.1', localPort: 51003, remoteAddr: '127.0.0.1', remotePort: 11434, processName: 'curl' }));
    const other = mkFlow({ origAddr: '127.0.0.1', origPort: 40000, respAddr: '127.0.0.1', respPort: 8080, firstTsUs: T0 * 1000 });
    at.addFlow(other, 't1');
    at.flush();
    const o = out.find((x) => x.obsId === flowObsId(other))!;
    expect(o.client).toBeUndefined();
  });

  it('an edr-only observation is moved onto the capture clock with the device\'s learned skew (loopback and off-tap)', () => {
    const skew = 11 * 3_600_000;
    const { at, out } = harness();
    // a captured connection teaches the device's skew
    const f = flowAt(T0, 50500);
    at.addEdr(rec({ tsMs: T0 + skew + 120, localPort: 50500 }));
    at.addFlow(f, 't1');
    expect(at.stats()['skew_ms.laptop-1.sysmon']).toBe(skew + 120);
    // a local runtime call and an off-tap call the sensor never saw, on the device's clock
    at.addEdr(rec({ tsMs: T0 + skew + 5_000, localAddr: '127.0.0.1', localPort: 51004, remoteAddr: '127.0.0.1', remotePort: 11434, processName: 'curl' }));
    at.addEdr(rec({ tsMs: T0 + skew + 6_000, localPort: 50501, remoteAddr: '203.0.113.7' }));
    at.flush();
    const edrOnly = out.filter((o) => o.kind === 'edr-only').sort((a, b) => a.tsUs - b.tsUs);
    expect(edrOnly.map((o) => [o.serverPort, o.tsUs, o.client?.skewMs])).toEqual([
      [11434, (T0 + 5_000 - 120) * 1000, skew + 120],
      [443, (T0 + 6_000 - 120) * 1000, skew + 120],
    ]);
  });

  it('an unmatched outbound record expires into an off-tap edr-only observation', () => {
    const { at, out } = harness({ learnWindowMs: 60_000, waitMs: 60_000 });
    at.addEdr(rec({ tsMs: T0, localPort: 51100, remoteNameHint: 'api.openai.com' }));
    at.tick((T0 + 10 * 60_000) * 1000);
    expect(out.length).toBe(1);
    expect(out[0]!.kind).toBe('edr-only');
    expect(out[0]!.host).toBe('api.openai.com');
    expect(out[0]!.hostSource).toBe('edr');
  });

  it('a flow stops waiting after waitMs: a later record no longer updates it', () => {
    const { at, out } = harness({ waitMs: 30_000 });
    const f = flowAt(T0, 51200);
    at.addFlow(f, 't1');
    at.tick((T0 + 5 * 60_000) * 1000);
    at.addEdr(rec({ tsMs: T0, localPort: 51200 }));
    expect(out.filter((o) => o.obsId === flowObsId(f)).length).toBe(1);
    expect(at.stats()['join.miss']).toBe(1);
  });

  it('memory is bounded on both sides, evictions counted', () => {
    const { at } = harness({ maxRecords: 50, maxFlows: 20 });
    for (let i = 0; i < 200; i++) at.addEdr(rec({ tsMs: T0 + i, localPort: 52000 + i }));
    for (let i = 0; i < 100; i++) at.addFlow(flowAt(T0 + i, 53000 + i), 't1');
    const s = at.stats();
    expect(s['records.indexed']).toBe(50);
    expect(s['records.evicted']).toBe(150);
    expect(s['flows.waiting']).toBe(20);
    expect(s['flows.evicted']).toBe(80);
  });
});

describe('join: hold before the first emission', () => {
  it('a flow without its record is held; a record within the hold gives one attributed, non-update observation', () => {
    const { at, out } = harness({ holdMs: 30_000 });
    const f = flowAt(1_000_000, 50001);
    at.addFlow(f, 't1');
    expect(out.length).toBe(0);
    at.addEdr(rec({ localPort: 50001, tsMs: 1_000_000 + 5_000 }));
    expect(out.length).toBe(1);
    expect(out[0]!.update).toBe(false);
    expect(out[0]!.client?.processName).toBe('python.exe');
    expect(out[0]!.obsId).toBe(flowObsId(f));
  });

  it('the hold expires on capture time (tick) or at flush, unattributed', () => {
    const { at, out } = harness({ holdMs: 30_000 });
    at.addFlow(flowAt(1_000_000, 50002), 't1');
    at.addFlow(flowAt(1_000_100, 50003), 't1');
    at.tick((1_000_000 + 29_000) * 1000);
    expect(out.length).toBe(0);
    at.tick((1_000_000 + 40_000) * 1000); // flows end 2 s after they start; hold 30 s after that
    expect(out.map((o) => o.flow?.origPort)).toEqual([50002, 50003]);
    expect(out.every((o) => o.client === undefined && o.update === false)).toBe(true);
    const { at: at2, out: out2 } = harness({ holdMs: 30_000 });
    at2.addFlow(flowAt(2_000_000, 50004), 't1');
    at2.flush();
    expect(out2.length).toBe(1);
  });

  it('the hold sweep passes emitted flows, stops at the first young one and resumes there', () => {
    const { at, out } = harness({ holdMs: 30_000 });
    at.addEdr(rec({ localPort: 50011, tsMs: 1_000_000 }));
    at.addFlow(flowAt(1_000_000, 50010), 't1'); // held
    at.addFlow(flowAt(1_000_000, 50011), 't1'); // matched at once: emitted, not held
    at.addFlow(flowAt(1_020_000, 50012), 't1'); // held, 20 s younger
    at.addFlow(flowAt(1_000_000, 50013), 't1'); // held, old, but behind a young one (roughly age-ordered)
    expect(out.map((o) => o.flow?.origPort)).toEqual([50011]);
    at.tick((1_000_000 + 40_000) * 1000);
    expect(out.map((o) => o.flow?.origPort)).toEqual([50011, 50010]);
    at.tick((1_020_000 + 40_000) * 1000);
    expect(out.map((o) => o.flow?.origPort)).toEqual([50011, 50010, 50012, 50013]);
    expect(out.every((o) => o.update === false)).toBe(true);
  });

  it('a scan through a small table: every flow is emitted exactly once, evictions counted', () => {
    const { at, out } = harness({ holdMs: 30_000, maxFlows: 1_000 });
    for (let i = 0; i < 20_000; i++) {
      at.addFlow(mkFlow({ origAddr: '10.9.9.9', origPort: 40000, respAddr: `172.16.${i >> 8}.${i & 255}`, respPort: 443, firstTsUs: (T0 + i / 10) * 1000 }), 't1');
      if (i % 1000 === 999) at.tick((T0 + i / 10) * 1000);
    }
    expect(out.length).toBe(19_000);
    at.flush();
    expect(out.length).toBe(20_000);
    expect(new Set(out.map((o) => o.obsId)).size).toBe(20_000);
    const s = at.stats();
    expect(s['flows.evicted']).toBe(19_000);
    expect(s['flows.waiting']).toBe(0);
    expect(s['join.miss']).toBe(20_000);
  });
});

describe('observation ids', () => {
  it('base36 is Number#toString(36) for every integer, its cached high digits included', () => {
    const cases = [0, 1, 35, 36, 36 ** 4 - 1, 36 ** 4, 36 ** 4 + 1, 1_767_225_600_000_000, 2 ** 53 - 1, 2 ** 53, -5, 1.5, NaN];
    // a walk through time stamps (the high part cached) and a spread of magnitudes
    for (let i = 0; i < 20_000; i++) cases.push(1_767_225_600_000_000 + i * 997, Math.floor(2 ** (i % 53) * ((i * 7919) % 1000) / 1000));
    for (const n of cases) expect(base36(n), String(n)).toBe(n.toString(36));
    const f = flowAt(1_767_225_600_123, 50001);
    expect(flowObsId(f)).toBe(`f${(1_767_225_600_123_000).toString(36)}.${f.communityId.slice(2)}`);
  });

  it('a join that defers ids (the pipeline\'s) emits them empty; obsIdOf names each as an eager join does, Community ID included', () => {
    const ip = (s: string): Uint8Array => Uint8Array.from(s.split('.').map(Number));
    const cid = (port: number): string => communityId(6, ip(CLIENT), port, ip(API), 443);
    // records of a flow table that deferred the Community ID: t1 has EDR (objects), t2 none (packed)
    const mk = (port: number, ms: number) => ({ ...flowAt(ms, port), communityId: COMMUNITY_ID_DEFERRED });
    const lazy = harness({ holdMs: 0 });
    lazy.at.lazyObsId = true;
    const eager = harness({ holdMs: 0 });
    lazy.at.addEdr(rec({ localPort: 50011, tsMs: 1_000_000 + 100 }));
    eager.at.addEdr(rec({ localPort: 50011, tsMs: 1_000_000 + 100 }));
    const flows = [mk(50011, 1_000_000), mk(50012, 1_000_010)];
    const other = mk(50013, 1_000_020);
    for (const f of flows) { lazy.at.addFlow(f, 't1'); eager.at.addFlow({ ...f, communityId: cid(f.origPort) }, 't1'); }
    lazy.at.addFlow(other, 't2', true);
    eager.at.addFlow({ ...other, communityId: cid(50013) }, 't2', true);
    // a late record: an update of the second flow, same id
    lazy.at.addEdr(rec({ localPort: 50012, tsMs: 1_000_010 + 100 }));
    eager.at.addEdr(rec({ localPort: 50012, tsMs: 1_000_010 + 100 }));
    lazy.at.flush();
    eager.at.flush();
    expect(lazy.out.map((o) => [o.obsId, o.flow?.communityId])).toEqual([['', ''], ['', ''], ['', ''], ['', '']]);
    expect(lazy.out.map((o) => obsIdOf(o))).toEqual(eager.out.map((o) => o.obsId));
    expect(eager.out.map((o) => o.obsId)).toEqual([
      `f${(1_000_000_000).toString(36)}.${cid(50011).slice(2)}`,
      `f${(1_000_010_000).toString(36)}.${cid(50012).slice(2)}`,
      `f${(1_000_020_000).toString(36)}.${cid(50013).slice(2)}`,
      `f${(1_000_010_000).toString(36)}.${cid(50012).slice(2)}`,
    ]);
    expect(lazy.out.map((o) => o.update)).toEqual([false, false, false, true]);
    // the flow records the observations carry were completed in place
    expect(lazy.out.map((o) => o.flow?.communityId)).toEqual([cid(50011), cid(50012), cid(50013), cid(50012)]);
  });
});

describe('join: EDR records expired out of order', () => {
  it('records of a device with a learned skew expire before older unlearned ones; the index stays consistent', () => {
    const { at, out } = harness({ learnWindowMs: 3_600_000, toleranceMs: 1_000, waitMs: 10_000 });
    // laptop-1 learns its skew from one matched pair; laptop-2 never does (its records keep the wide window).
    at.addEdr(rec({ tsMs: T0, localPort: 50100 }));
    at.addFlow(flowAt(T0, 50100), 't1');
    // Two of every three records are laptop-1's, the third laptop-2's.
    for (let i = 0; i < 2400; i++) {
      const two = i % 3 === 0;
      at.addEdr(rec({ tsMs: T0 + 1 + i, localPort: 51000 + i, deviceId: two ? 'laptop-2' : 'laptop-1', localAddr: two ? '10.1.2.4' : CLIENT, direction: 'inbound' }));
    }
    expect(at.stats()['records.indexed']).toBe(2401);
    at.tick((T0 + 60_000) * 1000);
    // The learned device's 1600 records (and the matched first one) expired between laptop-2's
    // young ones (their slots compacted away).
    expect(at.stats()['records.indexed']).toBe(800);
    expect(at.stats()['records.unmatched']).toBe(1600);
    // laptop-2's records still match: a flow to one of them joins.
    const f = mkFlow({ origAddr: '10.1.2.4', origPort: 51000, respAddr: API, respPort: 443, firstTsUs: (T0 + 1) * 1000 });
    at.addFlow(f, 't1');
    expect(out.find((o) => o.obsId === flowObsId(f))?.client?.deviceId).toBe('laptop-2');
    at.tick((T0 + 2 * 3_600_000) * 1000);
    expect(at.stats()['records.indexed']).toBe(0);
  });
});
