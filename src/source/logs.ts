/**
 * Sensor logs as input (Zeek's conn/ssl/dns/quic logs, Suricata's eve.json): what a log reader
 * hands the wiring. A log reader knows the log format only; the wiring (cli/ingest.ts) turns
 * these into the pipeline's records (canonical addresses, Community ID, flow ids) and feeds
 * them in time order to the same names → attribute → classify → detect path a capture takes.
 *
 * Nothing here carries payload: logs hold metadata only, and of that only the fields below are
 * kept (no URIs, certificates, user agents or query strings beyond the DNS name).
 */
import type { LogReason } from './reasons.js';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { DnsAnswer, DnsRecord, FlowEndReason, Handshake } from '../records.js';

/** One connection as a log describes it, joined over the log's records (Zeek uid, EVE flow_id). */
export interface LogFlow {
  /** The log's connection key: Zeek `uid`, EVE `flow_id` (text). */
  key: string;
  proto: number;
  /** Address text as the log wrote it (the wiring canonicalizes it). */
  origAddr: string;
  origPort: number;
  respAddr: string;
  respPort: number;
  firstTsUs: number;
  lastTsUs: number;
  /** Whether the log had the connection's counters (Zeek conn.log, EVE flow event). */
  counted: boolean;
  origPkts: number;
  respPkts: number;
  /** IP-layer bytes (Zeek orig_ip_bytes; EVE: bytes_toserver, which Suricata counts per packet including the link header). */
  origIpBytes: number;
  respIpBytes: number;
  /** Frame bytes when the log has them (EVE), else the IP bytes. */
  origWireBytes: number;
  respWireBytes: number;
  /** Transport payload bytes (Zeek orig_bytes; EVE has none: 0). */
  origPayloadBytes: number;
  respPayloadBytes: number;
  endReason: FlowEndReason;
  /** The log's own Community ID, when it wrote one (kept for reference: the record gets llmtap's, seed 0, since a sensor may use another seed). */
  communityId?: string;
  vlan: number[];
  handshake?: Handshake;
}

/** One DNS response as a log describes it (addresses as the log wrote them): a DNS answer
 * without the capture's flow id, which a log does not have. */
export type LogDns = Omit<DnsAnswer, 'flowId'>;

/** What reading one log file gave. Bad lines are counted by reason, never thrown. */
export interface LogFileResult {
  file: string;
  /** Lines that were records (parsed or not). */
  lines: number;
  /** Records used, by log type (`conn`, `ssl`, `dns`, `quic`; `flow`, `tls`, `dns`, `quic`). */
  used: Record<string, number>;
  /** Records of other log types or events (not an error). */
  ignored: number;
  /** Lines that could not be parsed, by reason. */
  bad: Record<string, number>;
  /** A read error (the file is named; everything before it was kept). */
  error?: string;
}

export interface LogReadResult {
  flows: LogFlow[];
  dns: LogDns[];
  files: LogFileResult[];
}

export function newFileResult(file: string): LogFileResult {
  return { file, lines: 0, used: {}, ignored: 0, bad: {} };
}

export function countBad(r: LogFileResult, reason: LogReason): void {
  r.bad[reason] = (r.bad[reason] ?? 0) + 1;
}

export function countUsed(r: LogFileResult, type: string): void {
  r.used[type] = (r.used[type] ?? 0) + 1;
}

/** Every line of a text file (gzip-compressed when named .gz), in order. */
export async function forEachLine(file: string, onLine: (line: string) => void): Promise<void> {
  const raw = createReadStream(file);
  const input = /\.gz$/i.test(file) ? raw.pipe(createGunzip()) : raw;
  const failed = new Promise<never>((_, reject) => {
    raw.on('error', reject);
    input.on('error', reject);
  });
  const rl = createInterface({ input, crlfDelay: Infinity });
  const done = (async () => {
    for await (const line of rl) onLine(line);
  })();
  await Promise.race([done, failed]);
}

/** Seconds (a decimal number as text or a number) → µs, or undefined. */
export function secondsToUs(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(v) ? Number(v) : NaN;
  return Number.isFinite(n) ? Math.round(n * 1e6) : undefined;
}

const ISO = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)?$/;

/** ISO 8601 time (`2009-11-24T21:26:30.123456+0100`, `…Z`) → µs since the epoch, or undefined. */
export function isoToUs(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const m = ISO.exec(v);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (!Number.isFinite(ms)) return undefined;
  let offMin = 0;
  if (zone !== undefined && zone !== 'Z') {
    const z = zone.replace(':', '');
    offMin = (z.startsWith('-') ? -1 : 1) * (Number(z.slice(1, 3)) * 60 + Number(z.slice(3, 5)));
  }
  const us = frac === undefined ? 0 : Math.round(Number(`0.${frac}`) * 1e6);
  return (ms - offMin * 60_000) * 1000 + us;
}

/** IANA protocol number of a log's protocol name (`tcp`, `UDP`, `icmp`, `IPv6-ICMP` …), or undefined. */
export function protoNumber(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 256) return v;
  if (typeof v !== 'string') return undefined;
  const t = v.toLowerCase();
  if (t === 'tcp') return 6;
  if (t === 'udp') return 17;
  if (t === 'icmp') return 1;
  if (t === 'icmp6' || t === 'icmpv6' || t === 'ipv6-icmp') return 58;
  if (t === 'sctp') return 132;
  if (/^\d{1,3}$/.test(t) && Number(t) < 256) return Number(t);
  return undefined;
}

/** A port number 0–65535, or undefined. */
export function portNumber(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,5}$/.test(v) ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 0 && n <= 65535 ? n : undefined;
}

/** A non-negative integer counter, 0 when absent or not one. */
export function counter(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

/** QUIC version as 0xXXXXXXXX text from a log's version field (`1`, `quicv2`, `0xff00001d`, `v1` …). */
export function quicVersionHex(v: unknown): string | undefined {
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  const t = String(v).trim().toLowerCase();
  let n: number | undefined;
  if (t === '1' || t === 'v1' || t === 'quicv1') n = 1;
  else if (t === '2' || t === 'v2' || t === 'quicv2') n = 0x6b3343cf;
  else if (/^0x[0-9a-f]{1,8}$/.test(t)) n = parseInt(t.slice(2), 16);
  else if (/^[0-9a-f]{8}$/.test(t)) n = parseInt(t, 16);
  else if (/^draft-(\d+)$/.test(t)) n = 0xff000000 + Number(t.slice(6));
  if (n === undefined) return undefined;
  return `0x${n.toString(16).padStart(8, '0')}`;
}
