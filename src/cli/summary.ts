/** The replay summary: what a network engineer reads first. Plain text table or JSON. */
import type { PublisherStats } from '../fleet/publisher.js';
import type { Alert, Confidence } from '../records.js';
import type { IngestResult } from '../attribute/ingest.js';
import type { IndicatorFileReport } from '../detect/threat-intel.js';

export interface ReplaySummary {
  files: { file: string; format: string; compressed: boolean; packets: number; error: string | undefined }[];
  /** Inputs not read (not regular files), with why. */
  skipped: { path: string; why: string }[];
  packets: number;
  wireBytes: number;
  flows: number;
  flowsEnded: Record<string, number>;
  malformed: Record<string, number>;
  wallS: number;
  edr: { file: string; result: IngestResult }[];
  /** Threat-intel files loaded (tenants that configured some). */
  threatIntel?: (IndicatorFileReport & { tenant: string; kept?: number })[];
  /** Fleet mode: what went to NATS (src/fleet/publisher.ts). */
  fleet?: PublisherStats;
  observations: number;
  aiObservations: number;
  providers: { provider: string; category: string; flows: number; bytesOut: number; bytesIn: number }[];
  alerts: Alert[];
  /** AI connections that raised nothing, and why. */
  quiet: { sanctioned: number; allowlisted: number };
  stats: Record<string, number>;
  db: string;
  /** `--workers N` (N > 1): per packet worker, what it did (busy/idle ms: busy ratio), restarts and losses. */
  workers?: { worker: number; packets: number; busyMs: number; idleMs: number; restarts: number; lostPackets: number; lostFlows: number }[];
  /** `llmtap ingest`: per log file, the record lines, what was used by log type, ignored and bad lines by reason. */
  logs?: { file: string; lines: number; used: Record<string, number>; ignored: number; bad: Record<string, number> }[];
}

const n = (x: number): string => Math.round(x).toLocaleString('en-US');

function bytes(x: number): string {
  if (x >= 1e9) return `${(x / 1e9).toFixed(1)} GB`;
  if (x >= 1e6) return `${(x / 1e6).toFixed(1)} MB`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)} kB`;
  return `${x} B`;
}

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => `  ${r.map((c, i) => c.padEnd(w[i] ?? 0)).join('  ').trimEnd()}\n`;
  return line(head) + line(w.map((x) => '─'.repeat(x))) + rows.map(line).join('');
}

const SEV_ORDER: Record<string, number> = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };

/** One short line of evidence per heuristic. */
function evidenceLine(a: Alert): string {
  const d = a.evidence.detail;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(d)) {
    if (parts.length >= 4) break;
    parts.push(`${k}=${Array.isArray(v) ? v.length : String(v)}`);
  }
  if (a.evidence.hostSource !== undefined) parts.push(`via ${a.evidence.hostSource}`);
  if (a.evidence.bytesOut > 0) parts.push(`out ${bytes(a.evidence.bytesOut)}`);
  return parts.join(' ');
}

/** "sni+dns agree +2, programmatic (curl) +1, …" — each signal with its weight. */
function confidenceLine(c: Confidence): string {
  return c.reasons.map((r) => `${r.signal.replace(/_/g, ' ')} (${r.note}) ${r.weight > 0 ? '+' : ''}${r.weight}`).join(', ');
}

export function renderSummary(s: ReplaySummary, format: 'table' | 'json'): string {
  if (format === 'json') return `${JSON.stringify(s, null, 2)}\n`;
  let out = '';
  const pps = s.wallS > 0 ? s.packets / s.wallS : 0;
  if (s.logs !== undefined) {
    const lines = s.logs.reduce((a, f) => a + f.lines, 0);
    out += `llmtap ingest ${s.files[0]?.format ?? ''}: ${s.files.length} file(s), ${n(lines)} records, ${n(s.flows)} flows in ${s.wallS.toFixed(2)} s\n`;
    for (const f of s.logs) {
      const used = Object.entries(f.used).map(([k, v]) => `${k} ${n(v)}`).join(', ');
      out += `  ${f.file}: ${used || 'nothing used'}${f.ignored > 0 ? `, ${n(f.ignored)} other records` : ''}\n`;
    }
  } else out += `llmtap replay: ${s.files.length} file(s), ${n(s.packets)} packets, ${bytes(s.wireBytes)}, ${n(s.flows)} flows in ${s.wallS.toFixed(2)} s (${n(pps)} packets/s, ${(s.wireBytes / Math.max(s.wallS, 1e-9) / 1e6).toFixed(0)} MB/s)\n`;
  const ended = Object.entries(s.flowsEnded).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${n(v)}`).join(', ');
  if (ended) out += `flows ended: ${ended}\n`;
  for (const sk of s.skipped) out += `skipped ${sk.path}: ${sk.why}\n`;
  const mal = Object.entries(s.malformed);
  out += mal.length ? `malformed: ${mal.map(([k, v]) => `${k} ${n(v)}`).join(', ')}\n` : 'malformed: none\n';
  if (s.workers !== undefined) {
    const each = s.workers.map((w) => {
      const busy = w.busyMs + w.idleMs > 0 ? Math.round((100 * w.busyMs) / (w.busyMs + w.idleMs)) : 0;
      const lost = w.restarts > 0 ? `, restarted ${w.restarts}×, lost ${n(w.lostPackets)} packets and ${n(w.lostFlows)} open flows` : '';
      return `#${w.worker} ${n(w.packets)} packets, busy ${busy} %${lost}`;
    });
    out += `workers: ${s.workers.length} (${each.join('; ')})\n`;
  }
  for (const e of s.edr) {
    const rej = Object.entries(e.result.rejected).map(([k, v]) => `${k} ${v}`).join(', ');
    out += `EDR ${e.file}: ${n(e.result.accepted)} records${rej ? ` (skipped: ${rej})` : ''}\n`;
  }
  for (const t of s.threatIntel ?? []) {
    if (t.error !== undefined) out += `threat intel ${t.tenant} ${t.file}: ERROR ${t.error}${t.kept !== undefined ? ` (kept ${n(t.kept)} indicators of the previous load)` : ''}\n`;
    else out += `threat intel ${t.tenant} ${t.file} (${t.format}): ${n(t.indicators)} indicators${t.unsupported ? `, ${n(t.unsupported)} unsupported` : ''}${t.invalid ? `, ${n(t.invalid)} invalid` : ''}${t.revoked ? `, ${n(t.revoked)} revoked` : ''}\n`;
  }
  if (s.fleet !== undefined) {
    const f = s.fleet;
    out += `fleet: ${n(f.published)} flow records delivered to NATS${f.duplicates ? ` (+${n(f.duplicates)} already stored)` : ''}${f.buffered ? `, ${n(f.buffered)} NOT delivered` : ''}${f.dropped ? `, ${n(f.dropped)} dropped (spool full)` : ''}${f.refused ? `, ${n(f.refused)} refused by the server` : ''}\n`;
  }
  out += `\nAI observations: ${n(s.aiObservations)} of ${n(s.observations)} connections\n`;
  if (s.providers.length) {
    const rows = [...s.providers].sort((a, b) => b.bytesOut - a.bytesOut).map((p) => [p.provider, p.category, n(p.flows), bytes(p.bytesOut), bytes(p.bytesIn)]);
    out += table(['provider', 'category', 'conns', 'bytes out', 'bytes in'], rows);
  }
  const alerts = [...s.alerts].sort((a, b) => (SEV_ORDER[a.severity] ?? 9) - (SEV_ORDER[b.severity] ?? 9) || a.heuristic.localeCompare(b.heuristic) || a.firstSeenUs - b.firstSeenUs);
  out += `\nalerts: ${alerts.length}\n`;
  if (alerts.length) {
    const rows = alerts.map((a) => [
      a.heuristic,
      a.severity,
      a.deviceName ?? a.deviceId ?? a.clientAddr ?? (typeof a.evidence.detail['deviceCount'] === 'number' ? `${a.evidence.detail['deviceCount']} devices` : '-'),
      a.processName ?? '-',
      a.provider ?? '-',
      a.host ?? '-',
      a.confidence?.level ?? '-',
      n(a.count),
      evidenceLine(a),
    ]);
    out += table(['heuristic', 'severity', 'device', 'process', 'provider', 'host', 'confidence', 'count', 'evidence'], rows);
    out += '\nwhy:\n';
    alerts.forEach((a) => {
      out += `  ${a.heuristic.padEnd(13)} ${a.title}\n`;
      if (a.confidence !== undefined) out += `  ${''.padEnd(13)} confidence ${a.confidence.level}: ${confidenceLine(a.confidence)}\n`;
    });
  }
  if (s.quiet.sanctioned + s.quiet.allowlisted > 0) {
    out += `\nnot alarming: ${n(s.quiet.sanctioned)} connection(s) to sanctioned endpoints, ${n(s.quiet.allowlisted)} from allowlisted processes\n`;
  }
  out += `\ndatabase: ${s.db}\n`;
  return out;
}
