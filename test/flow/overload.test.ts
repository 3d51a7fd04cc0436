/**
 * Live overload, on the wall clock the governor reads (mocked here, one batch per window): a
 * burst of new flows above the analysis budget sheds new flows in the documented order (not
 * dissected, not analyzed) while every flow is still counted and emitted; flows that began
 * before keep their level; after `recover_s` calm seconds per level the sensor is back to
 * normal by itself, and the same traffic is dissected and analyzed exactly as by a pipeline
 * that never saw the burst (same-run baseline). One event when the episode starts, one when it
 * ends, with the counts.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { configFromObject } from '../../src/config.js';
import { Pipeline, type OverloadEvent } from '../../src/pipeline.js';
import type { FlowRecord, PacketBatch } from '../../src/records.js';
import { readCaptureFile } from '../../src/source/file.js';
import { Store } from '../../src/store/store.js';
import { repoRoot } from '../helpers/corpus.js';

const demo = join(repoRoot, 'pcaps', 'demo', 'demo.pcap.gz');
const T0_US = 1_767_225_600_000_000;

/** `n` TCP SYNs from 10.0.0.5 to distinct (address, port) pairs starting at `k0`: n new flows. */
function synBatch(k0: number, n: number, tsUs: number): PacketBatch {
  const len = 54;
  const buf = Buffer.alloc(n * len);
  const b: PacketBatch = {
    buf, count: n, offset: new Uint32Array(n), capLen: new Uint32Array(n).fill(len), wireLen: new Uint32Array(n).fill(len),
    tsUs: new Float64Array(n).fill(tsUs), linkType: new Uint16Array(n).fill(1), ifIndex: new Uint16Array(n),
  };
  for (let i = 0; i < n; i++) {
    const k = k0 + i;
    const o = i * len;
    b.offset[i] = o;
    buf[o] = 0x02; buf[o + 6] = 0x02; buf.writeUInt16BE(0x0800, o + 12);
    const ip = o + 14;
    buf[ip] = 0x45; buf.writeUInt16BE(40, ip + 2); buf[ip + 8] = 64; buf[ip + 9] = 6;
    buf.set([10, 0, 0, 5], ip + 12);
    buf.set([172, 16, (k >>> 8) & 0xff, k & 0xff], ip + 16);
    const tcp = ip + 20;
    buf.writeUInt16BE(40000, tcp); buf.writeUInt16BE(1000 + (k >>> 16), tcp + 2);
    buf[tcp + 12] = 0x50; buf[tcp + 13] = 0x02;
  }
  return b;
}

function pipeline(overload: boolean, events: OverloadEvent[], flows: FlowRecord[]): Pipeline {
  const cfg = configFromObject({
    overload: { dissect_new_flows_per_s: 50, analyze_new_flows_per_s: 200, max_lag_s: 1e9, recover_s: 2 },
    attribute: { hold_s: 0 },
  });
  return new Pipeline(cfg, {
    store: Store.open(':memory:', { flushIntervalMs: 0 }),
    onFlow: (r) => flows.push(r),
    ...(overload ? { overload: { onEvent: (e: OverloadEvent) => events.push(e) } } : {}),
  });
}

const helloCount = (p: Pipeline): number => p.dissector.stats()['tls.hello_parsed'] ?? 0;

afterEach(() => {
  vi.restoreAllMocks();
});

describe('live overload', () => {
  it('sheds dissect and analysis of new flows in a burst, never counting, and recovers by itself', async () => {
    let clock = 0;
    vi.spyOn(Date, 'now').mockImplementation(() => clock);

    // same-run baseline: the demo through a pipeline that never saw a burst
    const baseFlows: FlowRecord[] = [];
    const base = pipeline(false, [], baseFlows);
    await readCaptureFile(demo, (b) => base.onBatch(b));
    base.finish();
    const demoFlows = base.counters.flows;
    expect(demoFlows).toBeGreaterThan(100);
    expect(helloCount(base)).toBeGreaterThan(0);
    expect(base.counters.aiObservations).toBeGreaterThan(0);

    const events: OverloadEvent[] = [];
    const flows: FlowRecord[] = [];
    const p = pipeline(true, events, flows);
    const gov = p.overload!;
    // normal: 10 new flows per second
    p.onBatch(synBatch(0, 10, T0_US));
    clock = 1000;
    p.onBatch(synBatch(10, 10, T0_US + 1e6));
    expect(gov.status()).toMatchObject({ level: 0, state: 'normal', newFlowsPerS: 10 }); // the first window opens after the first batch
    // burst: 500 new flows in the next second, above both budgets
    clock = 2000;
    p.onBatch(synBatch(20, 500, T0_US + 2e6));
    expect(gov.status()).toMatchObject({ level: 2, state: 'shed_analysis', newFlowsPerS: 500, undissected: 0, unanalyzed: 0 });
    expect(events).toEqual([{ state: 'started', level: 2, why: 'new_flows', newFlowsPerS: 500, lagS: 0 }]);
    // the demo's flows start during the episode: counted and emitted, neither dissected nor analyzed
    clock = 2100;
    await readCaptureFile(demo, (b) => p.onBatch(b));
    expect(helloCount(p)).toBe(0);
    expect(gov.status()).toMatchObject({ level: 2, undissected: demoFlows, unanalyzed: demoFlows });
    // calm: one level down per 2 s below its trigger. The window the demo's flows arrived in
    // (~105 flows in one second) is above the dissect budget, under the analysis one.
    expect(demoFlows).toBeGreaterThan(50);
    expect(demoFlows).toBeLessThan(200);
    clock = 3000;
    p.tick(0);
    expect(gov.status()).toMatchObject({ level: 2, newFlowsPerS: demoFlows });
    clock = 4000;
    p.tick(0); // 2 s under the analysis budget: one step down
    expect(gov.status()).toMatchObject({ level: 1, state: 'shed_dissect', newFlowsPerS: 0 });
    clock = 5000;
    p.tick(0);
    expect(gov.level).toBe(1);
    clock = 6000;
    p.tick(0); // 2 s under the dissect budget
    expect(gov.status()).toMatchObject({ level: 0, state: 'normal' });
    expect(events[1]).toEqual({ state: 'ended', seconds: 4, maxLevel: 2, undissected: demoFlows, unanalyzed: demoFlows, peakNewFlowsPerS: 500 });
    expect(events).toHaveLength(2);

    // the episode's flows end; the same traffic again is dissected and analyzed as the baseline's
    p.packets.flows.flushAll();
    const aiBefore = p.counters.aiObservations;
    expect(aiBefore).toBe(0);
    await readCaptureFile(demo, (b) => p.onBatch(b));
    p.finish();
    expect(helloCount(p)).toBe(helloCount(base));
    expect(p.counters.aiObservations).toBe(base.counters.aiObservations);
    // never stop counting: every flow of every phase was emitted as a record
    expect(p.counters.flows).toBe(520 + 2 * demoFlows);
    expect(flows).toHaveLength(520 + 2 * demoFlows);
    expect(flows.filter((f) => f.handshake !== undefined)).toHaveLength(baseFlows.filter((f) => f.handshake !== undefined).length);
    expect(gov.status()).toMatchObject({ episodes: 1, undissected: demoFlows, unanalyzed: demoFlows });
  });
});
