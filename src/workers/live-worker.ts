/**
 * One live capture worker (a worker thread): its own capture socket on the interface, in the
 * sensor's PACKET_FANOUT group (docs/capture-fanout.md), and the per-packet path (decode → flow
 * → dissect, src/pipeline.ts PacketPath) over what that socket delivers. Packets never leave
 * this thread. What it produces goes to the main thread once per capture batch (and on idle
 * ticks): flow records and DNS answers, flat (key, sub-key, kind, payload, extra) with key = the
 * capture time (µs) they were produced at and sub-key = this worker's running item number, a
 * watermark (no later item of this worker has a smaller key) and its running counters.
 *
 * On a quiet link the worker's packet time stands still; every `idleTickMs` without a batch it
 * advances to the wall clock minus `idleSlackMs` (kernel timestamps are wall-clock time, and a
 * packet is delivered at most a batch timeout after it arrived), expiring idle flows and moving
 * its watermark so the merge need not wait for it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { PacketPath, type WorkerPathCounters } from '../pipeline.js';
import type { FlowTableOptions } from '../flow/table.js';
import { Dissector, type DissectOptions } from '../dissect/index.js';
import { LiveSource, type LiveOptions } from '../source/live.js';
import { MERGE_ITEM_WIDTH } from './merge.js';

export interface LiveWorkerData {
  index: number;
  /** Workers in the group: flow ids are made unique across them (local n → (n-1)·workers + index + 1). */
  workers: number;
  capture: LiveOptions & { fanoutGroup: number };
  flow: Partial<FlowTableOptions>;
  dissect: DissectOptions;
  idleTickMs: number;
  idleSlackMs: number;
  /** Test hook: fail once this many packets were processed. */
  failAfterPackets?: number;
  /**
   * One Int32: the overload level new flows are created at, set by the sensor's governor
   * (src/pipeline.ts OverloadGovernor) from all workers' flow creations and lag; read once per
   * batch.
   */
  shed?: SharedArrayBuffer;
}


export const LIVE_EV_FLOW = 1;
export const LIVE_EV_DNS = 2;
export const LIVE_EV_WIDTH = MERGE_ITEM_WIDTH;

export interface LiveWorkerProgress {
  packets: number;
  wireBytes: number;
  /** This worker's socket (PACKET_STATISTICS through pcap_stats): handed to it, dropped for it. */
  kernelReceived: number;
  kernelDropped: number;
  busyMs: number;
  /** Milliseconds since the worker started capturing. */
  upMs: number;
  activeFlows: number;
  /** Flows created, and created at overload level 1 and 2 (the sensor's governor sums them). */
  flowsCreated: number;
  shed1: number;
  shed2: number;
}

/** The packet path's stage counters (decode outcomes, flow end reasons, dissect), running totals. */
export type PathCounters = Omit<WorkerPathCounters, 'activeFlows'>;

export type LiveWorkerMessage =
  | { t: 'ready' }
  | { t: 'out'; events: unknown[]; watermark: number; progress: LiveWorkerProgress; counters?: PathCounters; batchTsUs?: number }
  | { t: 'done'; events: unknown[]; progress: LiveWorkerProgress; counters: PathCounters };

async function run(d: LiveWorkerData): Promise<void> {
  const port = parentPort!;
  let events: unknown[] = [];
  let sub = 0;
  const globalId = (n: number): number => (n - 1) * d.workers + d.index + 1;
  // keys: the path's packet time (the packet being processed, or the expiry/end time), never
  // decreasing, so this worker's items are in key order
  const dissector = new Dissector(d.dissect, {
    onDns: (a) => {
      a.flowId = globalId(a.flowId);
      events.push(pp.nowUs, sub++, LIVE_EV_DNS, a, 0);
    },
  });
  const pp: PacketPath = new PacketPath(d.flow, {
    dissector,
    onFlow: (rec, meta) => {
      rec.flowId = globalId(rec.flowId);
      events.push(pp.nowUs, sub++, LIVE_EV_FLOW, rec, meta.shed ?? 0);
    },
  });
  const src = LiveSource.open(d.capture);
  const t0 = performance.now();
  let busyMs = 0;
  let lastBatch = t0;
  const progress = (): LiveWorkerProgress => {
    const st = src.stats();
    return {
      packets: pp.packets, wireBytes: pp.wireBytes, kernelReceived: st.kernelReceived ?? 0, kernelDropped: st.kernelDropped ?? 0,
      busyMs, upMs: performance.now() - t0, activeFlows: pp.flows.active,
      flowsCreated: pp.flows.created, shed1: pp.flows.shedCreated[1]!, shed2: pp.flows.shedCreated[2]!,
    };
  };
  const counters = (): PathCounters => ({ decode: pp.decodeStats(), flowEnd: { ...pp.flows.ended }, dissect: dissector.stats() });
  const shed = d.shed === undefined ? undefined : new Int32Array(d.shed);
  let countersAt = 0;
  /** `batchTsUs`: after a batch, its newest packet time (the sensor's capture lag). */
  const post = (watermark: number, batchTsUs?: number): void => {
    const out = events;
    events = [];
    // the stage counters at most twice a second (a few small objects), for the metrics
    const now = performance.now();
    const withCounters = now - countersAt >= 500;
    if (withCounters) countersAt = now;
    port.postMessage({ t: 'out', events: out, watermark, progress: progress(), ...(withCounters ? { counters: counters() } : {}), ...(batchTsUs !== undefined ? { batchTsUs } : {}) } satisfies LiveWorkerMessage);
  };
  src.start((b) => {
    const s = performance.now();
    lastBatch = s;
    if (shed !== undefined) pp.flows.shedLevel = Atomics.load(shed, 0) as 0 | 1 | 2;
    pp.onBatch(b);
    busyMs += performance.now() - s;
    post(pp.nowUs, b.count > 0 ? b.tsUs[b.count - 1] : undefined);
    if (d.failAfterPackets !== undefined && pp.packets >= d.failAfterPackets) {
      const n = pp.packets;
      // outside the capture callback (whose exceptions the source counts and survives)
      setImmediate(() => { throw new Error(`live worker ${d.index}: injected failure after ${n} packets`); });
    }
  });
  const idle = setInterval(() => {
    if (performance.now() - lastBatch < d.idleTickMs) return;
    const now = Date.now() * 1000 - d.idleSlackMs * 1000;
    if (now <= pp.nowUs) return;
    pp.tick(now);
    post(now);
  }, d.idleTickMs);
  port.postMessage({ t: 'ready' } satisfies LiveWorkerMessage);
  port.on('message', (m: unknown) => {
    if (m !== 'stop') return;
    clearInterval(idle);
    void src.close().then(() => {
      pp.finish();
      port.postMessage({ t: 'done', events, progress: progress(), counters: counters() } satisfies LiveWorkerMessage);
      port.close();
    });
  });
}

if (parentPort !== null && (workerData as { kind?: string } | undefined)?.kind === 'live-worker') {
  void run((workerData as { data: LiveWorkerData }).data);
}
