/**
 * Serve the HTTP API (alerts for SIEM polling, rules, allowlist, EDR ingest, /metrics) over a
 * running pipeline: the sensor assembly serves it for `llmtap run` and `llmtap replay --serve`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { auditLogger, createLogger, type Logger } from '../log.js';
import { LLMTAP_VERSION } from '../version.js';
import type { FastifyInstance } from 'fastify';
import type { SensorConfig } from '../config.js';
import { configPath } from '../config.js';
import { buildApp } from '../api/app.js';
import { readEdrBytes } from '../attribute/ingest.js';
import { createMetrics, type FleetCounters, type MetricSources, type OutputCounters, type WorkerCounters } from '../metrics.js';
import { stageSources } from './counters.js';
import type { OverloadStatus, Pipeline } from '../pipeline.js';
import type { SourceStats } from '../records.js';
import type { Store, StoreStatus } from '../store/store.js';
import type { ApiStore } from '../api/deps.js';

/** What serving needs of a store: the API's reads and writes and its status (SQLite `Store` or the hub's PostgreSQL store). */
export type ServedStore = Omit<ApiStore, 'status'> & { status(): StoreStatus };


/** A provider name as a Prometheus label value (lower-case slug; the rule set bounds the set). */
export function providerLabel(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 40) || 'unknown';
}

/**
 * Wire stage counters to the Prometheus metrics. Keys are the stages' own `stats()` names
 * (test/e2e/metrics-replay.test.ts checks every one against a real scrape).
 */
export function metricSources(p: Pipeline, source: () => SourceStats, store?: ServedStore, iface?: string): MetricSources {
  // last-packet age at scrape resolution: when the packet count last moved (live capture only)
  let lastPackets = -1;
  let lastMoveMs = Date.now();
  return {
    ...(overloadOf(p) ?? {}),
    build: { version: LLMTAP_VERSION, node: process.versions.node },
    lastPacketAgeSeconds: () => {
      const s = source();
      if (s.kernelReceived === undefined) return undefined;
      if (s.packets !== lastPackets) {
        lastPackets = s.packets;
        lastMoveMs = Date.now();
      }
      return (Date.now() - lastMoveMs) / 1000;
    },
    ...(store !== undefined ? {
      store: () => {
        const st = store.status();
        return { writable: st.writable, queued: { ...st.queued }, dropped: { ...st.dropped }, episodes: st.episodes, queuedTotal: st.queuedTotal };
      },
    } : {}),
    source: () => {
      const s = source();
      return {
        packets: s.packets,
        wireBytes: s.wireBytes,
        capBytes: s.capBytes,
        truncatedRecords: s.truncatedRecords,
        ...(s.fileReasons !== undefined ? { fileReasons: { ...s.fileReasons } } : {}),
        ...(s.kernelReceived !== undefined ? { kernelReceived: s.kernelReceived } : {}),
        ...(iface !== undefined ? { iface } : {}),
        ...(s.kernelDropped !== undefined ? { kernelDropped: s.kernelDropped } : {}),
        ...(s.ifDropped !== undefined ? { ifDropped: s.ifDropped } : {}),
      };
    },
    flow: () => ({ active: p.packets.flows.active + (p.workerCounters?.().activeFlows ?? 0) }),
    stages: stageSources(p),
    classify: () => {
      const classifications: Record<string, Record<string, number>> = {};
      const bytesOut: Record<string, number> = {};
      const bytesIn: Record<string, number> = {};
      for (const v of p.counters.byProvider.values()) {
        const name = v.provider;
        // labels are bounded slugs: "OpenAI" → "openai", "Mistral AI" → "mistral_ai"
        const provider = providerLabel(name);
        (classifications[v.category] ??= {})[provider] = (classifications[v.category]?.[provider] ?? 0) + v.flows;
        bytesOut[provider] = (bytesOut[provider] ?? 0) + v.bytesOut;
        bytesIn[provider] = (bytesIn[provider] ?? 0) + v.bytesIn;
      }
      return { classifications, bytesOut, bytesIn };
    },
    bounds: () => p.bounds(),
    // Live capture only (a source with kernel counters): wall clock minus the newest packet's
    // capture time. A replay's packets are from the past by design, so it reports 0.
    pipelineLagSeconds: () => {
      if (source().kernelReceived === undefined || p.packets.nowUs <= 0) return 0;
      return Math.max(0, Date.now() / 1000 - p.packets.nowUs / 1e6);
    },
  };
}

/** The live overload governor's status getter, when the pipeline has one. */
function overloadOf(p: Pipeline): { overload: () => OverloadStatus } | undefined {
  const gov = p.overload;
  return gov === undefined ? undefined : { overload: () => gov.status() };
}

export interface ServeOptions {
  /** Whether capture/replay is running (readiness). */
  running?: () => boolean;
  source?: () => SourceStats;
  /** The push outputs' counters (metrics). */
  outputs?: () => OutputCounters[];
  /** The captured interface (live), for the per-interface metrics. */
  iface?: string;
  /** Fleet mode's counters (a sensor's publisher, the hub's consumer). */
  fleet?: () => FleetCounters;
  /** Live capture workers' counters (`llmtap run --workers N`). */
  workers?: () => WorkerCounters[];
  /** Service log (default: a new one, src/log.ts); the API's audit lines go to it too. */
  log?: Logger;
  /**
   * Without api.tokens a token for tenant `default` is generated for this run and written here
   * (mode 0600, replaced each start); the log names the file, never the token.
   */
  tokenFile?: string;
}

/** Where a generated token goes: `api-token` beside the database. */
export function tokenFileFor(dbPath: string): string {
  return join(dirname(resolve(dbPath)), 'api-token');
}

/** Write a generated token to a file only this user can read (a new file each time, renamed into place). */
export function writeTokenFile(path: string, token: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, `${token}\n`, { mode: 0o600, flag: 'wx' });
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw Object.assign(new Error(`cannot write the API token file ${path}: ${(e as Error).message}`), { code: 'LLMTAP_ERR_IO' });
  }
}

/**
 * Build and listen; returns the app (closed by the caller). Without configured tokens a token
 * for `default` is generated and written to `o.tokenFile` (default: `api-token` beside the
 * database); the log names the file.
 */
export async function startApi(cfg: SensorConfig, store: ServedStore, p: Pipeline, o: ServeOptions = {}): Promise<FastifyInstance> {
  const log = (o.log ?? createLogger({ level: cfg.log.level })).child({ stage: 'api' });
  let tokens = cfg.api.tokens.map((t) => ({ tenant: t.tenant, tokenSha256: t.token_sha256 }));
  if (tokens.length === 0) {
    const token = randomBytes(24).toString('base64url');
    const file = o.tokenFile ?? resolve('api-token');
    writeTokenFile(file, token);
    tokens = [{ tenant: 'default', tokenSha256: createHash('sha256').update(token).digest('hex') }];
    log.warn({ token_file: file }, `no api.tokens configured: a token for tenant 'default' was generated for this run and written to ${file} (readable by this user only)`);
  }
  const source = o.source ?? (() => ({ packets: p.packets.packets, wireBytes: p.packets.wireBytes, capBytes: 0, fileBytes: 0, truncatedRecords: 0 }));
  const metrics = createMetrics({ ...metricSources(p, source, store, o.iface), ...(o.outputs !== undefined ? { outputs: o.outputs } : {}), ...(o.fleet !== undefined ? { fleet: o.fleet } : {}), ...(o.workers !== undefined ? { workers: o.workers } : {}) });
  const app = await buildApp(
    {
      tenants: tokens,
      operators: cfg.api.operator_tokens.map((o) => ({ name: o.name, tokenSha256: o.token_sha256 })),
      ...(cfg.api.cursor_key !== undefined ? { cursorKey: Buffer.from(cfg.api.cursor_key) } : {}),
      ...(cfg.api.tls_cert !== undefined && cfg.api.tls_key !== undefined
        ? { https: { cert: readFileSync(configPath(cfg, cfg.api.tls_cert)), key: readFileSync(configPath(cfg, cfg.api.tls_key)) } }
        : {}),
    },
    {
      store,
      classifier: p.classifier,
      // the route has inflated the body within its limit (api.md); the reader bounds each record
      ingestEdr: (tenant, body) => {
        // A record naming another tenant's EDR tenant id (MDE tenantId, FDR cid) is rejected.
        const edrTenantOk = (id: string): boolean => p.tenants.edrTenantMatches(tenant, id);
        const r = readEdrBytes(body, { tenant, edrTenantOk, lineageKey: cfg.attribute.lineage_key }, (rec) => p.addEdr(rec));
        p.noteIngest(r.rejected);
        return r;
      },
      captureRunning: o.running ?? (() => true),
      ...(overloadOf(p) ?? {}),
      registry: metrics.registry,
      publicRegistry: metrics.publicRegistry,
      apiRequests: metrics.apiRequests,
      apiLatency: metrics.apiLatency,
      audit: auditLogger(o.log ?? log),
    },
  );
  await app.listen({ host: cfg.api.host, port: cfg.api.port });
  const addr = app.server.address();
  const where = typeof addr === 'object' && addr !== null ? `${addr.address}:${addr.port}` : String(addr);
  log.info({ url: `${cfg.api.tls_cert !== undefined ? 'https' : 'http'}://${where}` }, `API listening on ${cfg.api.tls_cert !== undefined ? 'https' : 'http'}://${where}`);
  return app;
}
