/**
 * Sensor configuration: one JSON Schema with defaults, units and a doc line per option
 * (`description`), validated with ajv. Errors name the file and the key. The file is YAML or
 * JSON; every key is optional. Keys are snake_case in the file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject } from 'ajv';
import YAML from 'yaml';
import { parseTenants, type TenantConfig } from './tenants/schema.js';
import type { FromSchema, JSONSchema } from 'json-schema-to-ts';

/** Repository / package root (where config/ and pcaps/ live). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// Each helper returns its schema `as const` (and `section` keeps its properties' literal types) so
// that SensorConfig below can be read from CONFIG_SCHEMA's type.
const num = (description: string, def: number, minimum = 0) => ({ type: 'number', minimum, default: def, description }) as const;
const int = (description: string, def: number, minimum = 0) => ({ type: 'integer', minimum, default: def, description }) as const;
const bool = (description: string, def: boolean) => ({ type: 'boolean', default: def, description }) as const;
const str = (description: string, def: string) => ({ type: 'string', default: def, description }) as const;
/** A string key without a default: absent from the config unless given. */
const optStr = (description: string) => ({ type: 'string', description }) as const;
const section = <const P extends Record<string, JSONSchema>>(properties: P) => ({ type: 'object', additionalProperties: false, default: {}, properties }) as const;

/** attribute.lineage_key when none is set: public, so a sensor running with it is warned about. */
export const DEFAULT_LINEAGE_KEY = 'llmtap-default-lineage-key';

export const CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    flow: section({
      max_flows: int('Flows kept at once; the least recently active is evicted and emitted (memory bound).', 262144, 16),
      tcp_idle_s: num('Seconds without a packet before an open TCP flow is emitted (idle).', 300),
      tcp_closed_s: num('Seconds after FIN/FIN or RST before a TCP flow is emitted.', 5),
      other_idle_s: num('Seconds without a packet before a UDP/ICMP/other flow is emitted (idle).', 60),
      active_s: num('A flow older than this is emitted (active) and continues as a new record.', 1800),
      split_on_reuse: bool('A SYN on a closed TCP flow starts a new flow (port reuse).', true),
      max_fragments: int('First IP fragments remembered so later fragments find their flow (oldest forgotten first).', 8192, 16),
    }),
    dissect: section({
      max_hello_bytes: int('Largest ClientHello reassembled per flow, bytes.', 32768, 512),
      max_segments: int('Out-of-order TCP pieces held per flow while reassembling a hello.', 64, 1),
      max_inspect_packets: int('Client payload packets inspected before a flow is bypassed.', 32, 1),
    }),
    names: section({
      max_entries: int('Passive DNS entries kept (LRU).', 200000, 16),
      ttl_floor_s: num('Answers are kept at least this long, whatever their TTL.', 300),
      ttl_cap_s: num('Answers are kept at most this long, whatever their TTL.', 86400),
    }),
    attribute: section({
      wait_s: num('How long a flow or EDR record waits for its partner (capture time).', 600),
      hold_s: num('How long a flow without an EDR match is held before detection first sees it (feeds lag the tap).', 30),
      tolerance_ms: int('Join tolerance once a device clock skew is learned.', 5000),
      learn_window_ms: int('Join window before a device skew is learned (covers zone mistakes).', 12 * 3600 * 1000),
      max_flows: int('Flows kept waiting for an EDR record.', 200000, 16),
      max_records: int('EDR records kept waiting for a flow.', 500000, 16),
      max_devices: int('Addresses in the device map, and devices with a learned clock skew (oldest evicted).', 100000, 16),
      max_edr_only_dedup: int('Off-tap EDR-only connections remembered so each is reported once.', 10000, 16),
      edr_only_loopback: bool('EDR loopback connections (local LLM runtimes) that no captured loopback flow matched within the join window become edr-only observations (loopback records join captured loopback flows either way).', true),
      lineage_key: str('Secret for the per-tenant keyed lineage hash (set it in production).', DEFAULT_LINEAGE_KEY),
    }),
    edr: section({
      files: { type: 'array', items: { type: 'string' }, default: [], description: 'EDR feed files read before a replay.' },
      follow: { type: 'array', items: { type: 'string' }, default: [], description: 'EDR feed files followed during a live run (survives rotation).' },
      tenant: str('Tenant of the records read from files (a feed credential decides it for the API).', 'default'),
      max_processes: int('Processes kept per tenant from process start events (oldest evicted).', 200000, 16),
      max_dns_hints: int('Name hints kept per tenant from endpoint DNS events (oldest evicted).', 50000, 16),
    }),
    classify: section({
      max_memo: int('Host names whose rule lookup is memoised (least recently used evicted).', 65536, 16),
    }),
    detect: section({
      max_beacon_series: int('Beacon series (device, process, host) kept (least recently active evicted).', 100000, 16),
      max_window_keys: int('Keys of each per-tenant detection window: H7 hashes, upload devices, shadow-volume clients (least recently active evicted).', 100000, 16),
      max_upload_seen: int('Connection ids the upload rule remembers to learn its baseline once per connection.', 500000, 16),
      max_lineage_names: int('Process names whose lineage history is cached from the store (least recently used evicted).', 50000, 16),
      max_inventory: int('Binary hashes, and (device, process, provider) triples, whose first sighting is cached from the store (least recently used evicted; each).', 200000, 16),
    }),
    rules: section({
      file: str('The ordered rule set.', 'config/rules/default.yaml'),
      tenant_dir: optStr('Directory of per-tenant rule files (sanctioned endpoints, additions).'),
    }),
    tenants: { type: 'array', default: [], description: 'Tenants (see src/tenants/schema.ts); a `default` tenant always exists.' },
    allowlist: {
      type: 'array',
      default: [],
      description: 'Allowlist entries applied to the store at start and on reload: the new config\'s entries replace the previous config\'s (an entry removed here is revoked on SIGHUP); entries added through the API stay.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['process', 'justification'],
        properties: {
          tenant: { type: 'string', default: 'default', description: 'Tenant id.' },
          process: { type: 'string', minLength: 1, description: 'Process name, case-insensitive.' },
          sha256: { type: 'string', pattern: '^[0-9a-fA-F]{64}$', description: 'Pin to one binary by its SHA-256 (64 hex).' },
          sha1: { type: 'string', pattern: '^[0-9a-fA-F]{40}$', description: 'Pin to one binary by its SHA-1 (40 hex), for feeds that give no SHA-256 (Defender). Not with sha256.' },
          expires: { type: 'string', description: 'The entry stops matching at this time (ISO 8601, e.g. 2027-06-30 or 2027-06-30T18:00:00Z; capture time). A time already past is a config error.' },
          device_group: { type: 'string', description: 'Pin to a device group of the tenant.' },
          provider: { type: 'string', description: 'Only for this provider.' },
          category: { type: 'string', enum: ['api', 'assistant', 'sdk', 'local_llm', 'plugin', 'agent'], description: 'Only for this category.' },
          justification: { type: 'string', minLength: 1, description: 'Why this is allowed (kept for the audit trail).' },
        },
      },
    },
    store: section({
      path: str('SQLite database file (WAL): the single-box store.', 'llmtap.db'),
      url: {
        type: 'string',
        default: '',
        pattern: '^(postgres(ql)?://.+)?$',
        description: 'PostgreSQL URL (postgres://user[:password]@host[:port]/database[?sslmode=…]) of the fleet hub\'s store; when set, the hub stores there instead of `path` (docs/fleet.md, Storage). Empty: SQLite. The schema is migrated when the hub starts.',
      },
      retention_hours: num('Anomaly rows (observations) are removed after this many hours.', 72),
      busy_timeout_ms: int('How long a write waits for another connection holding the database lock, ms (longer is a storage fault; while a fault lasts nothing waits).', 5000),
      queue_max: int('Writes (alerts first, then observations and the rest) kept in memory while the database cannot take them (disk full, I/O error, read-only, locked); the oldest non-alert write is dropped first. About 2 KiB each.', 100000, 16),
      retry_interval_ms: int('How often writes queued during a storage fault are retried, ms.', 1000, 10),
    }),
    api: section({
      host: str('Listen address.', '127.0.0.1'),
      port: int('Listen port (0 = any free port).', 8787),
      tls_cert: optStr('PEM certificate file: serve HTTPS.'),
      tls_key: optStr('PEM key file: serve HTTPS.'),
      cursor_key: optStr('Secret for SIEM cursors (keep stable across restarts).'),
      tokens: {
        type: 'array',
        default: [],
        description: 'One bearer credential per tenant, stored as SHA-256 hex of the token.',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['tenant', 'token_sha256'],
          properties: { tenant: { type: 'string' }, token_sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
        },
      },
      operator_tokens: {
        type: 'array',
        default: [],
        description:
          'Operator credentials (SHA-256 hex of each token): the global routes (POST /v1/rules/reload, the full /metrics with AI-traffic and alert series). No tenant data. None by default: reload rules with SIGHUP.',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'token_sha256'],
          properties: {
            name: { type: 'string', minLength: 1, description: 'Who holds it (for the log).' },
            token_sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          },
        },
      },
    }),
    overload: section({
      dissect_new_flows_per_s: int('Live: above this many new flows per second, new flows are not dissected (counted, emitted and analyzed without TLS/QUIC/DNS parsing) until the rate falls.', 100000, 1),
      analyze_new_flows_per_s: int('Live: above this many new flows per second, new flows are only counted and emitted as flow records (no EDR join, classification or detection).', 250000, 1),
      max_lag_s: num('Live: capture lag (wall clock minus the newest packet) above this also stops dissecting new flows; above twice this, analyzing them.', 2),
      recover_s: num('Live: seconds below a level\'s trigger before the sensor steps back down one level.', 5),
    }),
    capture: section({
      iface: optStr('Interface to capture from (llmtap run).'),
      snaplen: int('Bytes captured per packet.', 65535, 64),
      promisc: bool('Promiscuous mode.', true),
      buffer_bytes: int('Kernel capture buffer, bytes.', 64 * 1024 * 1024, 65536),
      bpf: optStr('BPF capture filter.'),
      batch_packets: int('Packets handed to JavaScript per batch.', 4096, 1),
      timeout_ms: int('Longest wait before a partial batch is delivered.', 50, 1),
      backend: { type: 'string', enum: ['native', 'cap'], default: 'native', description: 'Capture backend.' },
      workers: { type: 'integer', minimum: 1, maximum: 1024, default: 1, description: 'Packet workers (threads) of `llmtap run`, and of `llmtap replay` (there the packets of the files are sharded by flow among them — each worker reads a plain file itself, a reader thread feeds them gzip input; the results are those of one worker). Live, above 1, each worker opens its own socket on the interface in one Linux PACKET_FANOUT group (the kernel splits packets by flow, both directions and reassembled IPv4 fragments together) and runs decode, flow and dissect itself; names, join, classification, detection and the store run once, on their time-ordered merge. Native backend, Linux. `llmtap run --workers` overrides it. See docs/capture-fanout.md.' },
      fanout_group: { type: 'integer', minimum: 0, maximum: 65535, description: 'PACKET_FANOUT group id the workers join (ids are shared by every process in the network namespace: two sensors on one interface need different ids). Absent: derived from the process id.' },
    }),
    outputs: {
      type: 'array',
      default: [],
      description: 'Push outputs: every alert change goes to each (syslog, file, webhook); reloaded on SIGHUP. See "Sending alerts to a SIEM" in the README.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['type'],
        properties: {
          type: { type: 'string', enum: ['syslog', 'file', 'webhook'], description: 'Output kind.' },
          name: { type: 'string', pattern: '^[a-z0-9_-]{1,40}$', description: 'Label in metrics and logs (default `<type>-<position>`); a fleet hub on PostgreSQL keeps the output\'s position under it (docs/fleet.md, outputs at the hub).' },
          url: { type: 'string', description: 'syslog: udp://, tcp:// or tls://HOST:PORT; webhook: https:// (or http://) URL.' },
          format: { type: 'string', enum: ['cef', 'json', 'ocsf', 'ecs', 'eve'], description: 'syslog: cef (default) or json (OCSF); file: ocsf (default), ecs or eve.' },
          path: { type: 'string', description: 'file: the NDJSON file (appended; reopened on SIGHUP and when rotated away).' },
          secret_file: { type: 'string', description: 'webhook: file holding the HMAC-SHA256 key that signs each batch.' },
          ca_file: { type: 'string', description: 'tls:// and https://: PEM CA bundle to trust instead of the system store.' },
          facility: { type: 'integer', minimum: 0, maximum: 23, default: 16, description: 'syslog: facility number (16 = local0).' },
          queue_max: { type: 'integer', minimum: 1, default: 10000, description: 'Alert changes held for this output while it is down; beyond, the oldest are dropped (counted).' },
          batch_max: { type: 'integer', minimum: 1, default: 100, description: 'Alert changes per write / webhook POST.' },
          retry_initial_ms: { type: 'integer', minimum: 1, default: 500, description: 'First retry delay after a failure; doubles up to retry_max_ms.' },
          retry_max_ms: { type: 'integer', minimum: 1, default: 30000, description: 'Longest retry delay.' },
          timeout_ms: { type: 'integer', minimum: 1, default: 10000, description: 'Connect / request timeout.' },
        },
      },
    },
    fleet: section({
      servers: { type: 'array', items: { type: 'string' }, default: [], description: 'NATS servers of the fleet (nats://host:port, every node of the cluster); empty: single-box mode (docs/fleet.md).' },
      user: optStr('NATS user of this sensor or hub.'),
      password_file: optStr('File holding the NATS password (first line).'),
      tenant: str('Sensor: the tenant whose subjects this sensor publishes to (its NATS user may publish only these).', 'default'),
      sensor: optStr('Sensor: its name in subjects (letters, digits, _ and -; default: the host name).'),
      publish: { type: 'string', enum: ['ai', 'all'], default: 'ai', description: 'Sensor: which named flow records go to the hub: ai (those the rules classify as AI from host, address and port, and loopback flows) or all.' },
      flows: bool('Sensor: also publish every flow record to the LLMTAP_FLOWS stream (a data lake); hub: create that stream.', false),
      spool_max: int('Sensor: flow records held in memory while NATS or the link is down; beyond, the oldest are dropped (counted).', 100000, 1),
      drain_s: num('Sensor (replay): seconds to wait at the end for the spool to be delivered.', 120),
      rules_cache: optStr('Sensor: file keeping the last good rules the hub sent (used at start while the hub is away); relative to the config file.'),
      settings_cache: optStr('Sensor: file keeping the last good tenant definition and allowlist the hub sent (applied at start while the hub is away); relative to the config file.'),
      replicas: int('Hub: stream replicas (3 on a three-node cluster).', 3, 1),
      duplicate_window_s: num('Hub: seconds within which a re-sent record (same id) is stored once.', 600, 1),
      max_age_s: num('Hub: seconds a record stays in a stream (the longest hub outage survived).', 7 * 86400, 60),
      max_bytes: int('Hub: bytes per stream (oldest records dropped beyond).', 1024 * 1024 * 1024, 1024 * 1024),
      ack_wait_s: num('Hub: seconds before a record the hub took but did not acknowledge is delivered again (a hub that died; a live hub tells the server it is still working on held records).', 30, 1),
      batch: int('Hub: records fetched per pull.', 256, 1),
      reorder_s: num('Hub: seconds each record is held so the records of all sensors go into detection in capture-time order; a record also waits until every live sensor of its tenant sent a watermark past its flow end.', 5),
      sensor_timeout_s: num('Hub: seconds a sensor may be silent (link away) and still hold the merge by its watermark; past it the merge goes on and its records come late (counted).', 300, 1),
      idle_advance: bool('Hub: with no record for a second, its clock (capture time) runs on with the wall clock, so pending joins and windows close.', true),
    }),
    log: section({
      level: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info', description: 'Log level.' },
    }),
  },
} as const;


/**
 * A section's defaults as the schema declares them: what a config without that section gets.
 * Stages take their default options from here (mapped by their own `...From(section)`), so a
 * default is written once, in the schema.
 */
export function schemaDefaults<S extends DefaultedSection>(section: S): SensorConfig[S] {
  const props = (CONFIG_SCHEMA.properties[section] as { properties: Record<string, { default?: unknown }> }).properties;
  const out: Record<string, unknown> = {};
  for (const [k, p] of Object.entries(props)) {
    if (p.default === undefined) throw new Error(`config schema: ${section}.${k} has no default`);
    out[k] = Array.isArray(p.default) ? [...(p.default as unknown[])] : p.default;
  }
  return out as SensorConfig[S];
}

/**
 * The config as the product sees it after validation: inferred from CONFIG_SCHEMA, so a key,
 * its type, its enum and whether it is always present (it has a default) are written once.
 * Plain JSON Schema stays the source (ajv validates it as is; scripts/gen-config-doc.mjs writes
 * docs/configuration.md from it) and json-schema-to-ts reads the type from it (a type-only
 * dependency). Chosen over a schema builder such as TypeBox because FromSchema types a key that
 * has a `default` as always present, which is what ajv's `useDefaults` gives, where a builder's
 * static type is the file's shape (such a key optional) and would need a second, hand-kept
 * "after defaults" type; and the schema, its helpers and the doc generator stay as they are. `tenants` is typed by its own parser (src/tenants/schema.ts).
 */
export type SensorConfig = Omit<FromSchema<typeof CONFIG_SCHEMA>, 'tenants'> & {
  tenants: TenantConfig[];
  /** Where the config came from (for messages) and the directory relative paths resolve against. */
  source: string;
  baseDir: string;
};

/** Keys of T that may be absent. */
type OptionalKeys<T> = { [K in keyof T]-?: {} extends Pick<T, K> ? K : never }[keyof T];
/** The config sections (mappings, not lists) whose every key has a schema default. */
export type DefaultedSection = {
  [S in keyof SensorConfig]: SensorConfig[S] extends readonly unknown[] | string ? never : [OptionalKeys<SensorConfig[S]>] extends [never] ? S : never;
}[keyof SensorConfig];

/** `fleet:` (docs/fleet.md): the NATS side of a sensor or the hub. */
export type FleetConfig = SensorConfig['fleet'];

/** One push output (`outputs:` list); validated by configFromObject. */
export type OutputConfig = SensorConfig['outputs'][number];

const OUTPUT_FORMATS: Record<OutputConfig['type'], readonly string[]> = { syslog: ['cef', 'json'], file: ['ocsf', 'ecs', 'eve'], webhook: ['ocsf'] };
const OUTPUT_SCHEMES: Record<OutputConfig['type'], readonly string[]> = { syslog: ['udp:', 'tcp:', 'tls:'], file: [], webhook: ['https:', 'http:'] };

/** What JSON Schema cannot say about one output; returns the problems, keyed `outputs[i].key`. */
function checkOutput(o: OutputConfig, i: number): string[] {
  const at = `outputs[${i}]`;
  const errs: string[] = [];
  if (o.format !== undefined && !OUTPUT_FORMATS[o.type].includes(o.format)) {
    errs.push(`${at}.format: ${o.type} takes ${OUTPUT_FORMATS[o.type].join(' or ')}, not ${o.format}`);
  }
  if (o.type === 'file') {
    if (o.path === undefined || o.path === '') errs.push(`${at}.path: a file output needs a path`);
    if (o.url !== undefined) errs.push(`${at}.url: a file output takes a path, not a url`);
  } else {
    let u: URL | undefined;
    try {
      u = o.url !== undefined ? new URL(o.url) : undefined;
    } catch {
      errs.push(`${at}.url: not a URL: ${o.url ?? ''}`);
    }
    if (o.url === undefined) errs.push(`${at}.url: a ${o.type} output needs a url`);
    else if (u !== undefined) {
      if (!OUTPUT_SCHEMES[o.type].includes(u.protocol)) errs.push(`${at}.url: ${o.type} takes ${OUTPUT_SCHEMES[o.type].map((s) => `${s}//`).join(', ')} (got ${u.protocol}//)`);
      if (o.type === 'syslog' && (u.hostname === '' || u.port === '')) errs.push(`${at}.url: give host and port, e.g. tcp://siem.example:6514`);
    }
    if (o.path !== undefined) errs.push(`${at}.path: only file outputs take a path`);
  }
  if (o.type === 'webhook' && (o.secret_file === undefined || o.secret_file === '')) errs.push(`${at}.secret_file: a webhook output needs the file of its signing key`);
  if (o.type !== 'webhook' && o.secret_file !== undefined) errs.push(`${at}.secret_file: only webhook outputs are signed`);
  if (o.retry_max_ms < o.retry_initial_ms) errs.push(`${at}.retry_max_ms: smaller than retry_initial_ms`);
  return errs;
}

export class ConfigError extends Error {
  readonly code = 'LLMTAP_ERR_CONFIG';
}

const ajv = new Ajv({ useDefaults: true, allErrors: true, strict: false });
/** Compiled on first use: threads that only read schema defaults (packet workers) skip the compile (~0.1 s). */
let compiled: ReturnType<typeof ajv.compile> | undefined;
const validator = (): ReturnType<typeof ajv.compile> => (compiled ??= ajv.compile(CONFIG_SCHEMA));

function describe(e: ErrorObject): string {
  const key = e.instancePath.replace(/^\//, '').replace(/\//g, '.') || '(top level)';
  if (e.keyword === 'additionalProperties') {
    const extra = (e.params as { additionalProperty?: string }).additionalProperty ?? '?';
    return `${key === '(top level)' ? '' : `${key}.`}${extra}: unknown key`;
  }
  return `${key}: ${e.message ?? 'invalid'}`;
}

/** An ISO 8601 date or date-time (a date alone is midnight UTC), or undefined. */
export function parseExpiry(text: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}

/** Allowlist entries: one hash pin at most, and an expiry that parses and is still ahead. */
function checkAllowlist(cfg: SensorConfig, source: string, nowMs: number): void {
  cfg.allowlist.forEach((e, i) => {
    const at = `${source}: allowlist[${i}] (${e.process})`;
    if (e.sha256 !== undefined && e.sha1 !== undefined) throw new ConfigError(`${at}: give sha256 or sha1, not both`);
    if (e.expires === undefined) return;
    const ms = parseExpiry(e.expires);
    if (ms === undefined) throw new ConfigError(`${at}.expires: not an ISO 8601 date or date-time: ${JSON.stringify(e.expires)}`);
    if (ms <= nowMs) {
      throw new ConfigError(`${at}.expires: ${e.expires} is in the past; remove the entry or give a later date`);
    }
  });
}

/** Validate a parsed config object (defaults filled in). Throws ConfigError naming the keys. */
export function configFromObject(raw: unknown, source = '(built-in defaults)', baseDir = PACKAGE_ROOT): SensorConfig {
  const obj = raw === undefined || raw === null ? {} : raw;
  if (typeof obj !== 'object' || Array.isArray(obj)) throw new ConfigError(`${source}: the config must be a mapping of sections`);
  const copy = structuredClone(obj) as Record<string, unknown>;
  const validate = validator();
  if (!validate(copy)) {
    const msgs = (validate.errors ?? []).map(describe);
    throw new ConfigError(`${source}: ${msgs.join('; ')}`);
  }
  let tenants: TenantConfig[];
  try {
    tenants = parseTenants(copy['tenants'] ?? [], 'tenants');
  } catch (err) {
    throw new ConfigError(`${source}: ${(err as Error).message}`);
  }
  const cfg = { ...(copy as unknown as SensorConfig), tenants, source, baseDir };
  const tlsCert = cfg.api.tls_cert;
  const tlsKey = cfg.api.tls_key;
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new ConfigError(`${source}: api.tls_cert and api.tls_key go together`);
  checkAllowlist(cfg, source, Date.now());
  const tenantHashes = new Set(cfg.api.tokens.map((t) => t.token_sha256));
  cfg.api.operator_tokens.forEach((o, i) => {
    if (tenantHashes.has(o.token_sha256)) throw new ConfigError(`${source}: api.operator_tokens[${i}]: the same token is a tenant's token (api.tokens); give operators their own`);
  });
  const outErrs = cfg.outputs.flatMap(checkOutput);
  const names = cfg.outputs.map((o, i) => o.name ?? `${o.type}-${i}`);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) outErrs.push(`outputs: two outputs named ${dup}`);
  if (outErrs.length > 0) throw new ConfigError(`${source}: ${outErrs.join('; ')}`);
  return cfg;
}

/** Load and validate a YAML/JSON config file; without a path, the built-in defaults. */
export function loadConfig(path?: string): SensorConfig {
  if (path === undefined) return configFromObject({});
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${path}: cannot read config (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (err) {
    const e = err as { linePos?: { line: number }[]; message: string };
    const line = e.linePos?.[0]?.line;
    throw new ConfigError(`${path}${line !== undefined ? `:${line}` : ''}: not valid YAML/JSON: ${e.message.split('\n')[0] ?? ''}`);
  }
  return configFromObject(raw, path, dirname(resolve(path)));
}

/**
 * Resolve a path from the config: absolute as is; relative paths against the config file's
 * directory when the file exists there, else against the package (where the shipped defaults,
 * e.g. config/rules/default.yaml, live).
 */
export function configPath(cfg: SensorConfig, p: string, opts: { output?: boolean } = {}): string {
  if (isAbsolute(p)) return p;
  // files llmtap creates (the database): next to the config file, or in the working directory
  if (opts.output === true) return cfg.source === '(built-in defaults)' ? resolve(p) : resolve(cfg.baseDir, p);
  const near = resolve(cfg.baseDir, p);
  return existsSync(near) ? near : join(PACKAGE_ROOT, p);
}
