/**
 * One capture worker (a worker thread): the per-packet part of the pipeline (src/pipeline.ts
 * PacketPath: decode → flow → dissect) over the packets of its shard, read in place from its ring
 * (src/workers/ring.ts) or read from the file itself. What it produces — flow creations, flow
 * records, DNS answers, and (worker 0) the ends of input batches — goes back to the merging
 * thread in one message per ring slot (or input batch),
 * each item keyed by its position in the whole packet stream:
 *
 *   key = 4·seq + 1   at an expiry marker before packet `seq` (and 4·end + 1 at end of input)
 *   key = 4·seq + 2   while processing packet `seq`
 *   key = 4·end + 0   the input batch that ends before packet `end` ended
 *
 * With the slot's watermark (4·seqEnd: no later item of this worker has a smaller key) the merge
 * puts every worker's items back into the order one packet path would have produced them.
 *
 * Replay feeds it one of two ways: it reads the (plain) capture files itself and keeps the
 * packets of its shard (runOwn), or the reader thread fills its ring (runRing). A live worker
 * (live-worker.ts) fills the same PacketPath from its own socket.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PacketPath } from '../pipeline.js';
import type { FlowTableOptions } from '../flow/table.js';
import { Dissector, type DissectOptions } from '../dissect/index.js';
import type { PacketBatch } from '../records.js';
import { EXPIRE_EVERY_US } from '../flow/lists.js';
import { allocBatch } from '../source/batch.js';
import { CaptureFileError, readCaptureFile, type FileReadResult } from '../source/file.js';
import { RingConsumer, SENT, TAKEN, type RingBuffers } from './ring.js';
import { PacketKeyer } from './shard.js';

/** A worker that reads the capture files itself (no reader thread). */
export interface OwnRead {
  files: string[];
  workers: number;
  maxFragments: number;
  /** Control words: the output credit (SENT / TAKEN). */
  ctrl: SharedArrayBuffer;
  /** Process own packets from this stream position on (a restarted worker: where its output stopped). */
  fromSeq: number;
  batchPackets?: number;
  /** A module whose `shard` export replaces the flow hash (tests force placements with it). */
  shardModule?: string;
  /**
   * The worker before this one failed twice at this stream position (an input batch starts
   * there): this worker's packets of that batch are skipped and counted lost, not processed
   * again (a packet that makes the path throw would otherwise fail every replacement).
   */
  skipBatchAt?: number;
}

/** A file's read result or its error (worker 0 reports them, by the file's index). */
export type FileOutcome = { index: number; result: FileReadResult } | { index: number; file: string; message: string };

export interface PacketWorkerData {
  index: number;
  /** Fed by the reader thread through this ring, or reading the files itself (`own`). */
  ring?: RingBuffers;
  own?: OwnRead;
  flow: Partial<FlowTableOptions>;
  dissect: DissectOptions;
  /** Added to this worker's local flow numbers: provisional ids unique across its restarts. */
  idBase: number;
  /** Output messages in flight before the worker waits for the merge. */
  maxOutstanding: number;
  /** Fault injection (tests): throw once this many packets were processed. */
  failAfterPackets?: number;
  /** Fault injection (tests), every incarnation: throw at this worker's packet at this stream position. */
  failAtSeq?: number;
  /** Fault injection (tests), every incarnation: throw before any packet. */
  failOnStart?: boolean;
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
  /** Own packets skipped, not processed (a batch a failed worker could not get past). */
  lostPackets: number;
}

/** The packet path's stage counters so far (running totals). */
export interface PathCounts {
  ended: Record<string, number>;
  decode: Record<string, number>;
  fragmentsOrphaned: number;
  dissect: Record<string, number>;
}

/** One message per processed slot. */
export interface WorkerOutput {
  t: 'out';
  events: unknown[];
  watermark: number;
  progress: WorkerProgress;
  /** Up to this message (a worker that fails later keeps them counted). */
  counts: PathCounts;
  /** Reading the files itself: read results, and how far worker 0 got (progress). */
  files?: FileOutcome[];
  read?: { file: string; done: number; total: number; packets: number };
}

/** The last message: the path's totals. */
export interface WorkerDone extends PathCounts {
  t: 'done';
  events: unknown[];
  progress: WorkerProgress;
  bounds: { structure: string; entries: number; max: number; evictions: number }[];
  files?: FileOutcome[];
}

/** What both ways of feeding a worker share: its packet path and the output it posts. */
function setup(d: PacketWorkerData, ctrl: Int32Array, idleMs: () => number) {
  const port = parentPort!;
  const st = {
    events: [] as unknown[],
    // the key of items made outside packet processing (expiry markers, end of input)
    key: 0,
    // while processing packets: their stream positions and where the run started
    seq: undefined as Float64Array | undefined,
    runFrom: 0,
    pkts0: 0,
    busyMs: 0,
    lostPackets: 0,
  };
  const keyNow = (): number => (st.seq !== undefined ? 4 * st.seq[st.runFrom + (pp.packets - st.pkts0 - 1)]! + 2 : st.key);
  // flows one expiry step (or the end of input) emits: in the order one table would
  const subNow = (): number => (st.seq !== undefined ? 0 : pp.flows.emitOrder);
  const dissector = new Dissector(d.dissect, { onDns: (a) => st.events.push(keyNow(), subNow(), EV_DNS, a, 0) });
  const pp: PacketPath = new PacketPath(d.flow, {
    dissector,
    externalExpiry: true,
    onFlow: (rec, meta) => st.events.push(keyNow(), subNow(), EV_FLOW, rec, meta.shed ?? 0),
    flowId: (n) => {
      const id = d.idBase + n;
      st.events.push(keyNow(), 0, EV_CREATED, id, 0);
      return id;
    },
  });
  /** Packets `from` to before `to` of `b`, at stream positions `seq`. */
  const packets = (b: PacketBatch, from: number, to: number, seq: Float64Array): void => {
    st.seq = seq;
    st.runFrom = from;
    st.pkts0 = pp.packets;
    pp.onBatch(b, from, to, seq);
    st.seq = undefined;
  };
  /** Expire idle flows at `tsUs`, before the packet at stream position `seq`. */
  const expire = (seq: number, tsUs: number): void => {
    st.key = 4 * seq + 1;
    pp.flows.expire(tsUs);
  };
  const cpu = (): number => {
    const c = process.threadCpuUsage();
    return (c.user + c.system) / 1000;
  };
  const counts = (): PathCounts => ({ ended: { ...pp.flows.ended }, decode: pp.decodeStats(), fragmentsOrphaned: pp.flows.fragmentsOrphaned, dissect: dissector.stats() });
  const progress = (): WorkerProgress => ({ packets: pp.packets, wireBytes: pp.wireBytes, busyMs: st.busyMs, idleMs: idleMs(), cpuMs: cpu(), activeFlows: pp.flows.active, lostPackets: st.lostPackets });
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
  /** The items so far, handed over (the next ones go into a new list). */
  const take = (): unknown[] => {
    const out = st.events;
    st.events = [];
    return out;
  };
  /** End of input after stream position `seqEnd`: every open flow, then the last message. */
  const finish = (seqEnd: number, extra: Partial<WorkerDone> = {}): void => {
    st.key = 4 * seqEnd + 1;
    pp.finish();
    post({
      t: 'done',
      events: take(),
      progress: progress(),
      ...counts(),
      bounds: pp.flows.bounds(),
      ...extra,
    });
  };
  const failCheck = (): void => {
    if (d.failAfterPackets !== undefined && pp.packets >= d.failAfterPackets) throw new Error(`worker ${d.index}: injected failure after ${pp.packets} packets`);
  };
  if (d.failOnStart === true) throw new Error(`worker ${d.index}: injected failure at start`);
  return { st, pp, packets, expire, progress, counts, post, take, finish, failCheck };
}

/** Fed by the reader thread through the worker's ring. */
function runRing(d: PacketWorkerData, r: RingBuffers): void {
  const ring = new RingConsumer(r);
  const w = setup(d, ring.ctrl, () => ring.idleMs);
  let lastSeqEnd = 0;
  for (;;) {
    const s = ring.next();
    if (s === undefined) break;
    const t0 = performance.now();
    const b = s.batch;
    const count = s.count;
    b.count = count;
    const markers = s.markers;
    if (d.failAtSeq !== undefined) for (let j = 0; j < count; j++) if (s.seq[j] === d.failAtSeq) throw new Error(`worker ${d.index}: injected failure at packet ${d.failAtSeq}`);
    let i = 0;
    for (let m = 0; m <= markers; m++) {
      const end = m < markers ? s.markerPos[m]! : count;
      if (end > i) {
        w.packets(b, i, end, s.seq);
        i = end;
      }
      if (m < markers) w.expire(s.markerSeq[m]!, s.markerTs[m]!);
    }
    lastSeqEnd = s.seqEnd;
    if (s.batchEnd && d.index === 0) w.st.events.push(4 * s.seqEnd, 0, EV_BATCH_END, s.nowUs, 0);
    w.st.busyMs += performance.now() - t0;
    w.failCheck();
    // posted before the slot is freed: a worker that fails in between loses nothing
    w.post({ t: 'out', events: w.take(), watermark: 4 * lastSeqEnd, progress: w.progress(), counts: w.counts() });
    ring.release();
  }
  // end of input: every open flow, after every packet of the stream
  w.finish(lastSeqEnd);
}

/**
 * Reads the capture files itself (no reader thread): every worker walks every packet record of
 * the stream, keys it with the same shard function and the same fragment map — so all agree on
 * each packet's worker without talking — and processes only its own. Stream positions, expiry
 * steps and input batches are the stream's, as the reader thread would give them. Worker 0
 * reports the files' read results and progress.
 */
async function runOwn(d: PacketWorkerData, o: OwnRead): Promise<void> {
  const ctrl = new Int32Array(o.ctrl);
  const w = setup(d, ctrl, () => 0);
  const n = o.workers;
  const me = d.index;
  const keyer = await PacketKeyer.create(n, o.maxFragments, o.shardModule);
  const failAtSeq = d.failAtSeq ?? -1;
  const batchPackets = o.batchPackets ?? 8192;
  const mine = allocBatch(batchPackets);
  const mineSeq = new Float64Array(batchPackets);
  let seq = 0;
  let nowUs = 0;
  let nextExpireUs = 0;
  let files: FileOutcome[] = [];
  let read: WorkerOutput['read'];
  const reporter = me === 0;
  for (let f = 0; f < o.files.length; f++) {
    const file = o.files[f]!;
    try {
      const result = await readCaptureFile(file, (b) => {
        const t0 = performance.now();
        const buf = b.buf;
        const count = b.count;
        mine.buf = buf;
        // the batch a failed worker could not get past twice: this worker's packets of it are counted, not processed
        const skip = o.skipBatchAt === seq;
        let k = 0;
        for (let i = 0; i < count; i++) {
          const ts = b.tsUs[i]!;
          // the stream's packet time and its expiry steps, as one packet path has them
          if (ts > nowUs) {
            nowUs = ts;
            if (ts >= nextExpireUs) {
              if (nextExpireUs !== 0) {
                if (k > 0) {
                  w.packets(mine, 0, k, mineSeq);
                  k = 0;
                }
                w.expire(seq, ts);
              }
              nextExpireUs = ts + EXPIRE_EVERY_US;
            }
          }
          const off = b.offset[i]!;
          const capLen = b.capLen[i]!;
          // every worker keys every packet of the stream the same way
          if (keyer.worker(b, i) === me && seq >= o.fromSeq) {
            if (skip) w.st.lostPackets++;
            else {
              if (seq === failAtSeq) throw new Error(`worker ${d.index}: injected failure at packet ${seq}`);
              mine.offset[k] = off;
              mine.capLen[k] = capLen;
              mine.wireLen[k] = b.wireLen[i]!;
              mine.tsUs[k] = ts;
              mine.linkType[k] = b.linkType[i]!;
              mine.ifIndex[k] = b.ifIndex[i]!;
              mineSeq[k] = seq;
              k++;
            }
          }
          seq++;
        }
        if (k > 0) w.packets(mine, 0, k, mineSeq);
        // (a replacement's batch ends up to where it starts went out before)
        if (reporter && seq > o.fromSeq) w.st.events.push(4 * seq, 0, EV_BATCH_END, nowUs, 0);
        w.st.busyMs += performance.now() - t0;
        w.failCheck();
        const msg: WorkerOutput = { t: 'out', events: w.take(), watermark: 4 * seq, progress: w.progress(), counts: w.counts() };
        if (files.length > 0) {
          msg.files = files;
          files = [];
        }
        if (read !== undefined) {
          msg.read = read;
          read = undefined;
        }
        w.post(msg);
      }, {
        ...(o.batchPackets !== undefined ? { batchPackets: o.batchPackets } : {}),
        ...(reporter ? { onProgress: (done: number, total: number) => { read = { file, done, total, packets: seq }; } } : {}),
      });
      if (reporter) files.push({ index: f, result });
    } catch (err) {
      // a capture that cannot be read is reported; anything else fails the worker
      if (!(err instanceof CaptureFileError)) throw err;
      if (reporter) files.push({ index: f, file, message: err.message });
    }
  }
  w.finish(seq, files.length > 0 ? { files } : {});
}

if (parentPort !== null && (workerData as { kind?: string } | undefined)?.kind === 'packet-worker') {
  const d = (workerData as { data: PacketWorkerData }).data;
  if (d.own !== undefined) void runOwn(d, d.own).catch((e: unknown) => {
    // an error thrown in the read callback: fail the thread (the replay restarts it)
    setImmediate(() => {
      throw e;
    });
  });
  else runRing(d, d.ring!);
}
