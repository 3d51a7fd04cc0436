/**
 * Flow records waiting packed in the EDR join (src/attribute/packed.ts): a packed record
 * unpacks to the same JSON (fields, order, values) for every packable record of the capture
 * corpus, and a join that packs the flows of tenants without EDR emits exactly what one that
 * keeps objects emits — also when the tenant's first record arrives late and joins them.
 */
import { describe, expect, it } from 'vitest';
import { Dissector, defaultDissectOptions } from '../../src/dissect/index.js';
import { PassiveDns, defaultPassiveDnsOptions } from '../../src/names/passive-dns.js';
import { replayFile } from '../../src/pipeline.js';
import { Attributor, defaultAttributeOptions, flowObsId } from '../../src/attribute/join.js';
import { PackedFlows, packable } from '../../src/attribute/packed.js';
import type { EdrConnection, FlowRecord, Observation } from '../../src/records.js';
import { corpusDir, corpusEntries } from '../helpers/corpus.js';
import { mkFlow } from './helpers.js';

const dir = corpusDir();

describe.skipIf(dir === undefined)('packed flow records: the corpus', () => {
  it('every packable record of every corpus capture unpacks to the same JSON', async () => {
    const seen = { packed: 0, objects: 0, host: 0, vlan: 0, v6: 0, conflict: 0, udp: 0 };
    const store = new PackedFlows();
    for (const e of corpusEntries(dir ?? '')) {
      const names = new PassiveDns({ ...defaultPassiveDnsOptions, maxEntries: 1000 });
      const d = new Dissector(defaultDissectOptions, { onDns: (a) => names.addAnswer(a) });
      const { flows } = await replayFile(e.pcap, { dissector: d, onFlow: (r) => names.nameFlow(r) });
      for (const f of flows) {
        if (!packable(f)) {
          seen.objects++;
          continue;
        }
        const want = JSON.stringify(f);
        const s = store.add(f, 't1', false);
        expect(JSON.stringify(store.unpack(s)), `${e.name} flow ${f.flowId}`).toBe(want);
        expect(store.tenantOf(s)).toBe('t1');
        expect(store.lastTsUs(s)).toBe(f.lastTsUs);
        store.remove(s);
        seen.packed++;
        if (f.host !== undefined) seen.host++;
        if (f.vlan.length > 0) seen.vlan++;
        if (f.origAddr.includes(':')) seen.v6++;
        if (f.dnsConflict !== undefined) seen.conflict++;
        if (f.proto === 17) seen.udp++;
      }
    }
    expect(store.size).toBe(0);
    // the corpus has every kind: named by DNS, VLAN-tagged, IPv6, UDP, and records that stay objects
    for (const [k, n] of Object.entries(seen)) expect(n, k).toBeGreaterThan(0);
  });
});

describe('packed flow records: the store', () => {
  it('grows past its first 1024 slots, reuses freed slots and keeps the emitted mark per slot', () => {
    const store = new PackedFlows();
    const flows = Array.from({ length: 3000 }, (_, i) =>
      mkFlow({ origAddr: '10.0.0.1', origPort: 1024 + i, respAddr: '10.0.0.2', respPort: 443, firstTsUs: 1e15 + i, vlan: i % 3 === 0 ? [] : i % 3 === 1 ? [7] : [7, 4095] }));
    const slots = flows.map((f, i) => store.add(f, `t${i % 2}`, i % 5 === 0));
    expect(new Set(slots).size).toBe(3000);
    expect(store.size).toBe(3000);
    flows.forEach((f, i) => {
      expect(store.unpack(slots[i]!)).toEqual(f);
      expect(store.emitted(slots[i]!)).toBe(i % 5 === 0);
      expect(store.tenantOf(slots[i]!)).toBe(`t${i % 2}`);
    });
    store.setEmitted(slots[1]!);
    expect(store.emitted(slots[1]!)).toBe(true);
    store.remove(slots[10]!);
    expect(store.add(flows[0]!, 't9', false)).toBe(slots[10]);
    expect(store.size).toBe(3000);
  });

  it('keeps as objects what it could not restore exactly', () => {
    const f = mkFlow({ origAddr: '10.0.0.1', origPort: 5000, respAddr: '10.0.0.2', respPort: 443, firstTsUs: 1e15 });
    expect(packable(f)).toBe(true);
    expect(packable({ ...f, hostAgrees: true })).toBe(false);
    expect(packable({ ...f, payloadEntropy: 7.5 })).toBe(false);
    expect(packable({ ...f, vlan: [1, 2, 3] })).toBe(false);
    expect(packable({ ...f, vlan: [0] })).toBe(false);
    expect(packable({ ...f, handshake: { transport: 'tls' } as NonNullable<FlowRecord['handshake']> })).toBe(false);
  });
});

describe('the join with packed waiting flows', () => {
  const T0 = Date.UTC(2024, 0, 10, 12, 0, 0) * 1000;
  const CLIENT = '10.1.2.3';
  const API = '104.18.7.192';
  const rec = (tsMs: number, localPort: number, tenant: string, localAddr = CLIENT): EdrConnection => ({
    v: 1, tenant, source: 'sysmon', tsKind: 'connect', receivedAtMs: 0, deviceId: 'laptop-1', localAddr, remoteAddr: API,
    remotePort: 443, transport: 'tcp', direction: 'outbound', pid: 4242, processKey: '{p1}', processName: 'python.exe',
    sha256: 'ab'.repeat(32), hashUnknown: false, tsMs, localPort,
  });

  /** The same input through a join that packs (fromTable) and one that does not. */
  function both(holdMs: number, maxFlows: number, drive: (add: (f: FlowRecord) => void, at: Attributor) => void) {
    const runs = [true, false].map((fromTable) => {
      const out: Observation[] = [];
      const at = new Attributor({ ...defaultAttributeOptions, holdMs, maxFlows }, { emit: (o) => out.push(structuredClone(o)) });
      drive((f) => at.addFlow(structuredClone(f), f.origPort % 2 === 0 ? 'even' : 'odd', fromTable), at);
      at.flush();
      return { out, stats: at.stats() };
    });
    return { packed: runs[0]!, objects: runs[1]! };
  }

  for (const holdMs of [0, 30_000]) {
    it(`emits the same observations and counts (hold ${holdMs / 1000} s, late first records, eviction)`, () => {
      const flows = Array.from({ length: 40 }, (_, i) =>
        mkFlow({ origAddr: CLIENT, origPort: 50000 + i, respAddr: API, respPort: 443, firstTsUs: T0 + i * 2_000_000, host: i % 4 === 0 ? 'api.example.com' : undefined, hostSource: i % 4 === 0 ? 'dns-any' : 'none' } as FlowRecord));
      // a flow whose late record is hours off: evaluated again, unchanged, so not emitted again
      flows.splice(3, 0, mkFlow({ origAddr: '10.9.9.9', origPort: 50100, respAddr: API, respPort: 443, firstTsUs: T0 + 5_000_000 }));
      for (const f of flows) if (f.host === undefined) delete f.host;
      const { packed, objects } = both(holdMs, 30, (add, at) => {
        flows.slice(0, 25).forEach(add);
        at.tick(T0 + 50 * 1_000_000); // releases the held flows of the first 20 s
        // the even tenant's first record: its waiting flows are tracked, one of them joins late
        at.addEdr(rec(T0 / 1000 + 20 * 2000 + 150, 50020, 'even'));
        at.addEdr(rec(T0 / 1000 + 5 * 3_600_000, 50100, 'even', '10.9.9.9'));
        flows.slice(25).forEach(add); // the odd tenant's flows still pack; eviction past 30
        at.addEdr(rec(T0 / 1000 + 30 * 2000 + 150, 50030, 'even'));
      });
      expect(packed.out).toEqual(objects.out);
      expect(packed.stats).toEqual(objects.stats);
      // the late joins happened (the first record's flow was waiting before the tenant had EDR)
      const joined = packed.out.filter((o) => o.client?.processName === 'python.exe').map((o) => o.obsId);
      const port = (n: number) => flows.find((f) => f.origPort === n)!;
      expect(joined).toContain(flowObsId(port(50020)));
      // the record hours off joined nothing and changed nothing: one observation for its flow
      expect(packed.out.filter((o) => o.obsId === flowObsId(port(50100))).length).toBe(1);
      expect(packed.stats['flows.evicted']).toBe(11);
      expect(packed.out.filter((o) => !o.update && o.kind === 'flow').length).toBe(41);
    });
  }
});
