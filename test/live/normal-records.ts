/**
 * Test helper: a flow record or DNS answer as text without what differs between a live capture
 * of a tcpreplay and the file itself (flow ids, times, end reasons — tcpreplay compresses the
 * file's idle gaps, and flows still open end by the stop), for comparing record sets.
 */
import type { DnsAnswer, FlowRecord } from '../../src/records.js';

export function normalFlow(r: FlowRecord): string {
  const { flowId: _id, firstTsUs: _f, lastTsUs: _l, endReason: _e, ...rest } = r;
  return JSON.stringify(Object.fromEntries(Object.entries(rest).sort(([a], [b]) => a.localeCompare(b))));
}

export function normalDns(a: DnsAnswer): string {
  const { tsUs: _t, flowId: _id, ...rest } = a;
  return JSON.stringify(rest);
}
