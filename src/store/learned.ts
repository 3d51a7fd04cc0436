/**
 * What detection learns and what analysts decide, per tenant: allowlist, H1 candidates, the
 * known process inventory, lineage hashes per process name, and the warm-up clock. These rows
 * are not anomaly rows: retention leaves them alone.
 *
 * Learned "first seen" values are kept as the minimum ever written, so replaying the same
 * input again (after a crash) converges to the same state instead of drifting.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { AiCategory } from '../records.js';
import type { AllowlistEntry, AllowOrigin, AllowQuery, Candidate, CandidateSighting, NewAllowlistEntry } from './types.js';

/** Bound on the device list kept per candidate. */
export const CANDIDATE_MAX_DEVICES = 64;

export interface AllowRow {
  id: number;
  tenant: string;
  process_name: string;
  binary_hash: string | null;
  device_group: string | null;
  provider: string | null;
  category: AiCategory | null;
  justification: string;
  expires_at_ms: number | null;
  created_at_ms: number;
  origin: AllowOrigin;
}

export interface CandRow {
  id: number;
  tenant: string;
  process_name: string;
  provider: string;
  category: AiCategory;
  devices: string;
  device_count: number;
  count: number;
  first_seen_us: number;
  last_seen_us: number;
  status: 'pending' | 'approved';
}

export function allowEntry(r: AllowRow): AllowlistEntry {
  const e: AllowlistEntry = {
    id: r.id,
    tenant: r.tenant,
    processName: r.process_name,
    justification: r.justification,
    createdAtMs: r.created_at_ms,
    origin: r.origin,
  };
  if (r.binary_hash !== null) e.binaryHash = r.binary_hash;
  if (r.device_group !== null) e.deviceGroup = r.device_group;
  if (r.provider !== null) e.provider = r.provider;
  if (r.category !== null) e.category = r.category;
  if (r.expires_at_ms !== null) e.expiresAtMs = r.expires_at_ms;
  return e;
}

/**
 * Whether an allowlist entry (of the query's tenant and process name) excuses the query: it is
 * not expired and every pin it has matches. Both stores match with this.
 */
export function allowMatches(e: AllowlistEntry, q: AllowQuery): boolean {
  if (e.expiresAtMs !== undefined && e.expiresAtMs <= q.atMs) return false;
  // A SHA-256 pin matches the binary's SHA-256; a SHA-1 pin (40 hex) its SHA-1. The two
  // kinds differ in length, so one never equals the other.
  if (e.binaryHash !== undefined && e.binaryHash !== q.binaryHash?.toLowerCase() && e.binaryHash !== q.sha1?.toLowerCase()) return false;
  if (e.deviceGroup !== undefined && !q.deviceGroups.includes(e.deviceGroup)) return false;
  if (e.provider !== undefined && e.provider !== q.provider) return false;
  if (e.category !== undefined && e.category !== q.category) return false;
  return true;
}

export function candidate(r: CandRow): Candidate {
  return {
    id: r.id,
    tenant: r.tenant,
    processName: r.process_name,
    provider: r.provider,
    category: r.category,
    devices: JSON.parse(r.devices) as string[],
    deviceCount: r.device_count,
    count: r.count,
    firstSeenUs: r.first_seen_us,
    lastSeenUs: r.last_seen_us,
    status: r.status,
  };
}

export class LearnedTables {
  private readonly s: Record<string, Statement>;

  constructor(db: Database) {
    const p = (sql: string): Statement => db.prepare(sql);
    this.s = {
      allowByName: p('SELECT * FROM allowlist WHERE tenant = ? AND process_name = ?'),
      allowAll: p('SELECT * FROM allowlist WHERE tenant = ? ORDER BY id'),
      allowIns: p(
        `INSERT INTO allowlist (tenant, process_name, binary_hash, device_group, provider, category, justification, expires_at_ms, created_at_ms, origin)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      allowGet: p('SELECT * FROM allowlist WHERE id = ?'),
      allowDel: p('DELETE FROM allowlist WHERE tenant = ? AND id = ?'),
      // Config entries, and entries identical to a config entry that an older llmtap stored as
      // `manual` (it did not record the origin): both are the config's to replace.
      allowOrigin: p("SELECT * FROM allowlist WHERE origin IN ('config', 'manual') ORDER BY id"),
      allowAdopt: p("UPDATE allowlist SET origin = 'config' WHERE id = ?"),
      candGet: p('SELECT * FROM candidates WHERE tenant = ? AND process_name = ? AND provider = ?'),
      candById: p('SELECT * FROM candidates WHERE tenant = ? AND id = ?'),
      candIns: p(
        `INSERT INTO candidates (tenant, process_name, provider, category, devices, device_count, count, first_seen_us, last_seen_us, status)
         VALUES (?, ?, ?, ?, ?, 1, 1, ?, ?, 'pending')`,
      ),
      candUpd: p(
        'UPDATE candidates SET devices = ?, device_count = ?, count = count + 1, first_seen_us = ?, last_seen_us = ? WHERE id = ?',
      ),
      candAll: p('SELECT * FROM candidates WHERE tenant = ? ORDER BY count DESC, id'),
      candApprove: p("UPDATE candidates SET status = 'approved' WHERE id = ?"),
      contribute: p('INSERT OR IGNORE INTO contributions (scope, obs_id, ts_us) VALUES (?, ?, ?)'),
      contributed: p('SELECT 1 FROM contributions WHERE scope = ? AND obs_id = ?'),
      invGet: p('SELECT first_seen_us AS f FROM inventory WHERE tenant = ? AND hash = ?'),
      invAdd: p(
        `INSERT INTO inventory (tenant, hash, first_seen_us, source) VALUES (?, ?, ?, ?)
         ON CONFLICT(tenant, hash) DO UPDATE SET first_seen_us = MIN(first_seen_us, excluded.first_seen_us),
           source = CASE WHEN excluded.first_seen_us < first_seen_us THEN excluded.source ELSE source END`,
      ),
      fsGet: p('SELECT first_seen_us AS f FROM first_seen WHERE tenant = ? AND device = ? AND process = ? AND provider = ?'),
      fsAdd: p(
        `INSERT INTO first_seen (tenant, device, process, provider, first_seen_us) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET first_seen_us = MIN(first_seen_us, excluded.first_seen_us)`,
      ),
      linGet: p('SELECT lineage_hash AS h, first_seen_us AS f FROM lineage WHERE tenant = ? AND process_name = ?'),
      linAdd: p(
        `INSERT INTO lineage (tenant, process_name, lineage_hash, first_seen_us) VALUES (?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET first_seen_us = MIN(first_seen_us, excluded.first_seen_us)`,
      ),
      tenGet: p('SELECT first_obs_us AS f FROM tenant_state WHERE tenant = ?'),
      tenSet: p(
        `INSERT INTO tenant_state (tenant, first_obs_us) VALUES (?, ?)
         ON CONFLICT(tenant) DO UPDATE SET first_obs_us = MIN(first_obs_us, excluded.first_obs_us)`,
      ),
    };
  }

  private st(name: string): Statement {
    const s = this.s[name];
    if (!s) throw new Error(`no statement ${name}`);
    return s;
  }

  /** The first entry that matches every pin it has, or undefined. */
  allowlisted(tenant: string, q: AllowQuery): AllowlistEntry | undefined {
    const rows = this.st('allowByName').all(tenant, q.processName.toLowerCase()) as AllowRow[];
    for (const r of rows) {
      const e = allowEntry(r);
      if (allowMatches(e, q)) return e;
    }
    return undefined;
  }

  listAllowlist(tenant: string): AllowlistEntry[] {
    return (this.st('allowAll').all(tenant) as AllowRow[]).map(allowEntry);
  }

  addAllowlist(tenant: string, e: NewAllowlistEntry, nowMs: number, origin: AllowOrigin): AllowlistEntry {
    const info = this.st('allowIns').run(
      tenant,
      e.processName.toLowerCase(),
      e.binaryHash?.toLowerCase() ?? null,
      e.deviceGroup ?? null,
      e.provider ?? null,
      e.category ?? null,
      e.justification,
      e.expiresAtMs ?? null,
      nowMs,
      origin,
    );
    return allowEntry(this.st('allowGet').get(Number(info.lastInsertRowid)) as AllowRow);
  }

  removeAllowlist(tenant: string, id: number): boolean {
    return this.st('allowDel').run(tenant, id).changes > 0;
  }

  /**
   * Makes the config-origin entries exactly `want` (per tenant): entries no longer wanted are
   * removed, missing ones added, identical ones kept (same id). API and candidate entries are
   * untouched, except that a `manual` entry identical to a wanted one is adopted as the
   * config's (databases written before origins were recorded held config entries as `manual`).
   */
  replaceConfigAllowlist(want: Array<{ tenant: string; entry: NewAllowlistEntry }>, nowMs: number): { added: number; removed: number; kept: number } {
    const key = (tenant: string, e: NewAllowlistEntry): string =>
      JSON.stringify([tenant, e.processName.toLowerCase(), e.binaryHash?.toLowerCase() ?? null, e.deviceGroup ?? null, e.provider ?? null, e.category ?? null, e.justification, e.expiresAtMs ?? null]);
    const wanted = new Map<string, { tenant: string; entry: NewAllowlistEntry }>();
    for (const w of want) wanted.set(key(w.tenant, w.entry), w);
    let removed = 0;
    let kept = 0;
    const have = new Set<string>();
    for (const r of this.st('allowOrigin').all() as AllowRow[]) {
      const e = allowEntry(r);
      const k = key(r.tenant, e);
      if (wanted.has(k) && !have.has(k)) {
        have.add(k);
        kept++;
        if (r.origin !== 'config') this.st('allowAdopt').run(r.id);
      } else if (r.origin === 'config') {
        removed += this.st('allowDel').run(r.tenant, r.id).changes;
      }
    }
    let added = 0;
    for (const [k, w] of wanted) {
      if (have.has(k)) continue;
      this.addAllowlist(w.tenant, w.entry, nowMs, 'config');
      added++;
    }
    return { added, removed, kept };
  }

  /** Records that `obsId` counted toward `scope`; false when it already had (idempotent re-runs). */
  contribute(scope: string, obsId: string, tsUs: number): boolean {
    return this.st('contribute').run(scope, obsId, tsUs).changes > 0;
  }

  hasContributed(scope: string, obsId: string): boolean {
    return this.st('contributed').get(scope, obsId) !== undefined;
  }

  /** Counts a sighting once per obsId; returns the candidate after the update. */
  upsertCandidate(tenant: string, c: CandidateSighting): Candidate {
    const name = c.processName.toLowerCase();
    const row = this.st('candGet').get(tenant, name, c.provider) as CandRow | undefined;
    if (!row) {
      this.st('candIns').run(tenant, name, c.provider, c.category, JSON.stringify([c.deviceId]), c.tsUs, c.tsUs);
      this.contribute(`cand:${tenant}:${name}:${c.provider}`, c.obsId, c.tsUs);
      return candidate(this.st('candGet').get(tenant, name, c.provider) as CandRow);
    }
    if (!this.contribute(`cand:${tenant}:${name}:${c.provider}`, c.obsId, c.tsUs)) return candidate(row);
    const devices = JSON.parse(row.devices) as string[];
    if (!devices.includes(c.deviceId) && devices.length < CANDIDATE_MAX_DEVICES) devices.push(c.deviceId);
    this.st('candUpd').run(
      JSON.stringify(devices),
      Math.max(row.device_count, devices.length),
      Math.min(row.first_seen_us, c.tsUs),
      Math.max(row.last_seen_us, c.tsUs),
      row.id,
    );
    const out = candidate(row);
    out.devices = devices;
    out.deviceCount = Math.max(row.device_count, devices.length);
    out.count = row.count + 1;
    out.firstSeenUs = Math.min(row.first_seen_us, c.tsUs);
    out.lastSeenUs = Math.max(row.last_seen_us, c.tsUs);
    return out;
  }

  listCandidates(tenant: string): Candidate[] {
    return (this.st('candAll').all(tenant) as CandRow[]).map(candidate);
  }

  /** Turns a candidate into an allowlist entry pinned to its provider. */
  approveCandidate(tenant: string, id: number, justification: string, nowMs: number): AllowlistEntry | undefined {
    const row = this.st('candById').get(tenant, id) as CandRow | undefined;
    if (!row) return undefined;
    this.st('candApprove').run(id);
    return this.addAllowlist(tenant, { processName: row.process_name, provider: row.provider, justification }, nowMs, 'candidate');
  }

  inventoryFirstSeen(tenant: string, hash: string): number | undefined {
    return (this.st('invGet').get(tenant, hash.toLowerCase()) as { f: number } | undefined)?.f;
  }

  addInventory(tenant: string, hash: string, firstSeenUs: number, source: string): void {
    this.st('invAdd').run(tenant, hash.toLowerCase(), firstSeenUs, source);
  }

  pairFirstSeen(tenant: string, device: string, process: string, provider: string): number | undefined {
    return (this.st('fsGet').get(tenant, device, process.toLowerCase(), provider) as { f: number } | undefined)?.f;
  }

  addPairFirstSeen(tenant: string, device: string, process: string, provider: string, tsUs: number): void {
    this.st('fsAdd').run(tenant, device, process.toLowerCase(), provider, tsUs);
  }

  lineages(tenant: string, processName: string): Map<string, number> {
    const rows = this.st('linGet').all(tenant, processName.toLowerCase()) as { h: string; f: number }[];
    return new Map(rows.map((r) => [r.h, r.f]));
  }

  addLineage(tenant: string, processName: string, lineageHash: string, tsUs: number): void {
    this.st('linAdd').run(tenant, processName.toLowerCase(), lineageHash, tsUs);
  }

  tenantFirstObs(tenant: string): number | undefined {
    return (this.st('tenGet').get(tenant) as { f: number } | undefined)?.f;
  }

  setTenantFirstObs(tenant: string, tsUs: number): void {
    this.st('tenSet').run(tenant, tsUs);
  }
}
