/**
 * Per-record format detection and dispatch. A batch may mix formats; each JSON value is
 * classified on its own keys. Envelopes (MDE streaming `records[]`, a consumer's `body`
 * wrapper, osquery batch/snapshot lines) are expanded into their records first.
 */
import type { EdrSourceFormat } from '../records.js';
import type { FeedContext, FeedOutcome } from './feeds/context.js';
import { handleElastic, elasticDataset, elasticPrepass } from './feeds/elastic-defend.js';
import { fdrPrepass, handleFdr } from './feeds/fdr.js';
import { handleLlmtap, isLlmtapRecord } from './feeds/llmtap.js';
import { handleMde, mdeRow } from './feeds/mde.js';
import { handleOsqueryRow, osqueryRows } from './feeds/osquery.js';
import { handleSysmon, sysmonPrepass } from './feeds/sysmon.js';
import { handleTetragon, TETRAGON_KEYS, tetragonPrepass } from './feeds/tetragon.js';
import { handleWfp } from './feeds/wfp.js';
import { fromEcsWinlog, fromNxlog, fromWinlogbeat6, isObj, type WinEvent } from './feeds/win-event.js';

type Obj = Record<string, unknown>;

/** One unit of work after detection: a record, its format, and the adapter to run. */
export interface Detected {
  format: EdrSourceFormat | 'unknown';
  prepass?: (ctx: FeedContext) => void;
  run: (ctx: FeedContext) => FeedOutcome;
}

function winUnit(ev: WinEvent): Detected {
  if (ev.provider === 'sysmon') {
    return { format: 'sysmon', prepass: (c) => sysmonPrepass(c, ev), run: (c) => handleSysmon(c, ev) };
  }
  if (ev.provider === 'security' || ev.eventId === 5156 || ev.eventId === 5158) {
    return { format: 'wfp', run: (c) => handleWfp(c, ev) };
  }
  return { format: 'unknown', run: () => 'ingest.unsupported_windows_provider' };
}

/** A Windows event already parsed from XML. */
export function detectWinEvent(ev: WinEvent): Detected {
  return winUnit(ev);
}

/**
 * Expand envelopes and classify one JSON value into zero or more units. Unknown shapes become
 * a unit whose outcome is `ingest.unknown_format`.
 */
export function detectJson(v: unknown, out: Detected[], depth = 0): void {
  if (!isObj(v)) {
    out.push({ format: 'unknown', run: () => 'ingest.not_an_object' });
    return;
  }
  const o = v;
  if (depth < 3) {
    const recs = o['records'];
    if (Array.isArray(recs)) { for (const r of recs) detectJson(r, out, depth + 1); return; }
    const body = o['body'];
    if (isObj(body)) { detectJson(body, out, depth + 1); return; }
    if (typeof body === 'string' && body.startsWith('{')) {
      let inner: unknown;
      try { inner = JSON.parse(body); } catch { out.push({ format: 'unknown', run: () => 'ingest.bad_json' }); return; }
      detectJson(inner, out, depth + 1);
      return;
    }
  }
  if (isLlmtapRecord(o)) { out.push({ format: 'llmtap', run: (c) => handleLlmtap(c, o) }); return; }
  if (mdeRow(o) !== undefined && ('properties' in o || 'InitiatingProcessFileName' in o || 'LocalIP' in o || 'RemoteIP' in o)) {
    out.push({ format: 'mde', run: (c) => handleMde(c, o) });
    return;
  }
  if (typeof o['event_simpleName'] === 'string') {
    out.push({ format: 'fdr', prepass: (c) => fdrPrepass(c, o), run: (c) => handleFdr(c, o) });
    return;
  }
  if (TETRAGON_KEYS.some((k) => k in o)) {
    const known = 'process_connect' in o || 'process_kprobe' in o || 'process_exec' in o;
    out.push({
      format: 'tetragon',
      prepass: (c) => tetragonPrepass(c, o),
      run: known ? (c) => handleTetragon(c, o) : () => 'tetragon.lifecycle_event',
    });
    return;
  }
  if (typeof o['hostIdentifier'] === 'string' && ('columns' in o || 'diffResults' in o || 'snapshot' in o)) {
    const rows = osqueryRows(o);
    if (rows.length === 0) out.push({ format: 'osquery', run: () => 'osquery.no_rows' });
    for (const row of rows) out.push({ format: 'osquery', run: (c) => handleOsqueryRow(c, o, row) });
    return;
  }
  if ('winlog' in o) {
    const ev = fromEcsWinlog(o);
    if (ev !== undefined) { out.push(winUnit(ev)); return; }
  }
  if ('event_id' in o && 'event_data' in o) {
    const ev = fromWinlogbeat6(o);
    if (ev !== undefined) { out.push(winUnit(ev)); return; }
  }
  if ('EventID' in o) {
    const ev = fromNxlog(o);
    if (ev !== undefined) { out.push(winUnit(ev)); return; }
  }
  const ds = elasticDataset(o);
  if (ds !== undefined && ds.startsWith('endpoint.')) {
    out.push({ format: 'elastic_defend', prepass: (c) => elasticPrepass(c, o), run: (c) => handleElastic(c, o) });
    return;
  }
  out.push({ format: 'unknown', run: () => 'ingest.unknown_format' });
}
