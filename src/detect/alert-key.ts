/**
 * The alert deduplication key: one open alert per (tenant, heuristic, device, process,
 * provider); H7 (fleet-wide) keys on the binary hash alone: one spread is one alert, whatever
 * providers it reached (they are listed in the alert, see dedup.ts). Detect decides
 * what counts as "the same alert", so the key is defined here; the store indexes it and
 * computes it only for alerts written without one (see `AlertTable.upsertAlert`).
 */
import type { Alert } from '../records.js';

export type AlertKeyFields = Pick<Alert, 'heuristic' | 'deviceId' | 'clientAddr' | 'processName' | 'provider' | 'sha256' | 'sha1'> & {
  /** Hash the alert is about when only SHA-1 is known (H7). */
  binHash?: string;
};

/** `heuristic|device|process-or-hash|provider`; the tenant is kept beside it, not in it. */
export function alertDedupKey(a: AlertKeyFields): string {
  const device = a.deviceId !== undefined ? `dev:${a.deviceId}` : a.clientAddr !== undefined ? `addr:${a.clientAddr}` : '-';
  const proc = a.heuristic === 'h7' ? `hash:${a.binHash ?? a.sha256 ?? a.sha1 ?? '-'}` : (a.processName ?? '-').toLowerCase();
  const provider = a.heuristic === 'h7' ? '*' : a.provider ?? '-';
  return [a.heuristic, device, proc, provider].join('|');
}
