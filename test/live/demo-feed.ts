/**
 * Test helper for the live demo test: the demo's endpoint feed (llmtap NDJSON), moved in time
 * when the recording is too old for a live run to join it, and the alert identity compared
 * between a live run and a replay.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Alert } from '../../src/records.js';
import type { ObservationRow } from '../../src/store/types.js';

export interface ShiftedFeed {
  /** Feed file the live run reads. */
  path: string;
  /** Milliseconds added to every endpoint time (0: the recorded feed is used as is). */
  shiftMs: number;
  /** How old the recording was when the test started (ms). */
  ageMs: number;
}

/** Earliest event time in an NDJSON feed (ms since epoch). */
export function feedStartMs(path: string): number {
  let min = Infinity;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    const ts = (JSON.parse(line) as { tsMs?: unknown }).tsMs;
    if (typeof ts === 'number' && ts < min) min = ts;
  }
  if (!Number.isFinite(min)) throw new Error(`${path}: no numeric tsMs in the feed`);
  return min;
}

/**
 * Live packets carry today's wall clock; the endpoint feed carries the time of the recording.
 * The join learns per-device clock skew only within `learnWindowMs`, and an unmatched record
 * older than that window (plus the join wait) is expired. When the recording is older than the
 * window less `marginMs` (room for the run itself), every endpoint time (tsMs, receivedAtMs,
 * processStartMs) is moved by the age of the recording into a copy at `outPath`, so the feed
 * lines up with the packets again; otherwise the recorded feed is used unchanged and the skew
 * (the age of the recording) is learned like any endpoint clock offset. `always` moves it in
 * any case.
 */
export function feedForLive(src: string, outPath: string, nowMs: number, learnWindowMs: number, marginMs: number,
  opts: { always?: boolean } = {}): ShiftedFeed {
  const start = feedStartMs(src);
  const ageMs = nowMs - start;
  if (ageMs < learnWindowMs - marginMs && opts.always !== true) return { path: src, shiftMs: 0, ageMs };
  const shiftMs = ageMs;
  const out: string[] = [];
  for (const line of readFileSync(src, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    const r = JSON.parse(line) as Record<string, unknown>;
    for (const k of ['tsMs', 'receivedAtMs', 'processStartMs']) {
      const v = r[k];
      if (typeof v === 'number') r[k] = v + shiftMs;
    }
    out.push(JSON.stringify(r));
  }
  writeFileSync(outPath, `${out.join('\n')}\n`);
  return { path: outPath, shiftMs, ageMs };
}

/**
 * An alert as compared between live and replay: heuristic, device (or client address),
 * process, provider — and severity, host, binary hash and how many observations it counts.
 */
export function alertKey(a: Alert): string {
  return [a.heuristic, a.deviceId ?? a.clientAddr ?? '-', a.processName ?? '-', a.provider ?? '-', a.severity,
    a.host ?? '-', a.sha256 ?? '-', a.count].join('|');
}

/**
 * A stored AI observation as compared between live and replay: everything but times, ids and
 * sequence numbers (the live capture's clock and flow ids differ from the file's).
 */
export function observationKey(o: ObservationRow): string {
  return JSON.stringify([o.kind, o.deviceId ?? null, o.clientAddr, o.serverAddr, o.serverPort, o.proto, o.host ?? null,
    o.hostSource, o.processName ?? null, o.sha256 ?? null, o.parentName ?? null, o.category, o.provider, o.ruleId,
    o.sanctioned, o.bytesOut, o.bytesIn, o.communityId ?? null]);
}
