/**
 * One capture worker (a worker thread): the per-packet part of the pipeline (src/pipeline.ts
 * PacketPath: decode → flow → dissect) over the packets of its shard, read in place from its ring
 * (src/workers/ring.ts). What it produces — flow creations, flow records, DNS answers, and (worker
 * 0) the ends of input batches — goes back to the merging thread in one message per ring slot,
 * each item keyed by its position in the whole packet stream:
 *
 *   key = 4·seq + 1   at an expiry marker before packet `seq` (and 4·end + 1 at end of input)
 *   key = 4·seq + 2   while processing packet `seq`
 *   key = 4·end + 0   the input batch that ends before packet `end` ended
 *
 * With the slot's watermark (4·seqEnd: no later item of this worker has a smaller key) the merge
 * puts every worker's items back into the order one packet path would have produced them.
 *
 * The worker owns no capture handle here (replay: the reader thread feeds the ring); a live
 * worker would fill the same PacketPath from its own socket.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PacketPath } from '../pipeline.js';
import type { FlowTableOptions } from '../flow/table.js';
import { Dissector, type DissectOptions } from '../dissect/index.js';
import { RingConsumer, SENT, TAKEN, type RingBuffers } from './ring.js';

export interface PacketWorkerData {
  index: number;
  ring: RingBuffers;
  flow: Partial<FlowTableOptions>;
  dissect: DissectOptions;
  /** Added to this worker's local flow numbers: provisional ids unique across its restarts. */
  idBase: number;
  /** Output messages in flight before the worker waits for the merge. */
  maxOutstanding: number;
  /** Fault injection (tests): throw once this many packets were processed. */
  failAfterPackets?: number;
}

/** Item kinds in a worker's output (flat: key, sub-key, kind, payload, extra). */
export const EV_CREATED = 0;
export const EV_FLOW = 1;
export const EV_DNS = 2;
export const EV_BATCH_END = 3;

/** Running counters, in every message. */
export interface WorkerProgress {
  packets: number;
  wireBytes: number;
  busyMs: number;
  idleMs: number;
  /** CPU time of this thread, ms. */
  cpuMs: number;
  activeFlows: number;
}

/** One message per processed slot. */
export interface WorkerOutput {
  t: 'out';
  events: unknown[];
  watermark: number;
  progress: WorkerProgress;
}

/** The last message: the path's totals. */
export interface WorkerDone {
  t: 'done';
  events: unknown[];
  progress: WorkerProgress;
  ended: Record<string, number>;
  decode: Record<string, number>;
  fragmentsOrphaned: number;
  dissect: Record<string, number>;
  bounds: { structure: string; entries: number; max: number; evictions: number }[];
}

function run(d: PacketWorkerData): void {
  const port = parentPort!;
  const ring = new RingConsumer(d.ring);
  const ctrl = ring.ctrl;
  let events: unknown[] = [];
  // the key of items made outside packet processing (expiry markers, end of input)
  let key = 0;
  // while processing packets: their stream positions and where the run started
  let seq: Float64Array | undefined;
  let runFrom = 0;
  let pkts0 = 0;
  const keyNow = (): number => (seq !== undefined ? 4 * seq[runFrom + (pp.packets - pkts0 - 1)]! + 2 : key);
  // flows one expiry step (or the end of input) emits: in the order one table would
  const subNow = (): number => (seq !== undefined ? 0 : pp.flows.emitOrder);
  const dissector = new Dissector(d.dissect, { onDns: (a) => events.push(keyNow(), subNow(), EV_DNS, a, 0) });
  const pp: PacketPath = new PacketPath(d.flow, {
    dissector,
    externalExpiry: true,
    onFlow: (rec, meta) => events.push(keyNow(), subNow(), EV_FLOW, rec, meta.shed ?? 0),
    flowId: (n) => {
      const id = d.idBase + n;
      events.push(keyNow(), 0, EV_CREATED, id, 0);
      return id;
    },
  });
  let busyMs = 0;
  const cpu = (): number => {
    const c = process.threadCpuUsage();
    return (c.user + c.system) / 1000;
  };
  const progress = (): WorkerProgress => ({ packets: pp.packets, wireBytes: pp.wireBytes, busyMs, idleMs: ring.idleMs, cpuMs: cpu(), activeFlows: pp.flows.active });
  const post = (msg: WorkerOutput | WorkerDone): void => {
    // output credit: never more than maxOutstanding messages the merge has not taken
    for (;;) {
      const taken = Atomics.load(ctrl, TAKEN);
      if (Atomics.load(ctrl, SENT) - taken < d.maxOutstanding) break;
      Atomics.wait(ctrl, TAKEN, taken, 1000);
    }
    Atomics.add(ctrl, SENT, 1);
    port.postMessage(msg);
  };

  let lastSeqEnd = 0;
  for (;;) {
    const s = ring.next();
    if (s === undefined) break;
    const t0 = performance.now();
    const b = s.batch;
    const count = s.count;
    b.count = count;
    const markers = s.markers;
    let i = 0;
    for (let m = 0; m <= markers; m++) {
      const end = m < markers ? s.markerPos[m]! : count;
      if (end > i) {
        seq = s.seq;
        runFrom = i;
        pkts0 = pp.packets;
        pp.onBatch(b, i, end, s.seq);
        seq = undefined;
        i = end;
      }
      if (m < markers) {
        key = 4 * s.markerSeq[m]! + 1;
        pp.flows.expire(s.markerTs[m]!);
      }
    }
    lastSeqEnd = s.seqEnd;
    if (s.batchEnd && d.index === 0) events.push(4 * s.seqEnd, 0, EV_BATCH_END, s.nowUs, 0);
    busyMs += performance.now() - t0;
    if (d.failAfterPackets !== undefined && pp.packets >= d.failAfterPackets) throw new Error(`worker ${d.index}: injected failure after ${pp.packets} packets`);
    const out = events;
    events = [];
    // posted before the slot is freed: a worker that fails in between loses nothing
    post({ t: 'out', events: out, watermark: 4 * lastSeqEnd, progress: progress() });
    ring.release();
  }
  // end of input: every open flow, after every packet of the stream
  key = 4 * lastSeqEnd + 1;
  pp.finish();
  const decode = pp.decodeStats();
  post({
    t: 'done',
    events,
    progress: progress(),
    ended: { ...pp.flows.ended },
    decode,
    fragmentsOrphaned: pp.flows.fragmentsOrphaned,
    dissect: dissector.stats(),
    bounds: pp.flows.bounds(),
  });
}

if (parentPort !== null && (workerData as { kind?: string } | undefined)?.kind === 'packet-worker') run((workerData as { data: PacketWorkerData }).data);
