/**
 * The only file that wires stages together, in order:
 *
 *   source ─► decode ─► flow ─► dissect ─► names ─► attribute ─► classify ─► detect ─► store
 *
 * `PacketPath` is the per-packet part (decode, flow, dissect); everything after it works per
 * flow record. The packet loop is written so that a packet that is not in the handshake phase
 * costs decode + one hash lookup + counter updates, nothing else.
 */
import type { DnsAnswer, EdrConnection, FlowEndReason, FlowMeta, FlowRecord, Observation, PacketBatch } from './records.js';
import { Decoder } from './decode/decoder.js';
import { DECODE_REASONS } from './decode/reasons.js';
import { PacketView, TCP_FIN, TCP_RST, TCP_SYN } from './decode/view.js';
import { FlowTable, flowTableOptionsFrom, type FlowTableOptions } from './flow/table.js';
import { EXPIRE_EVERY_US } from './flow/lists.js';
import { readCaptureFile, type FileReadOptions, type FileReadResult } from './source/file.js';
import type { Logger } from 'pino';
import type { SensorConfig } from './config.js';
import { configPath } from './config.js';
import { Dissector, dissectOptionsFrom } from './dissect/index.js';
import { Attributor, obsIdOf } from './attribute/join.js';
import { communityIdOf } from './flow/community-id.js';
import { attributeOptionsFrom } from './attribute/options.js';
import { Classifier } from './classify/index.js';
import type { ClassifyQuery } from './classify/index.js';
import { Detector } from './detect/detector.js';
import { detectBoundsFrom } from './detect/rule.js';
import { loadIndicatorFile, ThreatIntelIndex, type Indicator, type IndicatorFileReport } from './detect/threat-intel.js';
import { TenantResolver } from './tenants/resolver.js';
import { defaultTenantConfig } from './tenants/schema.js';
import type { DetectStore } from './detect/sink.js';
import { addrScope } from './attribute/normalize.js';
import { PassiveDns, passiveDnsOptionsFrom } from './names/passive-dns.js';
import { configureIngestBounds, ingestBounds } from './attribute/ingest.js';
import type { BoundStat } from './bounded/lru.js';
import type { CounterDecls, CounterValues } from './counters.js';

/** What the packet path needs from dissect (src/dissect/index.ts implements it). */
export interface PacketDissector {
  onPacket(view: PacketView, meta: FlowMeta): void;
  onFlowEnd(meta: FlowMeta): void;
  stats(): Record<string, number>;
}

export interface PacketPathDeps {
  dissector?: PacketDissector;
  onFlow(rec: FlowRecord, meta: FlowMeta): void;
  /** The id of the n-th flow this path creates (default n): see FlowTable. */
  flowId?: (n: number) => number;
  /**
   * Idle expiry is driven from outside (`flows.expire`) instead of by this path's own packet
   * times: a shard of the packets expires when the whole stream would (src/workers/).
   */
  externalExpiry?: boolean;
}

export class PacketPath {
  readonly view = new PacketView();
  readonly decoder = new Decoder();
  readonly flows: FlowTable;
  private readonly dissector: PacketDissector | undefined;
  private nextExpireUs = 0;
  private readonly externalExpiry: boolean;
  /** Newest packet time seen (drives expiry and `tick`). */
  nowUs = 0;
  packets = 0;
  wireBytes = 0;

  constructor(flowOpts: Partial<FlowTableOptions>, deps: PacketPathDeps) {
    this.dissector = deps.dissector;
    this.externalExpiry = deps.externalExpiry === true;
    const d = deps.dissector;
    this.flows = new FlowTable(flowOpts, (rec, meta) => {
      // a flow still in its handshake phase ends: dissect may complete what it had; then its
      // results go onto the record, here and nowhere else
      if (d !== undefined && (meta.inspect || meta.dissectState !== undefined)) d.onFlowEnd(meta);
      if (meta.handshake !== undefined) rec.handshake = meta.handshake;
      if (meta.payloadEntropy !== undefined) rec.payloadEntropy = meta.payloadEntropy;
      deps.onFlow(rec, meta);
    }, deps.flowId);
  }

  /**
   * The packets of `b`; a sharded path (src/workers/) gives a run of them (`from` to before `to`,
   * between expiry markers) and their stream positions (`seq`).
   */
  onBatch(b: PacketBatch, from = 0, to = b.count, seq?: Float64Array): void {
    const v = this.view;
    const dec = this.decoder;
    const flows = this.flows;
    const d = this.dissector;
    const buf = b.buf;
    const ext = this.externalExpiry;
    for (let i = from; i < to; i++) {
      const ts = b.tsUs[i]!;
      const wire = b.wireLen[i]!;
      this.packets++;
      if (seq !== undefined) flows.seq = seq[i]!;
      this.wireBytes += wire;
      if (ts > this.nowUs) {
        this.nowUs = ts;
        if (ts >= this.nextExpireUs && !ext) {
          if (this.nextExpireUs !== 0) flows.expire(ts);
          this.nextExpireUs = ts + EXPIRE_EVERY_US;
        }
      }
      if (!dec.decode(v, buf, b.offset[i]!, b.capLen[i]!, wire, b.linkType[i]!, ts, b.ifIndex[i]!)) continue;
      const slot = flows.update(v);
      if (slot < 0) continue; // an orphan fragment (counted by the flow table)
      if (d !== undefined && flows.inspect[slot] === 1 && (v.payloadLen > 0 || (v.tcpFlags & (TCP_SYN | TCP_FIN | TCP_RST)) !== 0)) {
        const meta = flows.meta[slot]!;
        d.onPacket(v, meta);
        if (!meta.inspect) flows.inspect[slot] = 0;
      }
    }
  }

  /** Advance packet time without packets (live capture on a quiet link). */
  tick(nowUs: number): void {
    if (nowUs > this.nowUs) this.nowUs = nowUs;
    this.flows.expire(this.nowUs);
  }

  /** End of input: emit every open flow. */
  finish(): void {
    this.flows.flushAll();
  }

  decodeStats(): Record<string, number> {
    const out: Record<string, number> = {};
    DECODE_REASONS.forEach((r, i) => {
      const n = this.decoder.counts[i]!;
      if (n > 0) out[r] = n;
    });
    return out;
  }
}

/** What several packet paths did, summed (src/workers/): the single path's counters. */
export interface PacketPathTotals {
  packets: number;
  wireBytes: number;
  ended: Record<FlowEndReason, number>;
  /** Decode reasons with a count (PacketPath.decodeStats). */
  decode: Record<string, number>;
  fragmentsOrphaned: number;
  /** Packets a failed worker never processed (`flow.worker_lost_packets`). */
  workerLostPackets?: number;
  dissect: Record<string, number>;
  /** The flow tables' and fragment maps' bounds, entries and evictions summed. */
  flowBounds: BoundStat[];
}

export interface ReplayFileOptions extends FileReadOptions {
  flow?: Partial<FlowTableOptions>;
  dissector?: PacketDissector;
  onFlow?(rec: FlowRecord, meta: FlowMeta): void;
}

/**
 * Replay one capture file through decode → flow (→ dissect when a dissector is given) and return
 * every flow record. For tests and tools; the CLI uses the full Pipeline.
 */
export async function replayFile(
  path: string,
  opts: ReplayFileOptions = {},
): Promise<{ flows: FlowRecord[]; read: FileReadResult; path: PacketPath }> {
  const flows: FlowRecord[] = [];
  const deps: PacketPathDeps = {
    onFlow: (rec, meta) => {
      flows.push(rec);
      opts.onFlow?.(rec, meta);
    },
  };
  if (opts.dissector !== undefined) deps.dissector = opts.dissector;
  const pp = new PacketPath(opts.flow ?? {}, deps);
  const read = await readCaptureFile(path, (b) => pp.onBatch(b), opts);
  pp.finish();
  return { flows, read, path: pp };
}

// ───────────────────────────── overload (live) ─────────────────────────────

export interface OverloadOptions {
  /** New flows per second above which new flows are not dissected. */
  dissectNewFlowsPerS: number;
  /** New flows per second above which new flows are only counted (not analyzed). */
  analyzeNewFlowsPerS: number;
  /** Capture lag (s) above which new flows are not dissected; twice this, not analyzed. */
  maxLagS: number;
  /** Seconds below a level's trigger before stepping down one level. */
  recoverS: number;
}

export const OVERLOAD_STATES = ['normal', 'shed_dissect', 'shed_analysis'] as const;

/**
 * What the governor reads and sets: the sensor's flow table, or the live capture workers'
 * tables together (src/workers/live.ts).
 */
export interface ShedTarget {
  /** Flows created since start. */
  readonly created: number;
  /** The level new flows are created at. */
  shedLevel: 0 | 1 | 2;
  /** Flows created at level 1 and 2 (index 1, 2). */
  readonly shedCreated: ArrayLike<number>;
}

export interface OverloadStatus {
  level: 0 | 1 | 2;
  state: (typeof OVERLOAD_STATES)[number];
  /** New flows per second in the last window. */
  newFlowsPerS: number;
  /** Wall clock minus the newest packet's capture time, seconds. */
  lagS: number;
  episodes: number;
  /** Flows created while dissect was shed (levels 1 and 2) and while analysis was shed (level 2). */
  undissected: number;
  unanalyzed: number;
}

/** One overload episode's start (`level` > 0 from 0) or end (back to 0), for one log line each. */
export type OverloadEvent =
  | { state: 'started'; level: 1 | 2; why: 'new_flows' | 'lag'; newFlowsPerS: number; lagS: number }
  | { state: 'ended'; seconds: number; maxLevel: 1 | 2; undissected: number; unanalyzed: number; peakNewFlowsPerS: number };

/**
 * Live overload: when new flows arrive faster than the pipeline takes them, new flows are
 * degraded in a fixed order and the sensor recovers by itself.
 *
 *   level 0 (normal)        every flow dissected and analyzed
 *   level 1 (shed_dissect)  new flows are not dissected (no TLS/QUIC hello, no DNS answers):
 *                           they are still counted, emitted and analyzed (passive DNS and
 *                           address rules can still name them)
 *   level 2 (shed_analysis) new flows are also not analyzed (no EDR join, classification or
 *                           detection): they are counted and emitted as flow records only
 *
 * Never shed: packet, byte and flow counting, flow records, and flows that began before the
 * episode (they keep their level). Triggers, measured each second of wall clock: the rate of
 * new flows against `dissectNewFlowsPerS` / `analyzeNewFlowsPerS`, or the capture lag against
 * `maxLagS` / twice it. The level rises at once and falls one step after `recoverS` seconds
 * below its trigger.
 */
export class OverloadGovernor {
  level: 0 | 1 | 2 = 0;
  episodes = 0;
  private windowStartMs = -1;
  private windowStartCreated = 0;
  private rate = 0;
  private lagS = 0;
  private calmSinceMs = -1;
  private lastBatchUs = 0;
  private sawBatch = false;
  private episode: { startMs: number; maxLevel: 1 | 2; shed0: [number, number]; peak: number } | undefined;

  constructor(
    private readonly opts: OverloadOptions,
    private flows: ShedTarget,
    private readonly onEvent?: (e: OverloadEvent) => void,
  ) {}

  /** Govern other flow tables from now on (live capture workers'), before any traffic. */
  retarget(t: ShedTarget): void {
    this.flows = t;
    t.shedLevel = this.level;
    this.windowStartMs = -1;
  }

  /**
   * Called per batch (with the capture time of its last packet) and per tick (without): the
   * lag of a window is that of its last batch, 0 when no batch came.
   */
  update(nowMs: number, batchTsUs?: number): void {
    if (batchTsUs !== undefined) {
      this.lastBatchUs = batchTsUs;
      this.sawBatch = true;
    }
    if (this.windowStartMs < 0) {
      this.windowStartMs = nowMs;
      this.windowStartCreated = this.flows.created;
      return;
    }
    const elapsed = nowMs - this.windowStartMs;
    if (elapsed < 1000) return;
    const created = this.flows.created;
    this.rate = ((created - this.windowStartCreated) * 1000) / elapsed;
    this.windowStartMs = nowMs;
    this.windowStartCreated = created;
    this.lagS = this.sawBatch ? Math.max(0, nowMs / 1000 - this.lastBatchUs / 1e6) : 0;
    this.sawBatch = false;
    const o = this.opts;
    let target: 0 | 1 | 2 = 0;
    if (this.rate > o.analyzeNewFlowsPerS || this.lagS > 2 * o.maxLagS) target = 2;
    else if (this.rate > o.dissectNewFlowsPerS || this.lagS > o.maxLagS) target = 1;
    if (target > this.level) {
      this.set(target, nowMs);
      this.calmSinceMs = -1;
    } else if (target < this.level) {
      if (this.calmSinceMs < 0) this.calmSinceMs = nowMs - elapsed;
      if (nowMs - this.calmSinceMs >= o.recoverS * 1000) {
        this.set((this.level - 1) as 0 | 1, nowMs);
        this.calmSinceMs = this.level > target ? nowMs : -1;
      }
    } else {
      this.calmSinceMs = -1;
    }
    if (this.episode !== undefined && this.rate > this.episode.peak) this.episode.peak = this.rate;
  }

  private set(level: 0 | 1 | 2, nowMs: number): void {
    const from = this.level;
    this.level = level;
    this.flows.shedLevel = level;
    const sc = this.flows.shedCreated;
    if (from === 0 && level > 0) {
      this.episodes++;
      this.episode = { startMs: nowMs, maxLevel: level as 1 | 2, shed0: [sc[1]! + sc[2]!, sc[2]!], peak: this.rate };
      this.onEvent?.({ state: 'started', level: level as 1 | 2, why: this.rate > this.opts.dissectNewFlowsPerS ? 'new_flows' : 'lag', newFlowsPerS: Math.round(this.rate), lagS: Math.round(this.lagS * 10) / 10 });
    } else if (this.episode !== undefined) {
      if (level > this.episode.maxLevel) this.episode.maxLevel = level as 1 | 2;
      if (level === 0) {
        const e = this.episode;
        this.episode = undefined;
        this.onEvent?.({
          state: 'ended', seconds: Math.round((nowMs - e.startMs) / 100) / 10, maxLevel: e.maxLevel,
          undissected: sc[1]! + sc[2]! - e.shed0[0], unanalyzed: sc[2]! - e.shed0[1], peakNewFlowsPerS: Math.round(e.peak),
        });
      }
    }
  }

  status(): OverloadStatus {
    const sc = this.flows.shedCreated;
    return {
      level: this.level, state: OVERLOAD_STATES[this.level], newFlowsPerS: Math.round(this.rate), lagS: Math.round(this.lagS * 10) / 10,
      episodes: this.episodes, undissected: sc[1]! + sc[2]!, unanalyzed: sc[2]!,
    };
  }
}

// ───────────────────────────── the whole sensor ─────────────────────────────

export interface PipelineDeps {
  /** The SQLite `Store`, or the fleet hub's PostgreSQL store (src/store/pg/store.ts). */
  store: DetectStore;
  log?: Logger;
  /** Share one classifier (the API's explain/reload use the same instance). */
  classifier?: Classifier;
  /** Every flow record (for --flows output), after naming. */
  onFlow?(rec: FlowRecord): void;
  /** Every observation after classification (for summaries). */
  onObservation?(obs: Observation): void;
  /** Live capture: degrade new flows under overload (OverloadGovernor), told per episode. */
  overload?: { onEvent?: (e: OverloadEvent) => void };
}

/**
 * The pipeline's own counters, declared once: the later stages it runs fail-open. An exception
 * of the join, the rule lookup or detection is counted here (and logged at most every 10 s);
 * capture and the flow records go on.
 */
export const PIPELINE_COUNTERS = {
  'pipeline.attribute_error': {
    kind: 'failure',
    doc: 'Flows and EDR records the EDR join threw on (fail-open: the flow record is still written; a flow gets no observation).',
    metric: { name: 'llmtap_pipeline_stage_errors_total', labels: { stage: 'attribute' } },
  },
  'pipeline.classify_error': {
    kind: 'failure',
    doc: 'Observations the rule lookup threw on (fail-open: the observation goes on to detection and the store unclassified).',
    metric: { name: 'llmtap_pipeline_stage_errors_total', labels: { stage: 'classify' } },
  },
  'pipeline.detect_error': {
    kind: 'failure',
    doc: 'Observations detection threw on outside a rule run (fail-open; a rule run that throws counts under `detect.error`).',
    metric: { name: 'llmtap_pipeline_stage_errors_total', labels: { stage: 'detect' } },
  },
} as const satisfies CounterDecls;

/** Stage counters the summary and /metrics read. */
export interface PipelineCounters {
  flows: number;
  observations: number;
  aiObservations: number;
  /** Keyed by provider and category. */
  byProvider: Map<string, { provider: string; category: string; flows: number; bytesOut: number; bytesIn: number }>;
  classifyErrors: number;
  detectErrors: number;
  attributeErrors: number;
  dnsAnswers: number;
  /** EDR records refused at ingest (files, followed feeds, the API), by reason. */
  edrRejected: Record<string, number>;
  /** AI observations to endpoints a tenant rule marks sanctioned. */
  sanctioned: number;
}

/** The packet-path counters of live capture workers (src/workers/live.ts), summed. */
export interface WorkerPathCounters {
  decode: Record<string, number>;
  flowEnd: Record<string, number>;
  dissect: Record<string, number>;
  activeFlows: number;
}

export class Pipeline {
  readonly packets: PacketPath;
  readonly dissector: Dissector;
  readonly names: PassiveDns;
  readonly attributor: Attributor;
  readonly classifier: Classifier;
  readonly detector: Detector;
  tenants: TenantResolver;
  /**
   * Live capture workers (`llmtap run --workers N`) run the packet path on their threads: their
   * decode, flow-end and dissect counters and flow-table fill, summed, for the metrics beside
   * this pipeline's own (which then count nothing).
   */
  workerCounters: (() => WorkerPathCounters) | undefined;

  readonly counters: PipelineCounters = {
    flows: 0,
    observations: 0,
    aiObservations: 0,
    byProvider: new Map(),
    classifyErrors: 0,
    detectErrors: 0,
    attributeErrors: 0,
    dnsAnswers: 0,
    edrRejected: {},
    sanctioned: 0,
  };
  /** Live only (deps.overload). */
  readonly overload: OverloadGovernor | undefined;
  private readonly log: Logger | undefined;
  private lastErrLogMs = 0;
  private lastTickUs = 0;

  constructor(
    readonly cfg: SensorConfig,
    private readonly deps: PipelineDeps,
  ) {
    this.log = deps.log;
    this.tenants = new TenantResolver(cfg.tenants.length > 0 ? cfg.tenants : [defaultTenantConfig()]);
    this.classifier =
      deps.classifier ??
      Classifier.fromFiles({
        rules: configPath(cfg, cfg.rules.file),
        ...(cfg.rules.tenant_dir !== undefined ? { tenantDir: configPath(cfg, cfg.rules.tenant_dir) } : {}),
      }, { memoMax: cfg.classify.max_memo });
    configureIngestBounds({ maxProcesses: cfg.edr.max_processes, maxDnsHints: cfg.edr.max_dns_hints });
    const bounds = detectBoundsFrom(cfg.detect);
    this.detector = new Detector({ tenants: this.tenants, bounds }, { store: deps.store, ...(deps.log !== undefined ? { log: deps.log.child({ stage: 'detect' }) } : {}) });
    this.loadThreatIntel(cfg);
    this.attributor = new Attributor(
      attributeOptionsFrom(cfg.attribute),
      { emit: (obs) => this.onObservation(obs), tenantOfEdr: (rec) => this.tenants.ofEdrRecord(rec.tenant, rec.localAddr) },
    );
    // ids are named where a record or observation leaves (analyze, onObservation)
    this.attributor.lazyObsId = true;
    this.names = new PassiveDns(passiveDnsOptionsFrom(cfg.names));
    this.dissector = new Dissector(
      dissectOptionsFrom(cfg.dissect, this.tenants.payloadEntropyWanted),
      {
        onDns: (a) => this.mergedDns(a),
      },
    );
    this.packets = new PacketPath(
      flowTableOptionsFrom(cfg.flow),
      { dissector: this.dissector, onFlow: (rec, meta) => this.onFlow(rec, meta.shed, true) },
    );
    this.packets.flows.lazyCommunityId = true;
    this.overload = deps.overload === undefined ? undefined : new OverloadGovernor({
      dissectNewFlowsPerS: cfg.overload.dissect_new_flows_per_s,
      analyzeNewFlowsPerS: cfg.overload.analyze_new_flows_per_s,
      maxLagS: cfg.overload.max_lag_s,
      recoverS: cfg.overload.recover_s,
    }, this.packets.flows, deps.overload.onEvent);
  }

  onBatch(b: PacketBatch): void {
    this.packets.onBatch(b);
    if (this.overload !== undefined && b.count > 0) this.overload.update(Date.now(), b.tsUs[b.count - 1]);
    this.batchTick();
  }

  /** After each batch: join waits and detection windows run on packet time, also during a replay. */
  private batchTick(): void {
    const now = this.packets.nowUs;
    if (now - this.lastTickUs >= 1e6) {
      this.lastTickUs = now;
      this.attributor.tick(now);
      this.detector.tick(now);
    }
  }

  // ── sharded packet paths (src/workers/): their outputs after the time-ordered merge ──

  /**
   * Totals of packet paths that run elsewhere (worker threads): when set, stats() and bounds()
   * report them instead of this pipeline's own (idle) packet path.
   */
  shardTotals: (() => PacketPathTotals) | undefined;

  /** A flow record a packet path emitted, in the order one path would have emitted it. */
  mergedFlow(rec: FlowRecord, shed: FlowMeta['shed']): void {
    this.onFlow(rec, shed, true);
  }

  /** A DNS answer a packet path decoded (this pipeline's own, or a worker's in merge order): counted, learned. */
  mergedDns(a: DnsAnswer): void {
    this.counters.dnsAnswers++;
    this.names.addAnswer(a);
  }

  /** The end of one input batch (with the newest packet time so far): what onBatch does after it. */
  mergedBatchEnd(nowUs: number): void {
    this.advance(nowUs);
  }

  /** An EDR connection record (from a file, a followed feed or the API). */
  addEdr(rec: EdrConnection): void {
    try {
      this.attributor.addEdr(rec);
    } catch (err) {
      this.counters.attributeErrors++;
      this.rateLimitedError('attribute', err);
    }
  }

  /** Note what an ingest call refused (accepted records arrive through addEdr). */
  noteIngest(rejected: Record<string, number>): void {
    for (const [k, n] of Object.entries(rejected)) this.counters.edrRejected[k] = (this.counters.edrRejected[k] ?? 0) + n;
  }

  /**
   * A flow record read from a sensor log (`llmtap ingest`), at its end time: from here it takes
   * the path of a captured flow after the flow table (names, attribute, classify, detect).
   * Records must come in time order, DNS answers (addDnsAnswer) among them.
   */
  addLogFlow(rec: FlowRecord): void {
    this.advance(rec.lastTsUs);
    this.onFlow(rec, undefined, false);
  }

  /**
   * A flow record a fleet sensor captured and named (src/fleet/hub.ts), at its end time, of the
   * tenant its NATS subject proves (the server lets a sensor publish only its own tenant's
   * subjects): not named again here (the hub has no DNS of the site), it takes the path after
   * names (attribute, classify, detect). Records of several sensors interleave: each is taken
   * at its own time, the clock never goes back.
   */
  addNamedFlow(rec: FlowRecord, tenant: string): void {
    this.advance(rec.lastTsUs);
    this.counters.flows++;
    this.analyze(rec, tenant, undefined, false);
  }

  /**
   * A flow record a live capture worker's flow table emitted (src/workers/live.ts), at `atUs`
   * (capture time: the packet or expiry that ended it), in the time-ordered merge of all
   * workers: from here it takes the path of a flow of this pipeline's own table (names,
   * attribute, classify, detect).
   */
  addWorkerFlow(rec: FlowRecord, shed: FlowMeta['shed'], atUs: number): void {
    this.advance(atUs);
    this.onFlow(rec, shed, true);
  }

  /** A live capture worker processed a batch whose newest packet is from `tsUs`: the capture lag the governor weighs. */
  workerBatch(tsUs: number): void {
    this.overload?.update(Date.now(), tsUs);
  }

  /** A DNS answer read from a sensor log, at its time: passive DNS learns it as from the wire. */
  addDnsAnswer(a: DnsAnswer): void {
    this.advance(a.tsUs);
    this.mergedDns(a);
  }

  /** Log time moves on: join waits and detection windows run on it as on packet time. */
  private advance(tsUs: number): void {
    if (tsUs > this.packets.nowUs) this.packets.nowUs = tsUs;
    this.batchTick();
  }

  /**
   * A flow record (captured, or read from a log) is named and its tenant resolved, here, once.
   * `fromTable`: made by the flow table (not read from a log), see Attributor.addFlow.
   */
  private onFlow(rec: FlowRecord, shed: FlowMeta['shed'], fromTable: boolean): void {
    this.counters.flows++;
    this.names.nameFlow(rec);
    this.analyze(rec, this.tenants.ofFlow(rec), shed, fromTable);
  }

  /**
   * A flow record enters analysis with its tenant, which its observation carries (the join
   * keys by it, classify and detect read it). The payload-entropy opt-in is decided here and
   * nowhere else: the record keeps its entropy only when its tenant opted in, so the flow
   * output, the observation and the store see it only then.
   */
  private analyze(rec: FlowRecord, tenant: string, shed: FlowMeta['shed'], fromTable: boolean): void {
    if (rec.payloadEntropy !== undefined && !this.tenants.get(tenant).payload_entropy) delete rec.payloadEntropy;
    if (this.deps.onFlow !== undefined) {
      communityIdOf(rec); // the record leaves complete (the flow table deferred it)
      this.deps.onFlow(rec);
    }
    if (shed === 2) return; // created during overload level 2: counted and emitted only
    // fail-open: an error after this point never stops capture or flow records
    try {
      this.attributor.addFlow(rec, tenant, fromTable);
    } catch (err) {
      this.counters.attributeErrors++;
      this.rateLimitedError('attribute', err);
    }
  }

  private onObservation(obs: Observation): void {
    if (!obs.update) this.counters.observations++;
    try {
      // One object per observation, fields set in place (conditional spreads made a temporary
      // object each, per flow).
      const q: ClassifyQuery = { port: obs.serverPort, loopback: addrScope(obs.serverAddr) === 'loopback', tenant: obs.tenant };
      if (obs.host !== undefined) q.host = obs.host;
      // no name at all (hard-coded address, DNS over HTTPS, ECH): the rules' published ranges
      else q.addr = obs.serverAddr;
      const clientProc = obs.client?.processName;
      if (clientProc !== undefined) q.processName = clientProc;
      const serverProc = obs.server?.processName;
      if (serverProc !== undefined) q.serverProcessName = serverProc;
      const v = this.classifier.classify(q);
      if (v !== undefined) obs.verdict = v;
      else delete obs.verdict;
      if (v?.range !== undefined) obs.hostSource = 'ip-range';
      else if (obs.hostSource === 'ip-range') obs.hostSource = 'none';
    } catch (err) {
      this.counters.classifyErrors++;
      this.rateLimitedError('classify', err);
    }
    if (obs.verdict !== undefined && !obs.update) {
      this.counters.aiObservations++;
      if (obs.verdict.sanctioned) this.counters.sanctioned++;
      const key = `${obs.verdict.provider}\u0000${obs.verdict.category}`;
      const p = this.counters.byProvider.get(key) ?? { provider: obs.verdict.provider, category: obs.verdict.category, flows: 0, bytesOut: 0, bytesIn: 0 };
      p.flows++;
      p.bytesOut += obs.bytesOut;
      p.bytesIn += obs.bytesIn;
      this.counters.byProvider.set(key, p);
    }
    // The join deferred the id (and its flow's Community ID): named here for an observation that
    // is kept or leaves — AI (detect, the store), attributed (inventory), or given to the caller.
    // An unattributed non-AI one is only counted by detect.
    if (obs.verdict !== undefined || obs.client !== undefined || obs.server !== undefined || this.deps.onObservation !== undefined) obsIdOf(obs);
    this.deps.onObservation?.(obs);
    try {
      this.detector.onObservation(obs);
    } catch (err) {
      this.counters.detectErrors++;
      this.rateLimitedError('detect', err);
    }
  }

  private rateLimitedError(stage: string, err: unknown): void {
    const now = Date.now();
    if (this.log === undefined || now - this.lastErrLogMs < 10_000) return;
    this.lastErrLogMs = now;
    this.log.error({ stage, err: (err as Error).message }, 'stage error (fail-open; counted)');
  }

  /** Advance time on a quiet link (capture time, µs). */
  tick(nowUs: number): void {
    this.packets.tick(nowUs);
    this.overload?.update(Date.now());
    const t = this.packets.nowUs;
    this.attributor.tick(t);
    this.detector.tick(t);
  }

  /** End of input: emit every open flow, settle pending joins, commit. */
  finish(): void {
    this.packets.finish();
    this.settle();
  }

  /** End of input after the packet paths have emitted every flow: settle pending joins, commit. */
  settle(): void {
    this.attributor.flush();
    this.detector.tick(this.packets.nowUs);
    this.deps.store.flush();
  }

  /**
   * SIGHUP / API: reload rules; tenants and allowlist come from the config and the store. New
   * tenant settings (ranges, VLANs, privacy switches, payload entropy) apply to flows that end
   * after the reload; a flow already waiting in the join keeps the tenant it was given (a
   * tenant the reload removed files it under `default`).
   */
  reload(cfg?: SensorConfig, o: { rules?: boolean } = {}): { ok: boolean; error?: string } {
    if (cfg !== undefined) {
      this.tenants = new TenantResolver(cfg.tenants.length > 0 ? cfg.tenants : [defaultTenantConfig()]);
      this.detector.setTenants(this.tenants);
      // dissect computes entropy while some tenant wants it (flows that end from now on)
      this.dissector.setPayloadEntropy(this.tenants.payloadEntropyWanted);
      this.loadThreatIntel(cfg);
    }
    // rules: false — tenants only (a fleet sensor applying the hub's tenant settings)
    if (o.rules === false) return { ok: true };
    const r = this.classifier.reload();
    return r.ok ? { ok: true } : { ok: false, error: r.error };
  }

  /** Every bounded structure of every stage: entries, bound and evictions (`llmtap_bound_*`). */
  bounds(): BoundStat[] {
    return [
      ...(this.shardTotals !== undefined ? this.shardTotals().flowBounds : this.packets.flows.bounds()),
      ...this.names.bounds(),
      ...this.attributor.bounds(),
      ...ingestBounds(),
      ...this.classifier.bounds(),
      ...this.detector.bounds(),
    ];
  }

  /** What the last threat-intel load read, per tenant and file (empty when no tenant has files). */
  threatIntel: (IndicatorFileReport & { tenant: string; kept?: number })[] = [];
  /** The last good indicators of each (tenant, file), kept when a reload cannot read it. */
  private readonly intelFiles = new Map<string, Indicator[]>();

  /**
   * Reads every tenant's indicator files (at start and on SIGHUP) and hands the detector one
   * index per tenant. A file that cannot be used is logged with its reason and skipped — or,
   * when an earlier load read it, its previous indicators are kept. Never throws.
   */
  private loadThreatIntel(cfg: SensorConfig): void {
    const byTenant = new Map<string, ThreatIntelIndex>();
    const reports: (IndicatorFileReport & { tenant: string; kept?: number })[] = [];
    const live = new Set<string>();
    for (const t of cfg.tenants) {
      if (t.threat_intel.files.length === 0) continue;
      const all: Indicator[] = [];
      for (const f of t.threat_intel.files) {
        const path = configPath(cfg, f);
        const key = `${t.id}\0${path}`;
        live.add(key);
        const { indicators, report } = loadIndicatorFile(path);
        const rep: IndicatorFileReport & { tenant: string; kept?: number } = { ...report, tenant: t.id };
        if (report.error !== undefined) {
          const prev = this.intelFiles.get(key);
          if (prev) {
            rep.kept = prev.length;
            all.push(...prev);
          }
          this.log?.error({ tenant: t.id, file: path, err: report.error, kept: prev?.length ?? 0 }, 'threat intel: indicator file unusable');
        } else {
          this.intelFiles.set(key, indicators);
          all.push(...indicators);
          if (report.problems.length > 0) {
            this.log?.warn({ tenant: t.id, file: path, unsupported: report.unsupported, invalid: report.invalid, problems: report.problems }, 'threat intel: entries skipped');
          }
          this.log?.info({ tenant: t.id, file: path, format: report.format, indicators: report.indicators, unsupported: report.unsupported, invalid: report.invalid, revoked: report.revoked }, 'threat intel: loaded');
        }
        reports.push(rep);
      }
      byTenant.set(t.id, new ThreatIntelIndex(all));
    }
    for (const k of [...this.intelFiles.keys()]) if (!live.has(k)) this.intelFiles.delete(k);
    this.threatIntel = reports;
    this.detector.setThreatIntel(byTenant);
  }

  /** The pipeline's own counters (PIPELINE_COUNTERS) by name. */
  pipelineStats(): CounterValues<typeof PIPELINE_COUNTERS> {
    return {
      'pipeline.attribute_error': this.counters.attributeErrors,
      'pipeline.classify_error': this.counters.classifyErrors,
      'pipeline.detect_error': this.counters.detectErrors,
    };
  }

  stats(): Record<string, number> {
    const sh = this.shardTotals?.();
    return {
      ...(sh !== undefined ? sh.decode : this.packets.decodeStats()),
      'flow.fragment_orphan': sh !== undefined ? sh.fragmentsOrphaned : this.packets.flows.fragmentsOrphaned,
      ...(sh?.workerLostPackets !== undefined ? { 'flow.worker_lost_packets': sh.workerLostPackets } : {}),
      ...(sh !== undefined ? sh.dissect : this.dissector.stats()),
      ...this.names.stats(),
      ...this.attributor.stats(),
      ...this.classifier.stats(),
      ...this.detector.stats(),
      ...this.pipelineStats(),
    };
  }
}
