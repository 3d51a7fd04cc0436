/**
 * Every Prometheus metric llmtap exports, defined once. Stages keep plain numeric counters and
 * expose them through getters; nothing here is touched on the packet path. At scrape time each
 * metric's `collect()` reads its getter and sets the series (counters are reset and re-set to
 * the stage's running total, so `rate()` works and a restarted stage shows as a counter reset).
 *
 * Naming: `llmtap_<stage>_<what>_<unit>`, counters end in `_total`, times in seconds. Labels
 * are bounded: reasons, enums and provider ids from the rule set. A label value that does not
 * look like one (e.g. an address or a host name) is folded into `other`, and each metric keeps
 * at most MAX_SERIES distinct label sets, so a bug upstream cannot explode cardinality.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BoundStat } from './bounded/lru.js';
import { declaredSeries, familySeries, type CountMap, type FamilyCounts, type CounterDecls } from './counters.js';

/** Two-level counters, e.g. format → outcome → n. */
export type CountMap2 = Readonly<Record<string, CountMap>>;

export interface SourceCounters {
  packets: number;
  wireBytes: number;
  capBytes: number;
  truncatedRecords: number;
  /** Files: capture-file problems by reason. */
  fileReasons?: CountMap;
  /** Live only. */
  kernelReceived?: number;
  /** Live only: the captured interface (label of the per-interface kernel counters). */
  iface?: string;
  kernelDropped?: number;
  ifDropped?: number;
}

export interface FlowCounters {
  active: number;
}

/**
 * One stage's counters as the metrics read them: its declarations, its values at scrape time
 * and its families. Every series a declaration names (its `metric`, or a STAGE_METRICS
 * selection) is filled from these, nothing else.
 */
export interface StageSource {
  readonly stage: string;
  readonly decls: CounterDecls;
  /** Plain counters by name (undeclared names feed nothing). */
  readonly values: () => CountMap;
  /** The stage's families (each a declared `<label>` name). */
  readonly families?: () => readonly FamilyCounts[];
}

export interface ClassifyCounters {
  /** category → provider → classified connections. */
  classifications: CountMap2;
  /** provider → client-sent / client-received wire bytes of classified connections. */
  bytesOut: CountMap;
  bytesIn: CountMap;
}

/** One push output (syslog, file, webhook): alert changes delivered, failed (retried), dropped, queued. */
export interface OutputCounters {
  name: string;
  type: string;
  sent: number;
  failed: number;
  dropped: number;
  queued: number;
}

export interface StoreCounters {
  writable: boolean;
  /** kind (`alert`, `observation`, `other`) → writes waiting for the database. */
  queued: CountMap;
  /** kind → writes dropped because the fault queue was full. */
  dropped: CountMap;
  /** fault reason (`full`, `io`, `readonly`, `busy`, `cantopen`) → episodes. */
  episodes: CountMap;
  /** Writes that went to the fault queue. */
  queuedTotal: number;
}

/**
 * Getters src/sensor/api.ts wires to the stages' `stats()`. Every getter is optional; an absent one
 * leaves its metrics without series. Getters must be cheap and must not throw (a throwing
 * getter is skipped for that scrape and counted in `llmtap_metrics_collect_errors_total`).
 */
export interface MetricSources {
  source?: () => SourceCounters;
  /** The flow table's fill. */
  flow?: () => FlowCounters;
  /** Every stage's declared counters (decode, flow end, dissect, names, EDR input, attribute, detect, …). */
  stages?: readonly StageSource[];
  classify?: () => ClassifyCounters;
  /** Capture time of the newest packet vs. wall clock, seconds (0 when idle or in replay). */
  pipelineLagSeconds?: () => number;
  /** Live only: seconds since the last packet arrived from the capture (undefined: no series). */
  lastPacketAgeSeconds?: () => number | undefined;
  /** Build identity for llmtap_build_info (default: none). */
  build?: { version: string; node: string };
  /** The push outputs' counters. */
  outputs?: () => OutputCounters[];
  store?: () => StoreCounters;
  /** Every bounded structure (`<stage>.<structure>`): entries, configured bound, evictions. */
  bounds?: () => BoundStat[];
  /** Live overload (src/pipeline.ts OverloadGovernor). */
  overload?: () => { level: number; newFlowsPerS: number; episodes: number; undissected: number; unanalyzed: number };
  /** Fleet mode (docs/fleet.md): a sensor's publisher, or the hub's consumer. */
  fleet?: () => FleetCounters;
  /** Live capture workers (`llmtap run --workers N`), one entry per worker. */
  workers?: () => WorkerCounters[];
}

/** One live capture worker's counters (src/workers/live.ts), over its restarts. */
export interface WorkerCounters {
  worker: number;
  packets: number;
  /** Its own socket's kernel counters (PACKET_STATISTICS). */
  kernelReceived: number;
  kernelDropped: number;
  /** Share of the running thread's time spent on packets (0..1). */
  busyRatio: number;
  activeFlows: number;
  restarts: number;
}

/** Fleet mode's counters: `sensor` on a sensor with `fleet.servers`, `hub` on `llmtap hub`. */
export interface FleetCounters {
  sensor?: {
    buffered: number; published: number; duplicates: number; dropped: number; refused: number; retries: number; connected: boolean;
    /** Versions of the hub's config (config bucket keys) taken and refused as invalid. */
    config?: Record<'rules' | 'settings', { applied: number; rejected: number }>;
  };
  hub?: { received: number; redelivered: number; acked: number; badRecord: number; unknownTenant: number; edrRecords: number; unacked: number; connected: boolean; late: number; sensorTimeouts: number; mergeHeldS: number; watermarks: number; pressureReleased: number };
}

export interface Metrics {
  /**
   * Every metric: the operational ones plus the AI-traffic and alert series (classifications,
   * AI bytes by provider, alerts by heuristic). These are sums over all tenants, so the API
   * serves this registry only to an operator token.
   */
  registry: Registry;
  /**
   * Operational metrics only (capture, decode, flows, handshakes, DNS, EDR ingest, join,
   * lag, process, API requests): how the sensor is doing, nothing about what any tenant's
   * devices do with AI services. Served at `/metrics` without a token.
   */
  publicRegistry: Registry;
  /** API requests by route template and status class; observed by the API's onResponse hook. */
  apiRequests: Counter<'route' | 'code'>;
  /** API request duration by route template, seconds; observed by the API's onResponse hook. */
  apiLatency: Histogram<'route'>;
}

/** Most distinct label sets one metric keeps; the rest fold into `other`. */
export const MAX_SERIES = 200;

const ENUM_VALUE = /^[a-z0-9_-]{1,40}$/;
const REASON_VALUE = /^[a-z0-9_]{1,24}\.[a-z0-9_]{1,48}$/;

/** Provider / category / heuristic / format / outcome: short lower-case ids, never dotted names. */
export function boundedLabel(v: string): string {
  return ENUM_VALUE.test(v) ? v : 'other';
}

/** An interface name as a label value (Linux names: at most 15 bytes; dots for VLANs). */
export function ifaceLabel(v: string): string {
  return /^[A-Za-z0-9_.:@-]{1,32}$/.test(v) ? v : 'other';
}

export function reasonLabel(v: string): string {
  return REASON_VALUE.test(v) ? v : 'other';
}

type Labels = Record<string, string>;

/** Label values of a stage counter's series, bounded (keys sorted: one series, one key order). */
function labelsOf(l: Readonly<Labels>): Labels {
  const out: Labels = {};
  for (const k of Object.keys(l).sort()) {
    const v = l[k] ?? '';
    out[k] = v.includes('.') ? reasonLabel(v) : boundedLabel(v);
  }
  return out;
}

/** Accumulates label sets → values, folding beyond MAX_SERIES. */
class SeriesSet {
  readonly rows = new Map<string, { labels: Labels; value: number }>();
  add(labels: Labels, value: number): void {
    if (!Number.isFinite(value) || value < 0) return;
    let key = JSON.stringify(labels);
    let l = labels;
    if (!this.rows.has(key) && this.rows.size >= MAX_SERIES) {
      l = Object.fromEntries(Object.keys(labels).map((k) => [k, 'other']));
      key = JSON.stringify(l);
    }
    const row = this.rows.get(key);
    if (row === undefined) this.rows.set(key, { labels: l, value });
    else row.value += value;
  }
}

export function createMetrics(sources: MetricSources, opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  const publicRegistry = new Registry();
  if (opts.defaultMetrics !== false) {
    collectDefaultMetrics({ register: registry });
    collectDefaultMetrics({ register: publicRegistry });
  }
  /** Registers of an operational metric (both views) and of an AI-traffic/alert metric (full only). */
  const OPS = [registry, publicRegistry];
  const AI = [registry];

  const collectErrors = new Counter({
    name: 'llmtap_metrics_collect_errors_total',
    help: 'Scrapes where a stage getter threw (its metrics were skipped)',
    labelNames: ['stage'] as const,
    // Registered last (below) so a getter that throws during this scrape shows in this scrape.
    registers: [],
  });

  /** Reads a getter; a throw is counted, never propagated into the scrape. */
  function read<T>(stage: string, get: (() => T) | undefined): T | undefined {
    if (get === undefined) return undefined;
    try {
      return get();
    } catch {
      collectErrors.inc({ stage });
      return undefined;
    }
  }

  function counter<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    fill: (s: SeriesSet) => void,
    registers: Registry[] = OPS,
  ): Counter<L> {
    return new Counter<L>({
      name,
      help,
      labelNames,
      registers,
      collect() {
        const s = new SeriesSet();
        fill(s);
        this.reset();
        for (const { labels, value } of s.rows.values()) this.inc(labels as Partial<Record<L, string>>, value);
      },
    });
  }

  function gauge<L extends string>(name: string, help: string, labelNames: readonly L[], fill: (s: SeriesSet) => void): Gauge<L> {
    return new Gauge<L>({
      name,
      help,
      labelNames,
      registers: OPS,
      collect() {
        const s = new SeriesSet();
        fill(s);
        this.reset();
        for (const { labels, value } of s.rows.values()) this.set(labels as Partial<Record<L, string>>, value);
      },
    });
  }

  /**
   * The series of `metric` from every stage's declared counters. A label value with a dot is a
   * counter name (`decode.ipv4_truncated`), any other an enum or id (`fin`, `sysmon`, `h1`).
   */
  const declared = (s: SeriesSet, metric: string): void => {
    for (const st of sources.stages ?? []) {
      const values = read(st.stage, st.values);
      if (values !== undefined) for (const r of declaredSeries(st.stage, st.decls, values, metric)) s.add(labelsOf(r.labels), r.value);
      for (const f of read(st.stage, st.families) ?? []) {
        if (st.decls[f.family]?.metric?.name === metric) for (const r of familySeries(st.decls, f)) s.add(labelsOf(r.labels), r.value);
      }
    }
  };
  const one = (s: SeriesSet, v: number | undefined): void => {
    if (v !== undefined) s.add({}, v);
  };
  const flat = (s: SeriesSet, m: CountMap | undefined, label: string, norm: (v: string) => string): void => {
    if (m === undefined) return;
    for (const [k, v] of Object.entries(m)) s.add({ [label]: norm(k) }, v);
  };
  const nested = (s: SeriesSet, m: CountMap2 | undefined, l1: string, l2: string): void => {
    if (m === undefined) return;
    for (const [a, inner] of Object.entries(m)) {
      for (const [b, v] of Object.entries(inner)) s.add({ [l1]: boundedLabel(a), [l2]: boundedLabel(b) }, v);
    }
  };

  // ── source ──
  counter('llmtap_source_packets_total', 'Packets received from the capture source', [], (s) => one(s, read('source', sources.source)?.packets));
  counter('llmtap_source_wire_bytes_total', 'Original frame bytes received', [], (s) => one(s, read('source', sources.source)?.wireBytes));
  counter('llmtap_source_captured_bytes_total', 'Captured bytes received (after snaplen)', [], (s) => one(s, read('source', sources.source)?.capBytes));
  counter('llmtap_source_truncated_records_total', 'Capture-file records cut by the end of the file', [], (s) =>
    one(s, read('source', sources.source)?.truncatedRecords),
  );
  counter('llmtap_source_file_problems_total', 'Capture-file problems by reason (unknown pcapng interface, bad block, broken gzip, …)', ['reason'], (s) =>
    flat(s, read('source', sources.source)?.fileReasons, 'reason', reasonLabel),
  );
  counter('llmtap_source_kernel_dropped_packets_total', 'Packets the kernel dropped (libpcap ps_drop; 0 for files)', [], (s) => {
    const st = read('source', sources.source);
    if (st !== undefined) s.add({}, st.kernelDropped ?? 0);
  });
  counter('llmtap_source_kernel_received_packets_total', 'Packets the kernel received on the capture interface (libpcap ps_recv), by interface', ['interface'], (s) => {
    const st = read('source', sources.source);
    if (st?.kernelReceived !== undefined) s.add({ interface: ifaceLabel(st.iface ?? 'unknown') }, st.kernelReceived);
  });
  gauge('llmtap_source_last_packet_age_seconds', 'Seconds since the capture last delivered a packet, by interface (live capture only)', ['interface'], (s) => {
    const age = read('source', sources.lastPacketAgeSeconds);
    if (age !== undefined) s.add({ interface: ifaceLabel(read('source', sources.source)?.iface ?? 'unknown') }, age);
  });
  counter('llmtap_source_interface_dropped_packets_total', 'Packets the interface/driver dropped (libpcap ps_ifdrop)', [], (s) => {
    const st = read('source', sources.source);
    if (st !== undefined) s.add({}, st.ifDropped ?? 0);
  });

  // ── decode ──
  counter('llmtap_decode_errors_total', 'Malformed or truncated packets by reason', ['reason'], (s) => declared(s, 'llmtap_decode_errors_total'));

  // ── flow ──
  gauge('llmtap_flow_active_flows', 'Flows currently in the flow table', [], (s) => one(s, read('flow', sources.flow)?.active));
  counter('llmtap_flow_ended_total', 'Flow records emitted by end reason', ['reason'], (s) => declared(s, 'llmtap_flow_ended_total'));
  counter('llmtap_flow_evicted_total', 'Flows evicted because the table was full', [], (s) => declared(s, 'llmtap_flow_evicted_total'));

  // ── dissect ──
  counter('llmtap_dissect_handshakes_total', 'ClientHellos parsed by transport', ['transport'], (s) => declared(s, 'llmtap_dissect_handshakes_total'));
  counter('llmtap_dissect_failures_total', 'Handshakes that failed to parse, by reason', ['reason'], (s) => declared(s, 'llmtap_dissect_failures_total'));
  counter('llmtap_dissect_quic_decrypted_total', 'QUIC Initial packets decrypted', [], (s) => declared(s, 'llmtap_dissect_quic_decrypted_total'));

  // ── names ──
  counter('llmtap_dns_answers_total', 'DNS responses parsed', [], (s) => declared(s, 'llmtap_dns_answers_total'));
  gauge('llmtap_names_passive_dns_entries', 'Entries held by passive DNS', [], (s) => declared(s, 'llmtap_names_passive_dns_entries'));

  // ── attribute ──
  counter('llmtap_edr_records_total', 'EDR connection records by source format and outcome', ['format', 'outcome'], (s) => declared(s, 'llmtap_edr_records_total'));
  counter('llmtap_edr_input_skipped_total', 'EDR input records skipped before or while parsing, by reason', ['reason'], (s) =>
    declared(s, 'llmtap_edr_input_skipped_total'),
  );
  counter('llmtap_attribute_flows_total', 'Flows offered to the EDR join', [], (s) => declared(s, 'llmtap_attribute_flows_total'));
  counter('llmtap_attribute_joined_flows_total', 'Flows attributed to a process by an EDR record', [], (s) => declared(s, 'llmtap_attribute_joined_flows_total'));

  // ── classify (AI traffic: full registry only) ──
  counter('llmtap_classify_classifications_total', 'Connections classified as AI, by category and provider', ['category', 'provider'], (s) =>
    nested(s, read('classify', sources.classify)?.classifications, 'category', 'provider'),
  AI);
  counter('llmtap_classify_ai_bytes_total', 'Wire bytes of AI connections by provider and direction (out = client sent)', ['provider', 'direction'], (s) => {
    const c = read('classify', sources.classify);
    if (c === undefined) return;
    for (const [p, v] of Object.entries(c.bytesOut)) s.add({ provider: boundedLabel(p), direction: 'out' }, v);
    for (const [p, v] of Object.entries(c.bytesIn)) s.add({ provider: boundedLabel(p), direction: 'in' }, v);
  }, AI);

  // ── detect (alerts: full registry only) ──
  counter('llmtap_detect_alerts_total', 'Alerts raised by heuristic and severity', ['heuristic', 'severity'], (s) => declared(s, 'llmtap_detect_alerts_total'), AI);

  // ── pipeline (stages run fail-open) ──
  counter('llmtap_pipeline_stage_errors_total', 'Exceptions of a stage the pipeline runs fail-open (attribute, classify, detect), counted and skipped', ['stage'], (s) =>
    declared(s, 'llmtap_pipeline_stage_errors_total'),
  );

  // ── bounded structures (every table, index, window and cache with a configured bound) ──
  const bound = (s: SeriesSet, pick: (b: BoundStat) => number): void => {
    for (const b of read('bounds', sources.bounds) ?? []) s.add({ structure: reasonLabel(b.structure) }, pick(b));
  };
  counter('llmtap_bound_evictions_total', 'Entries evicted because a bounded structure was full, by structure', ['structure'], (s) => bound(s, (b) => b.evictions));
  gauge('llmtap_bound_entries', 'Entries held by a bounded structure', ['structure'], (s) => bound(s, (b) => b.entries));
  gauge('llmtap_bound_max_entries', 'Configured bound of a structure (its config key in docs/configuration.md)', ['structure'], (s) => bound(s, (b) => b.max));

  // ── pipeline ──
  gauge('llmtap_pipeline_lag_seconds', 'Wall clock minus capture time of the newest packet processed', [], (s) =>
    one(s, read('pipeline', sources.pipelineLagSeconds)),
  );

  // ── outputs ──
  const perOutput = (s: SeriesSet, pick: (o: OutputCounters) => number): void => {
    for (const o of read('output', sources.outputs) ?? []) s.add({ output: boundedLabel(o.name), type: boundedLabel(o.type) }, pick(o));
  };
  counter('llmtap_output_sent_total', 'Alert changes delivered by each push output', ['output', 'type'], (s) => perOutput(s, (o) => o.sent));
  counter('llmtap_output_failed_total', 'Alert changes in failed send attempts (each is retried)', ['output', 'type'], (s) => perOutput(s, (o) => o.failed));
  counter('llmtap_output_dropped_total', 'Alert changes dropped because an output queue was full (or left at shutdown)', ['output', 'type'], (s) => perOutput(s, (o) => o.dropped));
  gauge('llmtap_output_queued', 'Alert changes waiting in each push output queue', ['output', 'type'], (s) => perOutput(s, (o) => o.queued));
  // ── overload (live) ──
  gauge('llmtap_overload_level', 'Overload level: 0 normal, 1 new flows not dissected, 2 new flows not dissected nor analyzed', [], (s) =>
    one(s, read('overload', sources.overload)?.level),
  );
  gauge('llmtap_overload_new_flows_per_second', 'New flows per second in the last one-second window', [], (s) =>
    one(s, read('overload', sources.overload)?.newFlowsPerS),
  );
  counter('llmtap_overload_episodes_total', 'Overload episodes (level above 0)', [], (s) => one(s, read('overload', sources.overload)?.episodes));
  counter('llmtap_overload_shed_flows_total', 'Flows created during overload, by what was skipped for them (dissect: levels 1-2; analysis: level 2)', ['stage'], (s) => {
    const o = read('overload', sources.overload);
    if (o === undefined) return;
    s.add({ stage: 'dissect' }, o.undissected);
    s.add({ stage: 'analysis' }, o.unanalyzed);
  });

  // ── live capture workers (docs/capture-fanout.md) ──
  const perWorker = (s: SeriesSet, f: (w: WorkerCounters) => number): void => {
    for (const w of read('workers', sources.workers) ?? []) s.add({ worker: String(w.worker) }, f(w));
  };
  counter('llmtap_worker_packets_total', 'Live capture workers: packets each worker processed (decode, flow, dissect)', ['worker'], (s) => perWorker(s, (w) => w.packets));
  counter('llmtap_worker_kernel_received_packets_total', 'Live capture workers: packets the kernel handed to each worker\'s socket in the fanout group', ['worker'], (s) => perWorker(s, (w) => w.kernelReceived));
  counter('llmtap_worker_kernel_dropped_packets_total', 'Live capture workers: packets the kernel dropped for each worker\'s socket (its ring was full: that worker fell behind)', ['worker'], (s) => perWorker(s, (w) => w.kernelDropped));
  gauge('llmtap_worker_busy_ratio', 'Live capture workers: share of each worker thread\'s time spent processing packets (0..1)', ['worker'], (s) => perWorker(s, (w) => w.busyRatio));
  gauge('llmtap_worker_active_flows', 'Live capture workers: flows in each worker\'s flow table', ['worker'], (s) => perWorker(s, (w) => w.activeFlows));
  counter('llmtap_worker_restarts_total', 'Live capture workers: times each worker failed and was replaced', ['worker'], (s) => perWorker(s, (w) => w.restarts));

  // ── fleet (docs/fleet.md) ──
  const fleetSensor = () => read('fleet', sources.fleet)?.sensor;
  const fleetHub = () => read('fleet', sources.fleet)?.hub;
  gauge('llmtap_fleet_connected', '1 while the sensor or hub is connected to NATS (fleet mode), 0 while not', ['role'], (s) => {
    const se = fleetSensor();
    if (se !== undefined) s.add({ role: 'sensor' }, se.connected ? 1 : 0);
    const h = fleetHub();
    if (h !== undefined) s.add({ role: 'hub' }, h.connected ? 1 : 0);
  });
  gauge('llmtap_fleet_spool_buffered', 'Sensor: flow records in the spool, not yet acknowledged by the stream (NATS, link or hub away)', [], (s) => one(s, fleetSensor()?.buffered));
  counter('llmtap_fleet_published_total', 'Sensor: flow records the stream acknowledged, new or already stored (a resend)', ['result'], (s) => {
    const se = fleetSensor();
    if (se === undefined) return;
    s.add({ result: 'new' }, se.published);
    s.add({ result: 'duplicate' }, se.duplicates);
  });
  counter('llmtap_fleet_dropped_total', 'Sensor: flow records not delivered: the spool was full (oldest dropped) or the server refused them (permissions)', ['reason'], (s) => {
    const se = fleetSensor();
    if (se === undefined) return;
    s.add({ reason: 'spool_full' }, se.dropped);
    s.add({ reason: 'refused' }, se.refused);
  });
  counter('llmtap_fleet_config_versions_total', 'Sensor: versions of the hub\'s config for its tenant (key rules or settings) taken, or refused as invalid (the last good version kept)', ['key', 'result'], (s) => {
    const c = fleetSensor()?.config;
    if (c === undefined) return;
    for (const key of ['rules', 'settings'] as const) {
      s.add({ key, result: 'applied' }, c[key].applied);
      s.add({ key, result: 'rejected' }, c[key].rejected);
    }
  });
  counter('llmtap_fleet_publish_retries_total', 'Sensor: publishes that failed or timed out and went back to the spool', [], (s) => one(s, fleetSensor()?.retries));
  counter('llmtap_fleet_hub_records_total', 'Hub: flow records by outcome (received, redelivered while in the pipeline, acked after commit, bad_record and unknown_tenant terminated)', ['outcome'], (s) => {
    const h = fleetHub();
    if (h === undefined) return;
    s.add({ outcome: 'received' }, h.received);
    s.add({ outcome: 'redelivered' }, h.redelivered);
    s.add({ outcome: 'acked' }, h.acked);
    s.add({ outcome: 'bad_record' }, h.badRecord);
    s.add({ outcome: 'unknown_tenant' }, h.unknownTenant);
  });
  gauge('llmtap_fleet_hub_unacked', 'Hub: flow records taken but not yet acknowledged (held for ordering, in the join, or waiting for the commit)', [], (s) => one(s, fleetHub()?.unacked));
  counter('llmtap_fleet_hub_late_records_total', 'Hub: flow records that reached the merge after it had passed their emit time (their sensor was silent past fleet.sensor_timeout_s, or sends no watermarks)', [], (s) => one(s, fleetHub()?.late));
  counter('llmtap_fleet_hub_merge_held_seconds_total', 'Hub: seconds the merge held records because a live sensor\'s watermark was behind them (a sensor away or slow)', [], (s) => one(s, fleetHub()?.mergeHeldS));
  counter('llmtap_fleet_hub_sensor_timeouts_total', 'Hub: times a sensor silent past fleet.sensor_timeout_s stopped holding the merge', [], (s) => one(s, fleetHub()?.sensorTimeouts));
  counter('llmtap_fleet_hub_pressure_released_total', 'Hub: records the merge let go before their sensors\' watermarks because the hub neared its consumer\'s max_ack_pending (a sensor away held them; other tenants keep flowing)', [], (s) => one(s, fleetHub()?.pressureReleased));
  counter('llmtap_fleet_hub_watermarks_total', 'Hub: sensor watermark messages taken (capture time handed over, or a sensor\'s end)', [], (s) => one(s, fleetHub()?.watermarks));
  counter('llmtap_fleet_hub_edr_records_total', 'Hub: EDR records taken from the llmtap.edr.<tenant> subjects', [], (s) => one(s, fleetHub()?.edrRecords));

  // ── store ──
  gauge('llmtap_store_writable', '1 while the database takes writes, 0 during a storage fault (disk full, I/O error, read-only, locked)', [], (s) => {
    const st = read('store', sources.store);
    if (st !== undefined) s.add({}, st.writable ? 1 : 0);
  });
  counter('llmtap_store_fault_episodes_total', 'Storage fault episodes by reason', ['reason'], (s) =>
    flat(s, read('store', sources.store)?.episodes, 'reason', boundedLabel),
  );
  gauge('llmtap_store_queue_depth', 'Writes waiting in the fault queue for the database, by kind', ['kind'], (s) =>
    flat(s, read('store', sources.store)?.queued, 'kind', boundedLabel),
  );
  counter('llmtap_store_queue_dropped_total', 'Writes dropped because the fault queue was full, by kind', ['kind'], (s) =>
    flat(s, read('store', sources.store)?.dropped, 'kind', boundedLabel),
  );
  counter('llmtap_store_queued_writes_total', 'Writes that went to the fault queue (stored later unless dropped)', [], (s) =>
    one(s, read('store', sources.store)?.queuedTotal),
  );

  const build = sources.build;
  if (build !== undefined) {
    new Gauge({ name: 'llmtap_build_info', help: 'Always 1: the running llmtap version and Node.js version as labels', labelNames: ['version', 'node'] as const, registers: OPS })
      .set({ version: build.version, node: build.node }, 1);
  }
  const apiLatency = new Histogram({
    name: 'llmtap_api_request_duration_seconds',
    help: 'API request duration by route template, seconds',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: OPS,
  });
  const apiRequests = new Counter({
    name: 'llmtap_api_requests_total',
    help: 'API requests by route template and status code',
    labelNames: ['route', 'code'] as const,
    registers: OPS,
  });

  registry.registerMetric(collectErrors);
  publicRegistry.registerMetric(collectErrors);
  return { registry, publicRegistry, apiRequests, apiLatency };
}
