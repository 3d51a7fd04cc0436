/**
 * Every stage's counter declarations, in pipeline order: the list the metrics reference
 * (docs/metrics.md) is generated from. A stage adds its record here when it declares one.
 */
import type { CounterDecls } from '../metrics.js';
import { DECODE_DECLS } from '../decode/reasons.js';
import { DISSECT_COUNTERS } from '../dissect/reasons.js';

export interface StageCounterDecls {
  /** The stage's name in metric selectors (STAGE_METRICS) and in the docs. */
  readonly stage: string;
  /** What the stage counts, one line (a heading of docs/metrics.md). */
  readonly title: string;
  readonly decls: CounterDecls;
}

export const STAGE_COUNTERS: readonly StageCounterDecls[] = [
  { stage: 'decode', title: 'Decode: one outcome per packet', decls: DECODE_DECLS },
  { stage: 'dissect', title: 'Dissect: TLS, QUIC and DNS handshakes and messages, and the router', decls: DISSECT_COUNTERS },
];
