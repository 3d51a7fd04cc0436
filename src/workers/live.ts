/**
 * Live capture with several workers (docs/capture-fanout.md): N worker threads
 * (live-worker.ts), each with its own capture socket in one PACKET_FANOUT group on the
 * interface, each running the per-packet path on the flows the kernel hands it. This thread
 * receives only their batched outputs (flow records, DNS answers, watermarks, counters) and
 * hands them on (`onOutput`) to the time-ordered merge in front of names → attribute →
 * classify → detect → store.
 *
 * A worker that fails (an exception, or its thread ended) is counted and replaced at once: its
 * socket was closed with its thread (the binding closes it when the thread's environment goes
 * away), the new worker's socket joins the same group. The flows the failed worker held open
 * are lost (their packets were counted); the sensor keeps running.
 */
import { Worker } from 'node:worker_threads';
import type { DnsAnswer, FlowRecord, SourceStats } from '../records.js';
import type { ShedTarget, WorkerPathCounters } from '../pipeline.js';
import { OrderedMerge } from './merge.js';
import { threadUrl } from './replay.js';
import { LIVE_EV_DNS, LIVE_EV_FLOW, type LiveWorkerData, type LiveWorkerMessage, type LiveWorkerProgress, type PathCounters } from './live-worker.js';

export interface LiveWorkersOptions {
  workers: number;
  /** Everything a worker needs but its index, the count and the test hooks. */
  data: Omit<LiveWorkerData, 'index' | 'workers' | 'failAfterPackets' | 'shed'>;
  /** A worker's items (flat, key order) and its watermark; after a batch, its newest packet time. */
  onOutput: (worker: number, events: unknown[], watermark: number, batchTsUs?: number) => void;
  onRestart?: (e: { worker: number; restarts: number; error: string }) => void;
  /** Test hooks, per worker index (first start only): fail after N packets, another kernel ring
   * size. */
  bufferBytes?: Record<number, number>;
  failAfterPackets?: Record<number, number>;
}

/** Per worker, its progress summed over its restarts, for the summary and the metrics. */
export interface LiveWorkerStat extends Omit<LiveWorkerProgress, 'flowsCreated' | 'shed1' | 'shed2'> {
  worker: number;
  /** busyMs / upMs of the running incarnation. */
  busyRatio: number;
  restarts: number;
}

interface Slot {
  thread: Worker | undefined;
  /** Totals of the incarnations that failed. */
  base: LiveWorkerProgress;
  last: LiveWorkerProgress | undefined;
  restarts: number;
  stopping: boolean;
  done: boolean;
  /** Stage counters: of the failed incarnations, and the running one's latest. */
  countersBase: PathCounters;
  counters: PathCounters | undefined;
}

const noCounters = (): PathCounters => ({ decode: {}, flowEnd: {}, dissect: {} });
function addInto(into: PathCounters, from: PathCounters | undefined): void {
  if (from === undefined) return;
  for (const k of ['decode', 'flowEnd', 'dissect'] as const) {
    for (const [name, n] of Object.entries(from[k])) into[k][name] = (into[k][name] ?? 0) + n;
  }
}

const zero = (): LiveWorkerProgress => ({ packets: 0, wireBytes: 0, kernelReceived: 0, kernelDropped: 0, busyMs: 0, upMs: 0, activeFlows: 0, flowsCreated: 0, shed1: 0, shed2: 0 });

export class LiveWorkers {
  private readonly slots: Slot[];
  private stopped: Promise<void> | undefined;
  private readonly ended: (() => void)[] = [];

  constructor(private readonly o: LiveWorkersOptions) {
    this.slots = Array.from({ length: o.workers }, () => ({
      thread: undefined, base: zero(), last: undefined, restarts: 0, stopping: false, done: false, countersBase: noCounters(), counters: undefined,
    }));
  }

  /** The overload level every worker creates new flows at (one shared word). */
  private readonly shed = new SharedArrayBuffer(4);

  /**
   * The workers' flow tables together, as the overload governor sees one table: flows created
   * (summed over workers and restarts, as of their latest outputs) and the level new flows are
   * created at (each worker takes it up at its next batch).
   */
  shedTarget(): ShedTarget {
    const level = new Int32Array(this.shed);
    const sum = (k: 'flowsCreated' | 'shed1' | 'shed2'): number => this.slots.reduce((a, s) => a + s.base[k] + (s.last?.[k] ?? 0), 0);
    return {
      get created() {
        return sum('flowsCreated');
      },
      get shedLevel() {
        return Atomics.load(level, 0) as 0 | 1 | 2;
      },
      set shedLevel(l: 0 | 1 | 2) {
        Atomics.store(level, 0, l);
      },
      get shedCreated() {
        return [0, sum('shed1'), sum('shed2')];
      },
    };
  }

  /** Starts every worker; resolves once all sockets joined the group (rejects with the first
   * worker's error, e.g. a refused fanout group, after stopping the others). */
  async start(): Promise<void> {
    const ready = this.slots.map((_, i) => this.spawn(i, true));
    try {
      await Promise.all(ready);
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  private spawn(i: number, first: boolean): Promise<void> {
    const o = this.o;
    const data: LiveWorkerData = { ...o.data, index: i, workers: o.workers, shed: this.shed };
    if (first && o.failAfterPackets?.[i] !== undefined) data.failAfterPackets = o.failAfterPackets[i];
    if (first && o.bufferBytes?.[i] !== undefined) data.capture = { ...data.capture, bufferBytes: o.bufferBytes[i]! };
    const slot = this.slots[i]!;
    // named, so `top -H`, /proc/PID/task/*/comm and a cgroup can tell the workers apart
    const t = new Worker(threadUrl('live-worker'), { name: `llmtap-live-${i}`, workerData: { kind: 'live-worker', data } });
    slot.thread = t;
    slot.last = undefined;
    slot.counters = undefined;
    let isReady = false;
    return new Promise<void>((resolveReady, rejectReady) => {
      t.on('message', (m: LiveWorkerMessage) => {
        if (m.t === 'ready') {
          isReady = true;
          resolveReady();
        } else if (m.t === 'out') {
          slot.last = m.progress;
          if (m.counters !== undefined) slot.counters = m.counters;
          o.onOutput(i, m.events, m.watermark, m.batchTsUs);
        } else {
          slot.last = m.progress;
          slot.counters = m.counters;
          slot.done = true;
          o.onOutput(i, m.events, Infinity);
          this.ended[i]?.();
        }
      });
      const failed = (why: string): void => {
        if (slot.thread !== t) return;
        slot.thread = undefined;
        if (!isReady) {
          rejectReady(new Error(`live worker ${i}: ${why}`));
          return;
        }
        if (slot.stopping || slot.done) {
          this.ended[i]?.();
          return;
        }
        // counted and replaced; what it had reported stays in the totals
        const last = slot.last ?? zero();
        for (const k of Object.keys(last) as (keyof LiveWorkerProgress)[]) if (k !== 'activeFlows' && k !== 'upMs') slot.base[k] += last[k];
        addInto(slot.countersBase, slot.counters);
        slot.restarts++;
        o.onRestart?.({ worker: i, restarts: slot.restarts, error: why });
        this.spawn(i, false).catch((e: unknown) => {
          o.onRestart?.({ worker: i, restarts: slot.restarts, error: `restart failed: ${e instanceof Error ? e.message : String(e)}` });
          o.onOutput(i, [], Infinity);
          this.ended[i]?.();
        });
      };
      t.on('error', (e) => failed(e instanceof Error ? e.message : String(e)));
      t.on('exit', (code) => failed(`thread exited (code ${code})`));
    });
  }

  /** Test hook: end worker `i`'s thread as a crash would. */
  async kill(i: number): Promise<void> {
    await this.slots[i]?.thread?.terminate();
  }

  stats(): LiveWorkerStat[] {
    return this.slots.map((s, worker) => {
      const l = s.last ?? zero();
      return {
        worker,
        packets: s.base.packets + l.packets,
        wireBytes: s.base.wireBytes + l.wireBytes,
        kernelReceived: s.base.kernelReceived + l.kernelReceived,
        kernelDropped: s.base.kernelDropped + l.kernelDropped,
        busyMs: s.base.busyMs + l.busyMs,
        upMs: l.upMs,
        busyRatio: l.upMs > 0 ? l.busyMs / l.upMs : 0,
        activeFlows: l.activeFlows,
        restarts: s.restarts,
      };
    });
  }

  /** The workers' packet-path stage counters, summed over workers and restarts (refreshed
   * about twice a second while running; final after stop). */
  counters(): PathCounters {
    const out = noCounters();
    for (const s of this.slots) {
      addInto(out, s.countersBase);
      addInto(out, s.counters);
    }
    return out;
  }

  /** Stops capture on every worker; resolves once each delivered its last items and open flows. */
  stop(): Promise<void> {
    this.stopped ??= Promise.all(this.slots.map((s, i) => new Promise<void>((res) => {
      s.stopping = true;
      if (s.done || s.thread === undefined) return res();
      this.ended[i] = res;
      s.thread.postMessage('stop');
    }))).then(() => undefined);
    return this.stopped;
  }
}

/** What the capture workers feed: the pipeline after its packet path. */
export interface WorkerSink {
  addWorkerFlow(rec: FlowRecord, shed: 1 | 2 | undefined, atUs: number): void;
  addDnsAnswer(a: DnsAnswer): void;
  /** A worker processed a batch whose newest packet is from `tsUs` (capture lag, overload). */
  workerBatch?(tsUs: number): void;
}

/**
 * `llmtap run --workers N`: the live workers, merged in capture-time order into the pipeline.
 * Stands where a LiveSource stands for the sensor (stats, close).
 */
export class LiveWorkerCapture {
  readonly workers: LiveWorkers;
  /** The replay workers' merge (merge.ts), keyed here by capture time: items below every
   * worker's watermark are released, smallest time first. The reorder window is how far the
   * slowest worker trails: about a batch timeout while packets flow, the idle slack on a quiet
   * link. */
  readonly merge: OrderedMerge;
  /** Failed workers replaced, all workers together. */
  restarts = 0;

  constructor(sink: WorkerSink, o: Omit<LiveWorkersOptions, 'onOutput'>) {
    this.merge = new OrderedMerge(o.workers, (kind, payload, extra, _worker, key) => {
      if (kind === LIVE_EV_FLOW) sink.addWorkerFlow(payload as FlowRecord, extra === 0 ? undefined : (extra as 1 | 2), key);
      else if (kind === LIVE_EV_DNS) sink.addDnsAnswer(payload as DnsAnswer);
    });
    const onRestart = o.onRestart;
    this.workers = new LiveWorkers({
      ...o,
      onOutput: (w, events, watermark, batchTsUs) => {
        this.merge.push(w, events, watermark);
        if (batchTsUs !== undefined) sink.workerBatch?.(batchTsUs);
      },
      onRestart: (e) => {
        this.restarts++;
        onRestart?.(e);
      },
    });
  }

  start(): Promise<void> {
    return this.workers.start();
  }

  /** The workers' packets and kernel counters, summed (per worker: workerStats). */
  stats(): SourceStats {
    const all = this.workers.stats();
    const sum = (k: 'packets' | 'wireBytes' | 'kernelReceived' | 'kernelDropped'): number => all.reduce((a, w) => a + w[k], 0);
    return {
      packets: sum('packets'), capBytes: 0, wireBytes: sum('wireBytes'), fileBytes: 0, truncatedRecords: 0,
      kernelReceived: sum('kernelReceived'), kernelDropped: sum('kernelDropped'),
    };
  }

  workerStats(): LiveWorkerStat[] {
    return this.workers.stats();
  }

  /** The packet path's stage counters of all workers (decode, flow end, dissect) and their
   * flow tables' fill, for the pipeline's metrics (Pipeline.workerCounters). */
  pathCounters(): WorkerPathCounters {
    return { ...this.workers.counters(), activeFlows: this.workers.stats().reduce((a, w) => a + w.activeFlows, 0) };
  }

  /** Stops capture; resolves once every worker's last items went through the merge. */
  close(): Promise<void> {
    return this.workers.stop();
  }
}
