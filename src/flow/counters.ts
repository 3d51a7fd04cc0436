/** Counters of the flow stage, declared once: kind, doc, and the series each feeds. */
import type { CounterDecls } from '../counters.js';
import type { FlowEndReason } from '../records.js';

/** In the JSON stats. */
export const FLOW_COUNTERS = {
  'flow.fragment_orphan': { kind: 'failure', doc: 'IP fragments whose first fragment was not seen (or was forgotten): not keyed to a flow.' },
  'flow.worker_lost_packets': { kind: 'failure', doc: 'Replay with several packet workers fed by the reader thread (gzip input): packets of the ring slot a failed worker was processing, never processed (the flows it held open are lost too; the summary names both). A worker reading the file itself loses no packet: its replacement starts where its output stopped.' },
} as const satisfies CounterDecls<`flow.${string}`>;

/**
 * Why a flow record was emitted (`flowsEnded` of the replay summary; each in
 * `llmtap_flow_ended_total{reason}`). Typed as a complete record: an end reason without a
 * declaration does not compile.
 */
export const FLOW_END_REASONS: CounterDecls<FlowEndReason> = {
  fin: { kind: 'outcome', doc: 'Both sides sent a FIN (TCP).' },
  rst: { kind: 'outcome', doc: 'A RST was seen (TCP).' },
  idle: { kind: 'outcome', doc: 'No packet for the idle timeout (`flow.tcp_idle_s`, `flow.other_idle_s`).' },
  active: { kind: 'outcome', doc: 'Open longer than the active timeout (`flow.active_s`), or its port pair reused after close (`flow.split_on_reuse`): a new record starts.' },
  evicted: {
    kind: 'failure',
    doc: 'Ended early because the flow table was full (`flow.max_flows`).',
    metric: { name: 'llmtap_flow_evicted_total' },
  },
  eof: { kind: 'outcome', doc: 'Still open at the end of the input (replay, or a capture stopped).' },
};
