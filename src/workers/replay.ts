/**
 * `llmtap replay --workers N`: capture files through N packet workers.
 *
 *   plain files: every worker reads the files itself, keys every packet (symmetric flow hash)
 *                and processes its own shard: decode → flow → dissect
 *   otherwise (gzip): reader thread ──one ring per worker──► packet workers (same stages)
 *                                               │ flow creations and records, DNS answers,
 *                                               │ batch ends: one message per input batch / ring slot
 *                                               ▼
 *   this thread: time-ordered merge ─► Pipeline (names → attribute → classify → detect → store)
 *
 * Names do not depend on the shard: DNS answers and flow records meet again here, in the order
 * one packet path would have produced them, and passive DNS names the flows centrally. Flow ids
 * are handed out here in the order the flows were created in the whole stream (each worker
 * reports its creations), so they are the ids one path gives. Counters are summed.
 *
 * A worker that fails is replaced at once (counted): the flows it held open are lost, counted
 * and reported; the replay goes on. A worker reading the files itself is replaced by one that
 * goes on after the last stream position whose output arrived (no packet lost); fed by the
 * reader, the packets of the slot it was processing are lost and counted.
 */
import { Worker } from 'node:worker_threads';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join, relative } from 'node:path';
import type { SensorConfig } from '../config.js';
import type { DnsAnswer, FlowEndReason, FlowRecord } from '../records.js';
import type { Pipeline, PacketPathTotals } from '../pipeline.js';
import { flowTableOptionsFrom } from '../flow/table.js';
import { dissectOptionsFrom } from '../dissect/index.js';
import { DECODE_REASONS } from '../decode/reasons.js';
import type { FileReadResult } from '../source/file.js';
import type { BoundStat } from '../bounded/lru.js';
import { allocChunks, allocRing, DEFAULT_RING, HEAD, releaseSlot, SENT, SlotView, TAIL, TAKEN, type RingBuffers, type RingLayout } from './ring.js';
import { OrderedMerge } from './merge.js';
import { EV_BATCH_END, EV_CREATED, EV_DNS, EV_FLOW, type FileOutcome, type PacketWorkerData, type PathCounts, type WorkerDone, type WorkerOutput, type WorkerProgress } from './packet-worker.js';
import type { ReaderData, ReaderMessage } from './reader.js';

/**
 * The compiled module of a thread entry beside this one. Under a TypeScript runner (tests) this
 * file is src/workers/replay.ts: threads run the compiled dist/ copy (Node does not resolve the
 * sources' `.js` imports to `.ts`).
 */
export function threadUrl(name: string): URL {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) {
    const dir = dirname(here);
    const root = join(dir, '..', '..');
    const rel = relative(join(root, 'src'), dir);
    return pathToFileURL(join(root, 'dist', rel, `${name}.js`));
  }
  return new URL(`./${name}.js`, import.meta.url);
}

/** `--workers auto`: one per core but one, left to the merging thread and the stages after it.
 * On two cores that is one: measured there, two workers are slower than one (replay 0.4–0.8x,
 * live 90 against 151 kpps) because the sharding's own work needs a core of its own. */
export function autoWorkers(cores: number): number {
  return Math.max(1, cores - 1);
}

/** Parse `--workers N|auto` / `capture.workers`: a count, or undefined when the text is neither. */
export function parseWorkers(v: string | number, cores: number): number | undefined {
  if (v === 'auto') return autoWorkers(cores);
  const n = typeof v === 'number' ? v : /^\d+$/.test(v) ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 1 && n <= 1024 ? n : undefined;
}

export interface ShardedReplayOptions {
  workers: number;
  ring?: RingLayout;
  /** Bytes per shared chunk of packet data (tests make it small). */
  chunkBytes?: number;
  batchPackets?: number;
  /** A module exporting `shard(view, keyed, n)` instead of the flow hash (tests). */
  shardModule?: string;
  /**
   * true: feed the workers from one reader thread even where they could read the files
   * themselves; false: let them read the files themselves wherever they can (every file a
   * plain, uncompressed regular file). Left out: by the count (READ_OWN_UP_TO).
   */
  sharedReader?: boolean;
  /** Fault injection (tests): worker index → fail after this many packets (first start only). */
  failAfterPackets?: Record<number, number>;
  /** Fault injection (tests): worker index → fail at its packet at this stream position (every start). */
  failAtSeq?: Record<number, number>;
  /** Fault injection (tests): these workers fail before any packet (every start). */
  failOnStart?: number[];
  onProgress?: (file: string, done: number, total: number, packets: number) => void;
  /**
   * A worker failed and was replaced. `skip`: it had failed at the same place before, so its
   * replacement goes past the packets there (the ring slot or input batch), counted lost.
   */
  onRestart?: (e: { worker: number; lostPackets: number; lostFlows: number; error: string; skip: boolean }) => void;
}

/** Per worker, for the summary and the metrics. */
export interface WorkerStat {
  worker: number;
  packets: number;
  wireBytes: number;
  /** Milliseconds processing and waiting for packets (busy ratio = busy / (busy + idle)). */
  busyMs: number;
  idleMs: number;
  /** CPU time of the worker's thread, ms. */
  cpuMs: number;
  restarts: number;
  /** Packets a failed worker could not get past (skipped after a second failure there), and flows it held open. */
  lostPackets: number;
  lostFlows: number;
}

export interface ShardedReplayResult {
  reads: FileReadResult[];
  fileErrors: { file: string; message: string }[];
  totals: PacketPathTotals;
  workers: WorkerStat[];
  /** Most merge items held at once (the reorder window actually used). */
  maxHeld: number;
  /** Milliseconds the reader waited for each worker's ring (that worker was behind), and its CPU time. */
  readerWaitMs: number[];
  readerCpuMs: number;
  /** Milliseconds the main thread spent on the workers' outputs (merge, names and the per-flow stages). */
  mergeMs: number;
  /** The workers were fed by the reader thread (false: each read the files itself). */
  sharedReader: boolean;
}

/**
 * Up to this many workers read plain files themselves; more are fed by the reader thread.
 * Reading itself, every worker reads and keys the whole file (~0.4 s per GiB each here); the
 * reader thread does that once, for a thread of its own. Measured on the 2-core VM, whole
 * replays of the 1 GiB capture alternating: 2 workers 2.32 s reading themselves against 2.48 s
 * fed (medians of 5); 3 workers 2.69 s against 2.56 s, 4 workers 3.04 s against 2.55 s (3 runs
 * each); CPU per added worker ~0.95 s reading themselves, ~0.4 s fed.
 */
export const READ_OWN_UP_TO = 2;

const ID_STRIDE = 2 ** 40;
/** Control words of a worker reading the files itself (the ring's layout: SENT / TAKEN used). */
const CTRL_BYTES = 8 * 4;

/**
 * A file the workers can read themselves: a regular file that is not gzip (gzip cannot be
 * read from the middle and is decompressed once, by the reader thread). Anything else (standard
 * input, gzip, a file that cannot be opened) goes through the reader thread, which reports it.
 */
function plainFile(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    if (!fstatSync(fd).isFile()) return false;
    const head = Buffer.alloc(2);
    return readSync(fd, head, 0, 2, 0) === 2 && !(head[0] === 0x1f && head[1] === 0x8b);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function sumInto(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n;
}

export class ShardedReplay {
  readonly n: number;
  /** The reader thread's rings (when the workers do not read the files themselves). */
  private rings: RingBuffers[] = [];
  /** Per worker, its control words (the output credit; a ring's own when there is a reader). */
  private ctrls: SharedArrayBuffer[] = [];
  /** The workers read the files themselves: the files, and their read results by index. */
  private own: string[] | undefined;
  private readonly outcomes: FileOutcome[] = [];
  private readonly stats: WorkerStat[];
  private readonly last: (WorkerProgress | undefined)[];
  /** Per worker, the stage counters of its current incarnation's last message, and those of the failed ones before it. */
  private readonly lastCounts: (PathCounts | undefined)[];
  private readonly failedCounts: PathCounts[] = [];
  private readonly done: (WorkerDone | undefined)[];
  private readonly incarnation: number[];
  /**
   * Per worker, where its output stood when it last failed, and how many failures in a row
   * left it there: the first is retried at the same place, the second skips that place
   * (counted), the third gives the replay up (the worker cannot start or make any headway).
   */
  private readonly failedAt: (number | undefined)[];
  private readonly stuck: number[];
  /** Where the next incarnation of a worker reading the files itself skips an input batch. */
  private readonly skipAt: (number | undefined)[];
  private readonly idMaps: Map<number, number>[];
  private readonly merge: OrderedMerge;
  private nextFlowId = 1;
  /** Milliseconds this thread spent merging and running the per-flow stages on the workers' items. */
  mergeMs = 0;
  private readonly data: Omit<PacketWorkerData, 'index' | 'ring' | 'idBase' | 'failAfterPackets' | 'failAtSeq' | 'failOnStart'>;
  private readonly threads: (Worker | undefined)[];
  private readonly maxFragments: number;
  /** The pipeline the merged items go to; until it is attached, the threads' events wait here. */
  private pipeline: Pipeline | undefined;
  private readonly deferred: (() => void)[] = [];
  private result: Promise<ShardedReplayResult> | undefined;
  private aborted = false;
  private reader: Worker | undefined;

  /**
   * `pipeline` may be attached later (run): the workers can be started (begin) while the
   * pipeline and its store are still being opened; their output waits for it.
   */
  constructor(
    pipeline: Pipeline | undefined,
    cfg: SensorConfig,
    private readonly opts: ShardedReplayOptions,
  ) {
    const n = opts.workers;
    this.n = n;
    const flow = flowTableOptionsFrom(cfg.flow);
    // the flow memory bound is shared: each worker holds its part of the flows
    flow.maxFlows = Math.ceil(flow.maxFlows / n);
    this.data = {
      flow,
      dissect: dissectOptionsFrom(cfg.dissect, cfg.tenants.some((t) => t.payload_entropy)),
      // messages (input batches or ring slots) a worker may run ahead of the merge: with
      // 8,192-packet batches about a quarter of a second of work while this thread is busy
      maxOutstanding: 64,
    };
    this.maxFragments = flow.maxFragments;
    this.stats = Array.from({ length: n }, (_, worker) => ({ worker, packets: 0, wireBytes: 0, busyMs: 0, idleMs: 0, cpuMs: 0, restarts: 0, lostPackets: 0, lostFlows: 0 }));
    this.last = new Array<WorkerProgress | undefined>(n).fill(undefined);
    this.lastCounts = new Array<PathCounts | undefined>(n).fill(undefined);
    this.done = new Array<WorkerDone | undefined>(n).fill(undefined);
    this.incarnation = new Array<number>(n).fill(0);
    this.failedAt = new Array<number | undefined>(n).fill(undefined);
    this.stuck = new Array<number>(n).fill(0);
    this.skipAt = new Array<number | undefined>(n).fill(undefined);
    this.idMaps = Array.from({ length: n }, () => new Map<number, number>());
    this.threads = new Array<Worker | undefined>(n).fill(undefined);
    this.merge = new OrderedMerge(n, (kind, payload, extra, w) => this.apply(kind, payload, extra, w));
    if (pipeline !== undefined) this.attach(pipeline);
  }

  private attach(pipeline: Pipeline): void {
    this.pipeline = pipeline;
    pipeline.shardTotals = () => this.totals();
    // what the threads did before, in the order it happened
    for (const f of this.deferred.splice(0)) f();
  }

  /** Run `f` on a thread's event now, or once the pipeline is attached. */
  private gate(f: () => void): void {
    if (this.pipeline === undefined) this.deferred.push(f);
    else f();
  }

  /** Stop every thread (the replay is given up before it was run). */
  abort(): void {
    this.aborted = true;
    for (const t of this.threads) void t?.terminate();
    void this.reader?.terminate();
  }

  /** A released item, in the order of the whole stream. */
  private apply(kind: number, payload: unknown, extra: number, w: number): void {
    const ids = this.idMaps[w]!;
    const pipeline = this.pipeline!;
    if (kind === EV_FLOW) {
      const rec = payload as FlowRecord;
      const id = ids.get(rec.flowId);
      if (id !== undefined) {
        ids.delete(rec.flowId);
        rec.flowId = id;
      }
      pipeline.mergedFlow(rec, extra === 0 ? undefined : (extra as 1 | 2));
    } else if (kind === EV_DNS) {
      const a = payload as DnsAnswer;
      a.flowId = ids.get(a.flowId) ?? a.flowId;
      pipeline.mergedDns(a);
    } else if (kind === EV_CREATED) {
      ids.set(payload as number, this.nextFlowId++);
    } else if (kind === EV_BATCH_END) {
      pipeline.mergedBatchEnd(payload as number);
    }
  }

  /** Per-worker counters so far. */
  workerStats(): WorkerStat[] {
    return this.stats.map((s, i) => {
      const p = this.last[i];
      return p === undefined ? { ...s } : { ...s, packets: s.packets + p.packets, wireBytes: s.wireBytes + p.wireBytes, busyMs: s.busyMs + p.busyMs, idleMs: s.idleMs + p.idleMs, cpuMs: s.cpuMs + p.cpuMs, lostPackets: s.lostPackets + p.lostPackets };
    });
  }

  /** The workers' packet paths summed (complete once every worker is done). */
  totals(): PacketPathTotals {
    const ended: Record<FlowEndReason, number> = { fin: 0, rst: 0, idle: 0, active: 0, evicted: 0, eof: 0 };
    const decode: Record<string, number> = {};
    const dissect: Record<string, number> = {};
    let fragmentsOrphaned = 0;
    const bounds = new Map<string, BoundStat>();
    // the finished workers' counters and those of failed incarnations up to their last output
    for (const d of [...this.done, ...this.failedCounts]) {
      if (d === undefined) continue;
      for (const k of Object.keys(ended) as FlowEndReason[]) ended[k] += d.ended[k] ?? 0;
      sumInto(decode, d.decode);
      sumInto(dissect, d.dissect);
      fragmentsOrphaned += d.fragmentsOrphaned;
    }
    // bounds: the finished workers' tables (a failed incarnation's are gone)
    for (const d of this.done) {
      if (d === undefined) continue;
      for (const b of d.bounds) {
        const s = bounds.get(b.structure);
        if (s === undefined) bounds.set(b.structure, { ...b });
        else {
          s.entries += b.entries;
          s.max += b.max;
          s.evictions += b.evictions;
        }
      }
    }
    // decode reasons in the packet path's order
    const ordered: Record<string, number> = {};
    for (const r of DECODE_REASONS) if (decode[r] !== undefined) ordered[r] = decode[r];
    const ws = this.workerStats();
    const lost = ws.reduce((a, s) => a + s.lostPackets, 0);
    return {
      packets: ws.reduce((a, s) => a + s.packets, 0),
      wireBytes: ws.reduce((a, s) => a + s.wireBytes, 0),
      ended,
      decode: ordered,
      fragmentsOrphaned,
      ...(lost > 0 ? { workerLostPackets: lost } : {}),
      dissect,
      flowBounds: [...bounds.values()],
    };
  }

  private start(w: number, onExit: (w: number, err: string | undefined) => void): void {
    const inc = this.incarnation[w]!;
    const data: PacketWorkerData = { ...this.data, index: w, idBase: inc * ID_STRIDE };
    if (this.own !== undefined) {
      data.own = {
        files: this.own,
        workers: this.n,
        maxFragments: this.maxFragments,
        ctrl: this.ctrls[w]!,
        // a restarted worker goes on where the output of the one it replaces stopped
        fromSeq: this.merge.watermark(w) / 4,
        ...(this.skipAt[w] !== undefined ? { skipBatchAt: this.skipAt[w] } : {}),
        ...(this.opts.batchPackets !== undefined ? { batchPackets: this.opts.batchPackets } : {}),
        ...(this.opts.shardModule !== undefined ? { shardModule: this.opts.shardModule } : {}),
      };
    } else data.ring = this.rings[w]!;
    const fail = this.opts.failAfterPackets?.[w];
    if (fail !== undefined && inc === 0) data.failAfterPackets = fail;
    const failAt = this.opts.failAtSeq?.[w];
    if (failAt !== undefined) data.failAtSeq = failAt;
    if (this.opts.failOnStart?.includes(w) === true) data.failOnStart = true;
    const t = new Worker(threadUrl('packet-worker'), { workerData: { kind: 'packet-worker', data } });
    this.threads[w] = t;
    const ctrl = new Int32Array(this.ctrls[w]!);
    let error: string | undefined;
    t.on('message', (m: WorkerOutput | WorkerDone) => {
      Atomics.add(ctrl, TAKEN, 1);
      Atomics.notify(ctrl, TAKEN);
      this.gate(() => this.take(w, m));
    });
    t.on('error', (e) => {
      error = e.message;
    });
    t.on('exit', (code) => {
      this.gate(() => {
        this.threads[w] = undefined;
        onExit(w, this.done[w] !== undefined ? undefined : (error ?? `exited with code ${code}`));
      });
    });
  }

  /** A message of worker `w`. */
  private take(w: number, m: WorkerOutput | WorkerDone): void {
    const t0 = performance.now();
    this.last[w] = m.progress;
    if (m.files !== undefined) for (const f of m.files) this.outcomes[f.index] = f;
    if (m.t === 'out' && m.read !== undefined) this.opts.onProgress?.(m.read.file, m.read.done, m.read.total, m.read.packets);
    if (m.t === 'out') {
      this.lastCounts[w] = m.counts;
      this.merge.push(w, m.events, m.watermark);
    } else {
      this.done[w] = m;
      this.merge.push(w, m.events, Infinity);
    }
    this.mergeMs += performance.now() - t0;
  }

  /**
   * A worker stopped before it was done: count what it lost and start another. Fed by the
   * reader, the replacement takes over the slot the failed one was processing (no packet lost);
   * reading the files itself, it goes on where the failed one's output stopped (no packet lost).
   * Failing a second time at the same place (a packet that makes the path throw), the
   * replacement skips that slot or input batch, counted lost; a third time with no headway at
   * all, the replay is given up (throws).
   */
  private restart(w: number, error: string, onExit: (w: number, err: string | undefined) => void): void {
    const ctrl = new Int32Array(this.ctrls[w]!);
    const s = this.stats[w]!;
    const p = this.last[w];
    const at = this.merge.watermark(w);
    this.stuck[w] = this.failedAt[w] === at ? this.stuck[w]! + 1 : 1;
    this.failedAt[w] = at;
    if (this.stuck[w]! >= 3) throw new Error(`packet worker ${w} failed ${this.stuck[w]} times in a row without getting past stream position ${at / 4}: ${error}`);
    const skip = this.stuck[w] === 2;
    if (p !== undefined) {
      // what the old worker did stays counted
      s.packets += p.packets;
      s.wireBytes += p.wireBytes;
      s.busyMs += p.busyMs;
      s.idleMs += p.idleMs;
      s.cpuMs += p.cpuMs;
      s.lostPackets += p.lostPackets;
      this.last[w] = undefined;
    }
    s.restarts++;
    // the stage counters of what it did up to its last output stay counted too
    const c = this.lastCounts[w];
    if (c !== undefined) this.failedCounts.push(c);
    this.lastCounts[w] = undefined;
    let lostPackets = 0;
    const ring = this.rings[w];
    const tail = Atomics.load(ctrl, TAIL);
    if (ring !== undefined && Atomics.load(ctrl, HEAD) !== tail) {
      const slot = new SlotView(ring.slots[tail % ring.layout.slots]!, ring.layout);
      // a slot whose output arrived (watermark reached) was only not yet freed; one that failed
      // a worker twice is given up; otherwise the replacement processes it from its start
      const done = at >= 4 * slot.seqEnd;
      if (done || skip) {
        if (!done) lostPackets = slot.count;
        releaseSlot(ctrl, new Int32Array(ring.chunks.refs), slot);
      }
    }
    // reading the files itself: the replacement goes on at the old one's watermark, past the
    // input batch there when it failed there twice (it counts what it skips)
    this.skipAt[w] = this.own !== undefined && skip ? at / 4 : undefined;
    const lostFlows = p?.activeFlows ?? 0;
    s.lostPackets += lostPackets;
    s.lostFlows += lostFlows;
    Atomics.store(ctrl, SENT, 0);
    Atomics.store(ctrl, TAKEN, 0);
    this.idMaps[w]!.clear();
    this.incarnation[w]!++;
    this.opts.onRestart?.({ worker: w, lostPackets, lostFlows, error, skip });
    this.start(w, onExit);
  }

  /**
   * Replay `files` (in order, as one stream) through the workers into the pipeline (given here
   * when the constructor had none). The workers start now unless begin() started them.
   */
  run(files: string[], pipeline?: Pipeline): Promise<ShardedReplayResult> {
    const result = this.begin(files);
    if (pipeline !== undefined && this.pipeline === undefined) this.attach(pipeline);
    if (this.pipeline === undefined) throw new Error('sharded replay: no pipeline to merge into');
    return result;
  }

  /** Start the workers (and the reader) on `files`; their output waits for the pipeline. */
  begin(files: string[]): Promise<ShardedReplayResult> {
    if (this.result !== undefined) return this.result;
    const n = this.n;
    const readOwn = this.opts.sharedReader === false || (this.opts.sharedReader === undefined && n <= READ_OWN_UP_TO);
    if (readOwn && files.every(plainFile)) {
      this.own = files;
      this.ctrls = Array.from({ length: n }, () => new SharedArrayBuffer(CTRL_BYTES));
    } else {
      // the chunks packet bytes are read into: the one being filled and a few per worker in flight
      const chunks = allocChunks(Math.min(16, 2 * n + 2), this.opts.chunkBytes);
      this.rings = Array.from({ length: n }, () => allocRing(this.opts.ring ?? DEFAULT_RING, chunks));
      this.ctrls = this.rings.map((r) => r.ctrl);
    }
    const own = this.own !== undefined;
    this.result = new Promise<ShardedReplayResult>((resolve, reject) => {
      const reads: FileReadResult[] = [];
      const fileErrors: { file: string; message: string }[] = [];
      let readerWaitMs: number[] = [];
      let readerCpuMs = 0;
      let readerEnded = own;
      let failed = false;
      const finishIfDone = (): void => {
        if (failed || !readerEnded || this.done.some((d) => d === undefined) || this.threads.some((t) => t !== undefined)) return;
        for (const f of this.outcomes) {
          if (f === undefined) continue;
          if ('result' in f) reads.push(f.result);
          else fileErrors.push({ file: f.file, message: f.message });
        }
        resolve({ reads, fileErrors, totals: this.totals(), workers: this.workerStats(), maxHeld: this.merge.maxHeld, readerWaitMs, readerCpuMs, mergeMs: this.mergeMs, sharedReader: !own });
      };
      const fail = (err: Error): void => {
        if (failed) return;
        failed = true;
        for (const t of this.threads) void t?.terminate();
        reject(err);
      };
      const onExit = (w: number, err: string | undefined): void => {
        if (failed || this.aborted) return;
        if (err !== undefined) {
          try {
            this.restart(w, err, onExit);
          } catch (e) {
            fail(e as Error);
          }
          return;
        }
        finishIfDone();
      };
      for (let w = 0; w < this.n; w++) this.start(w, onExit);
      if (own) return;
      const data: ReaderData = {
        files,
        rings: this.rings,
        maxFragments: this.maxFragments,
        ...(this.opts.batchPackets !== undefined ? { batchPackets: this.opts.batchPackets } : {}),
        ...(this.opts.shardModule !== undefined ? { shardModule: this.opts.shardModule } : {}),
      };
      const reader = new Worker(threadUrl('reader'), { workerData: { kind: 'reader', data } });
      this.reader = reader;
      reader.on('message', (m: ReaderMessage) => this.gate(() => {
        if (m.t === 'progress') this.opts.onProgress?.(m.file, m.done, m.total, m.packets);
        else if (m.t === 'file') reads.push(m.result);
        else if (m.t === 'file-error') fileErrors.push({ file: m.file, message: m.message });
        else {
          readerEnded = true;
          readerWaitMs = m.waitMs;
          readerCpuMs = m.cpuMs;
        }
      }));
      reader.on('error', (e) => this.gate(() => fail(new Error(`replay reader failed: ${e.message}`))));
      reader.on('exit', () => this.gate(() => finishIfDone()));
    });
    return this.result;
  }
}
