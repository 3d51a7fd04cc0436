/**
 * Every stage's counter declarations, in pipeline order: the list the metrics reference
 * (docs/metrics.md) is generated from. A stage adds its record here when it declares one.
 */
import type { CounterDecls } from '../counters.js';
import type { StageSource } from '../metrics.js';
import { PIPELINE_COUNTERS, type Pipeline } from '../pipeline.js';
import { LOG_REASONS, SOURCE_COUNTERS } from '../source/reasons.js';
import { DECODE_DECLS } from '../decode/reasons.js';
import { FLOW_COUNTERS, FLOW_END_REASONS } from '../flow/counters.js';
import { DISSECT_COUNTERS } from '../dissect/reasons.js';
import { NAMES_COUNTERS } from '../names/counters.js';
import { ATTRIBUTE_COUNTERS } from '../attribute/counters.js';
import { EDR_DECLS, INGEST_DECLS } from '../attribute/reasons.js';
import { CLASSIFY_COUNTERS } from '../classify/counters.js';
import { DETECT_COUNTERS } from '../detect/counters.js';

export interface StageCounterDecls {
  /** The stage's name in metric selectors (STAGE_METRICS) and in the docs. */
  readonly stage: string;
  /** What the stage counts, one line (a heading of docs/metrics.md). */
  readonly title: string;
  /** Where the replay summary (table and `--format json`) shows the counters. */
  readonly shown: string;
  readonly decls: CounterDecls;
}

const STATS = 'the `stats` of `replay --format json`';

export const STAGE_COUNTERS: readonly StageCounterDecls[] = [
  { stage: 'source', title: 'Source: capture-file problems (replay)', shown: 'the failures under `malformed` (summary line and JSON); `source.skipped_block` is only counted', decls: SOURCE_COUNTERS },
  { stage: 'logs', title: 'Sensor logs (`llmtap ingest`): lines not used', shown: 'each log file\'s `bad` in the JSON `logs`; `ingest.bad_addr` under `malformed`', decls: LOG_REASONS },
  { stage: 'decode', title: 'Decode: one outcome per packet', shown: `${STATS}; the failures also under \`malformed\``, decls: DECODE_DECLS },
  { stage: 'flow', title: 'Flow: the flow table', shown: STATS, decls: FLOW_COUNTERS },
  { stage: 'flow_end', title: 'Flow end reasons', shown: '`flows ended` of the summary, `flowsEnded` in JSON (not in `stats`)', decls: FLOW_END_REASONS },
  { stage: 'dissect', title: 'Dissect: TLS, QUIC and DNS handshakes and messages, and the router', shown: STATS, decls: DISSECT_COUNTERS },
  { stage: 'names', title: 'Names: passive DNS and flow naming', shown: STATS, decls: NAMES_COUNTERS },
  { stage: 'ingest', title: 'EDR input: records the reader could not read', shown: 'the `skipped` of each EDR file (summary line; `edr[].result.rejected` in JSON)', decls: INGEST_DECLS },
  { stage: 'edr', title: 'EDR input: records of a known format that are not a usable connection', shown: 'the `skipped` of each EDR file (summary line; `edr[].result.rejected` in JSON)', decls: EDR_DECLS },
  { stage: 'attribute', title: 'Attribute: the EDR join', shown: STATS, decls: ATTRIBUTE_COUNTERS },
  { stage: 'classify', title: 'Classify: rule lookups', shown: STATS, decls: CLASSIFY_COUNTERS },
  { stage: 'detect', title: 'Detect: heuristics and alerts', shown: STATS, decls: DETECT_COUNTERS },
  { stage: 'pipeline', title: 'Pipeline: exceptions of the stages it runs fail-open', shown: STATS, decls: PIPELINE_COUNTERS },
];

/** Every stage's counters of a running pipeline, for the metrics (src/metrics.ts reads them through the declarations). */
export function stageSources(p: Pipeline): StageSource[] {
  const decls = (stage: string): CounterDecls => STAGE_COUNTERS.find((s) => s.stage === stage)?.decls ?? {};
  const source = (stage: string, values: () => Readonly<Record<string, number>>, families?: StageSource['families']): StageSource => ({
    stage,
    decls: decls(stage),
    values,
    ...(families !== undefined ? { families } : {}),
  });
  // with live capture workers, the packet path's counters are theirs (added to this path's)
  const plus = (own: Readonly<Record<string, number>>, k: 'decode' | 'flowEnd' | 'dissect'): Readonly<Record<string, number>> => {
    const w = p.workerCounters?.()[k];
    if (w === undefined) return own;
    const out: Record<string, number> = { ...own };
    for (const [name, n] of Object.entries(w)) out[name] = (out[name] ?? 0) + n;
    return out;
  };
  return [
    source('decode', () => plus(p.packets.decodeStats(), 'decode')),
    source('flow_end', () => plus(p.packets.flows.ended, 'flowEnd')),
    source('dissect', () => plus(p.dissector.stats(), 'dissect')),
    source('names', () => p.names.stats()),
    // one map holds the reader's and the formats' reasons: each stage takes its own
    source('ingest', () => p.counters.edrRejected),
    source('edr', () => p.counters.edrRejected),
    source('attribute', () => p.attributor.stats(), () => [p.attributor.recordFormats()]),
    source('detect', () => p.detector.stats(), () => [p.detector.alertCounts()]),
    source('pipeline', () => p.pipelineStats()),
  ];
}
