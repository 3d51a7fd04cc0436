/** Counters of the EDR join (attribute stage), declared once: kind, doc, and the series each feeds. */
import type { CounterDecls, CounterValues } from '../counters.js';

export const ATTRIBUTE_COUNTERS = {
  'records.<format>': {
    kind: 'outcome',
    doc: 'EDR connection records that reached the join, by source format.',
    metric: { name: 'llmtap_edr_records_total', labels: { outcome: 'accepted' } },
  },
  'records.loopback': { kind: 'note', doc: 'EDR records whose local address is a loopback address (joined like any other).' },
  'records.evicted': { kind: 'failure', doc: 'EDR records dropped unmatched because the join was full (`attribute.max_records`).' },
  'records.unmatched': { kind: 'outcome', doc: 'EDR records that expired without a flow: connections the tap did not see.' },
  'records.unmatched_loopback': { kind: 'outcome', doc: 'Unmatched outbound loopback records not reported (`attribute.edr_only_loopback` off).' },
  'records.indexed': { kind: 'note', doc: 'EDR records held for the join now (a level, not a count).' },
  flows: { kind: 'outcome', doc: 'Flow records offered to the join.', metric: { name: 'llmtap_attribute_flows_total' } },
  'flows.evicted': { kind: 'failure', doc: 'Flows finalized early because too many waited (`attribute.max_flows`).' },
  'flows.waiting': { kind: 'note', doc: 'Flows waiting for their EDR record now (a level, not a count).' },
  'join.hit': { kind: 'outcome', doc: 'Flows attributed to a process by an EDR record.', metric: { name: 'llmtap_attribute_joined_flows_total' } },
  'join.miss': { kind: 'outcome', doc: 'Flows finalized without an EDR record.' },
  'join.held': { kind: 'note', doc: 'Evaluations that held a flow back to wait for its EDR record.' },
  'join.late': { kind: 'note', doc: 'Flows already emitted that a later EDR record attributed (an update).' },
  'join.late_held': { kind: 'note', doc: 'Held flows that a later EDR record attributed before they were emitted.' },
  'join.late_device_map': { kind: 'note', doc: 'Emitted flows re-attributed when an address was newly mapped to a device.' },
  'join.orientation_disputed': {
    kind: 'note',
    doc: 'Flows oriented by their first packet whose endpoint record reports the other direction (counted, not followed).',
  },
  'join.rejected_process_after_flow': { kind: 'note', doc: 'Candidate records refused because their process started after the flow.' },
  'join.ambiguous': { kind: 'note', doc: 'Joins with more than one equally good candidate record.' },
  'join.rate': { kind: 'note', doc: 'join.hit / (join.hit + join.miss), when there is one (a ratio, not a count).' },
  'edr_only.loopback': { kind: 'outcome', doc: 'Edr-only observations of loopback connections (a local runtime).' },
  'edr_only.offtap': { kind: 'outcome', doc: 'Edr-only observations of connections the tap did not see.' },
  'device_map.evicted': { kind: 'failure', doc: 'Address-to-device mappings evicted because the map was full (`attribute.max_devices`).' },
  'skew_ms.<device>.<source>': { kind: 'note', doc: 'Median clock skew learned per device and EDR source, milliseconds (a level, not a count).' },
} as const satisfies CounterDecls;

/** The attribute stage's plain counter names (what `count` takes). */
export type AttributeCounter = keyof CounterValues<typeof ATTRIBUTE_COUNTERS>;
