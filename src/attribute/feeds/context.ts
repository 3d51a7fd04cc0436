/**
 * What every adapter shares: the tenant, the lineage key, the long-lived tables, and one
 * builder that turns canonical fields into an `EdrConnection` (or a drop reason). The builder
 * is the privacy boundary: it copies only the fields of the normalized record, so whatever
 * else a source carries (command lines, users, SIDs, `Message`) never leaves the adapter.
 */
import { CONNECTION_REASON, type RejectReason } from '../reasons.js';
import { schemaDefaults } from '../../config.js';
import type { EdrConnection, EdrSourceFormat } from '../../records.js';
import { addrScope, canonPath, basename, str } from '../normalize.js';
import { lineageHash } from '../lineage.js';
import { DnsHints, ProcessTable } from './process-table.js';

/** Per-tenant state that outlives a batch (process start events may be days old). */
export interface IngestState {
  procs: ProcessTable;
  dns: DnsHints;
}

export function createIngestState(maxProcesses = schemaDefaults('edr').max_processes, maxDnsHints = schemaDefaults('edr').max_dns_hints): IngestState {
  return { procs: new ProcessTable(maxProcesses), dns: new DnsHints(maxDnsHints) };
}

export interface FeedContext {
  tenant: string;
  /**
   * Whether a record labelled with this EDR tenant id (MDE `tenantId`, FDR `cid`) may arrive
   * on this feed's credential. Absent: no check (files, whose tenant the config names).
   */
  edrTenantOk?: ((edrTenantId: string) => boolean) | undefined;
  lineageKey: string;
  receivedAtMs: number;
  state: IngestState;
}

/** False when the record names an EDR tenant the feed's credential does not hold (docs/edr-join.md §3.3, §8.1). */
export function edrTenantAccepted(ctx: FeedContext, edrTenantId: unknown): boolean {
  if (ctx.edrTenantOk === undefined || typeof edrTenantId !== 'string' || edrTenantId.trim() === '') return true;
  return ctx.edrTenantOk(edrTenantId.trim());
}

/** An adapter returns a record, or the reason the input record produced none. */
export type FeedOutcome = EdrConnection | RejectReason;

/** Canonical fields an adapter has extracted (addresses already through canonIp). */
export interface ConnFields {
  source: EdrSourceFormat;
  sourceEventId?: string | undefined;
  tsMs: number | undefined;
  tsKind: EdrConnection['tsKind'];
  deviceId: string | undefined;
  deviceName?: string | undefined;
  localAddr: string | undefined;
  localPort: number;
  remoteAddr: string | undefined;
  remotePort: number;
  transport: EdrConnection['transport'] | undefined;
  direction: EdrConnection['direction'];
  pid?: number | undefined;
  processKey?: string | undefined;
  processStartMs?: number | undefined;
  /** Raw image path or name; redacted and split here. */
  image?: string | undefined;
  processName?: string | undefined;
  sha256?: string | undefined;
  sha1?: string | undefined;
  fileId?: string | undefined;
  parentName?: string | undefined;
  ancestors?: string[] | undefined;
  remoteNameHint?: string | undefined;
}

/**
 * Validate and build. Order of checks is the order of the reasons in README.md: device, time,
 * transport, endpoints, then the early noise drop (link-local, multicast, broadcast —
 * docs/edr-join.md §8.2 step 1). Loopback is kept: it becomes an edr-only observation (local runtimes).
 */
export function buildConnection(ctx: FeedContext, f: ConnFields): FeedOutcome {
  const fmt = f.source;
  const failed = CONNECTION_REASON[fmt];
  if (f.deviceId === undefined || f.deviceId === '') return failed.no_device;
  if (f.tsMs === undefined || !Number.isFinite(f.tsMs)) return failed.bad_time;
  if (f.transport === undefined) return failed.bad_transport;
  if (f.transport !== 'tcp' && f.transport !== 'udp') return 'edr.not_tcp_udp';
  const la = f.localAddr;
  const ra = f.remoteAddr;
  if (la === undefined || ra === undefined || f.localPort === 0 || f.remotePort === 0) return 'edr.unknown_endpoint';
  const ls = addrScope(la);
  const rs = addrScope(ra);
  if (ls === 'unspecified' || rs === 'unspecified') return 'edr.unknown_endpoint';
  if (ls === 'link-local' || rs === 'link-local') return 'edr.link_local';
  if (ls === 'multicast' || rs === 'multicast') return 'edr.multicast';
  if (ls === 'broadcast' || rs === 'broadcast') return 'edr.broadcast';
  if ((ls === 'loopback') !== (rs === 'loopback')) return 'edr.loopback_mismatch';

  const rec: EdrConnection = {
    v: 1,
    tenant: ctx.tenant,
    source: fmt,
    tsMs: f.tsMs,
    tsKind: f.tsKind,
    receivedAtMs: ctx.receivedAtMs,
    deviceId: f.deviceId.toLowerCase(),
    localAddr: la,
    localPort: f.localPort,
    remoteAddr: ra,
    remotePort: f.remotePort,
    transport: f.transport,
    direction: f.direction,
    // SHA-1 alone (Defender) is still the binary's identity
    hashUnknown: f.sha256 === undefined && f.sha1 === undefined,
  };
  if (f.sourceEventId !== undefined) rec.sourceEventId = f.sourceEventId;
  const dn = str(f.deviceName);
  if (dn !== undefined) rec.deviceName = dn.toLowerCase();
  if (f.pid !== undefined) rec.pid = f.pid;
  if (f.processKey !== undefined) rec.processKey = f.processKey;
  if (f.processStartMs !== undefined) rec.processStartMs = f.processStartMs;
  const path = canonPath(f.image);
  if (path !== undefined && (path.includes('\\') || path.includes('/'))) rec.processPath = path;
  const name = basename(f.processName) ?? basename(f.image);
  if (name !== undefined) rec.processName = name;
  if (f.sha256 !== undefined) rec.sha256 = f.sha256;
  if (f.sha1 !== undefined) rec.sha1 = f.sha1;
  if (f.fileId !== undefined) rec.fileId = f.fileId;
  const parent = basename(f.parentName);
  if (parent !== undefined) rec.parentName = parent;
  const anc = f.ancestors ?? (parent !== undefined ? [parent] : []);
  const lh = lineageHash(ctx.tenant, ctx.lineageKey, anc);
  if (lh !== undefined) rec.lineageHash = lh;
  const hint = str(f.remoteNameHint);
  if (hint !== undefined) rec.remoteNameHint = hint.toLowerCase();
  return rec;
}
