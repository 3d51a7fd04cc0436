/** Counters of the detect stage, declared once: kind, doc, and the series each feeds. */
import type { CounterDecls, CounterValues } from '../counters.js';

export const DETECT_COUNTERS = {
  'detect.observations': { kind: 'outcome', doc: 'Observations run through detection (tenants with AI threat telemetry on).' },
  'detect.observations_ai': { kind: 'outcome', doc: 'Of those, observations classified as AI traffic.' },
  'detect.telemetry_disabled': { kind: 'outcome', doc: 'Observations of tenants with `ai_threat_telemetry_enabled: false`: not analysed.' },
  'detect.off_hours': { kind: 'note', doc: 'AI observations outside the tenant\'s business hours (a confidence signal).' },
  'detect.first_seen': { kind: 'note', doc: 'AI observations of a device, process and provider never seen together before (after warm-up).' },
  'detect.threat_intel.matches': { kind: 'note', doc: 'AI observations matching a loaded threat indicator.' },
  'detect.loopback_without_device': { kind: 'note', doc: 'Hits whose only device key was a loopback address: no alert (a loopback address names no device).' },
  'detect.h1.allowlisted': { kind: 'outcome', doc: 'H1 hits from an allowlisted process or device: no alert.' },
  'detect.h7.known_hash': { kind: 'outcome', doc: 'H7 spreads of a binary already in the inventory before the window: no alert.' },
  'detect.retention_deleted': { kind: 'outcome', doc: 'Rows deleted by retention: observations past the retention, alerts not seen for their tenant\'s `alert_ttl_hours`.' },
  'detect.error': { kind: 'failure', doc: 'Rule runs that threw (fail-open: the observation is still stored).' },
  'detect.error.<rule>': { kind: 'failure', doc: 'The same, by rule.' },
  'detect.store_error': { kind: 'failure', doc: 'Store calls of detection that threw (inventory, first-seen pairs, retention, flush).' },
  'detect.store_error.<where>': { kind: 'failure', doc: 'The same, by where (always `store`).' },
  'alerts.<heuristic>.<severity>': {
    kind: 'outcome',
    doc: 'Alerts created, by heuristic and severity.',
    metric: { name: 'llmtap_detect_alerts_total' },
  },
  'alert_updates.<heuristic>': { kind: 'outcome', doc: 'Updates of an open alert by a further hit (deduplicated), by heuristic.' },
  'h1_per_day.<tenant>.<day>.observations': { kind: 'note', doc: 'Observations per tenant and UTC day of this run (the store keeps the history).' },
  'h1_per_day.<tenant>.<day>.h1': { kind: 'note', doc: 'H1 hits per tenant and UTC day of this run.' },
} as const satisfies CounterDecls;

/** The detect stage's plain counter names (what `count` takes). */
export type DetectCounter = keyof CounterValues<typeof DETECT_COUNTERS>;
/** The counters rules count through their context (their `detect.` names). */
export type RuleCounter = Extract<DetectCounter, 'detect.h1.allowlisted' | 'detect.h7.known_hash'>;
