/**
 * One alert change → the text each push output sends: CEF (ArcSight), RFC 5424 syslog, OCSF,
 * ECS and Suricata-EVE-style JSON. Pure functions; the change log (store) decides what a
 * change is, ../api/ocsf.ts owns the OCSF mapping. Nothing here reads payload or command lines:
 * the alert record carries none.
 */
import { activityOf, toOcsfFinding } from '../api/ocsf.js';
import type { Alert, Severity } from '../records.js';

export interface FormatContext {
  /** llmtap version (product version in CEF, OCSF, ECS). */
  version: string;
  /** The sensor's host name (syslog HOSTNAME, CEF dvchost, ECS observer.hostname). */
  hostname: string;
}

const ACTIVITY_WORD = { 1: 'create', 2: 'update', 3: 'close' } as const;

/** What happened to the alert in this change: create, update or close. */
export function changeKind(a: Alert): 'create' | 'update' | 'close' {
  return ACTIVITY_WORD[activityOf(a)];
}

// ───────────────────────────── CEF ─────────────────────────────

/** CEF severity 0–10 (ArcSight: 0–3 low, 4–6 medium, 7–8 high, 9–10 very high). */
const CEF_SEVERITY: Record<Severity, number> = { info: 1, low: 3, medium: 5, high: 8, critical: 10 };

/** Header fields: backslash and pipe are escaped; line breaks are not allowed and become spaces. */
export function cefHeader(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ');
}

/** Extension values: backslash and equals sign are escaped, CR and LF written as \r and \n. */
export function cefValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/=/g, '\\=').replace(/\r/g, '\\r').replace(/\n/g, '\\n');
}

const PROTO: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'IPv6-ICMP', 132: 'SCTP' };

/** The destination host when the alert has one; an alert spanning several hosts (H7) has none
 * (its `host` lists them all, which is no host name). */
function singleHost(a: Alert): string | undefined {
  if (a.hosts !== undefined) return a.hosts.length === 1 ? a.hosts[0] : undefined;
  return a.host;
}

/**
 * `CEF:0|llmtap|llmtap|<version>|<heuristic>|<title>|<severity>|<extension>`. Extension keys
 * are ArcSight dictionary names: rt/start/end, src or c6a2 (IPv6 source), dst or c6a3, dpt,
 * proto, dhost, shost, sproc, spid, fileHash (SHA-256, else SHA-1), cnt, out/in, msg, externalId, dvchost, act, and
 * labelled custom strings cs1 provider, cs2 category, cs3 tenant, cs4 Community IDs, cs5 rule,
 * cs6 confidence (level). dhost only for an alert about one host.
 */
export function toCef(a: Alert, ctx: FormatContext): string {
  const ext: [string, string | number][] = [
    ['rt', Math.floor(a.lastSeenUs / 1000)],
    ['start', Math.floor(a.firstSeenUs / 1000)],
    ['end', Math.floor(a.lastSeenUs / 1000)],
    ['act', changeKind(a)],
    ['externalId', a.id],
    ['cnt', a.count],
  ];
  if (a.clientAddr !== undefined) ext.push(a.clientAddr.includes(':') ? ['c6a2', a.clientAddr] : ['src', a.clientAddr]);
  if (a.clientAddr?.includes(':') === true) ext.push(['c6a2Label', 'Source IPv6 Address']);
  if (a.server !== undefined) {
    if (a.server.addr.includes(':')) ext.push(['c6a3', a.server.addr], ['c6a3Label', 'Destination IPv6 Address']);
    else ext.push(['dst', a.server.addr]);
    if (a.server.port > 0) ext.push(['dpt', a.server.port]);
    ext.push(['proto', PROTO[a.server.proto] ?? String(a.server.proto)]);
  }
  const host = singleHost(a);
  if (host !== undefined) ext.push(['dhost', host]);
  if (a.deviceName !== undefined) ext.push(['shost', a.deviceName]);
  if (a.processName !== undefined) ext.push(['sproc', a.processName]);
  if (a.pid !== undefined) ext.push(['spid', a.pid]);
  const hash = a.sha256 ?? a.sha1;
  if (hash !== undefined) ext.push(['fileHash', hash]);
  ext.push(['out', a.evidence.bytesOut], ['in', a.evidence.bytesIn]);
  if (a.provider !== undefined) ext.push(['cs1Label', 'provider'], ['cs1', a.provider]);
  if (a.category !== undefined) ext.push(['cs2Label', 'category'], ['cs2', a.category]);
  ext.push(['cs3Label', 'tenant'], ['cs3', a.tenant]);
  if (a.evidence.communityIds.length > 0) ext.push(['cs4Label', 'communityIds'], ['cs4', a.evidence.communityIds.join(',')]);
  if (a.evidence.ruleId !== undefined) ext.push(['cs5Label', 'rule'], ['cs5', a.evidence.ruleId]);
  if (a.confidence !== undefined) ext.push(['cs6Label', 'confidence'], ['cs6', a.confidence.level]);
  ext.push(['dvchost', ctx.hostname], ['msg', a.title]);
  const header = ['CEF:0', 'llmtap', 'llmtap', ctx.version, a.heuristic, a.title, String(CEF_SEVERITY[a.severity])].map((f, i) => (i === 0 ? f : cefHeader(f)));
  return `${header.join('|')}|${ext.map(([k, v]) => `${k}=${cefValue(String(v))}`).join(' ')}`;
}

// ───────────────────────────── syslog (RFC 5424) ─────────────────────────────

/** Syslog severity of an alert: critical 2 Critical, high 3 Error, medium 4 Warning, low 5 Notice, info 6 Informational. */
const SYSLOG_SEVERITY: Record<Severity, number> = { critical: 2, high: 3, medium: 4, low: 5, info: 6 };

/** PRINTUSASCII without space, at most `max` characters, or the NILVALUE. */
function header5424(v: string, max: number): string {
  const s = v.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return s === '' ? '-' : s;
}

/**
 * `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG` (RFC 5424, no structured data).
 * TIMESTAMP is the emission time; MSGID is `alert`; MSG is the CEF or JSON text.
 */
export function toSyslog5424(a: Alert, msg: string, ctx: FormatContext & { facility: number; nowMs: number; procId: number }): string {
  const pri = ctx.facility * 8 + SYSLOG_SEVERITY[a.severity];
  const ts = new Date(ctx.nowMs).toISOString();
  return `<${pri}>1 ${ts} ${header5424(ctx.hostname, 255)} llmtap ${ctx.procId} alert - ${msg}`;
}

/** RFC 6587 / RFC 5425 octet-counting frame: `<length in bytes> <message>`. */
export function octetFrame(msg: string): Buffer {
  const body = Buffer.from(msg, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}

// ───────────────────────────── OCSF / ECS / EVE ─────────────────────────────

export function toOcsfJson(a: Alert, ctx: FormatContext): Record<string, unknown> {
  return toOcsfFinding(a, { version: ctx.version });
}

/** ECS `event.severity` (numeric) and the ECS version the field names follow. */
const ECS_SEVERITY: Record<Severity, number> = { info: 1, low: 2, medium: 3, high: 4, critical: 5 };
export const ECS_VERSION = '9.4.0';

const iso = (us: number): string => new Date(Math.floor(us / 1000)).toISOString();

/**
 * Elastic Common Schema document of an alert change. Only ECS fields (checked against the
 * @elastic/ecs field definitions in the tests), llmtap-specific values under `llmtap.*`.
 */
export function toEcs(a: Alert, ctx: FormatContext): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    '@timestamp': iso(a.lastSeenUs),
    ecs: { version: ECS_VERSION },
    message: a.title,
    event: {
      kind: 'alert',
      category: ['network', 'intrusion_detection'],
      type: ['connection', 'info'],
      action: changeKind(a),
      id: `${a.id}:${a.seq ?? 0}`,
      severity: ECS_SEVERITY[a.severity],
      start: iso(a.firstSeenUs),
      end: iso(a.lastSeenUs),
      module: 'llmtap',
      dataset: 'llmtap.alert',
      provider: 'llmtap',
    },
    rule: { name: a.heuristic, ...(a.evidence.ruleId !== undefined ? { id: a.evidence.ruleId } : {}), ruleset: 'llmtap' },
    observer: { product: 'llmtap', vendor: 'llmtap', type: 'sensor', version: ctx.version, hostname: ctx.hostname },
    organization: { id: a.tenant },
    network: {
      direction: 'outbound',
      ...(a.server !== undefined && PROTO[a.server.proto] !== undefined ? { transport: PROTO[a.server.proto]!.toLowerCase() } : {}),
      ...(a.evidence.communityIds[0] !== undefined ? { community_id: a.evidence.communityIds[0] } : {}),
    },
    source: { bytes: a.evidence.bytesOut, ...(a.clientAddr !== undefined ? { ip: a.clientAddr, address: a.clientAddr } : {}) },
    destination: {
      bytes: a.evidence.bytesIn,
      ...(a.server !== undefined ? { ip: a.server.addr, ...(a.server.port > 0 ? { port: a.server.port } : {}) } : {}),
      ...(singleHost(a) !== undefined ? { domain: singleHost(a), address: singleHost(a) } : {}),
    },
    llmtap: {
      alert_id: a.id,
      seq: a.seq ?? 0,
      status: a.status,
      count: a.count,
      community_ids: a.evidence.communityIds,
      ...(a.provider !== undefined ? { provider: a.provider } : {}),
      ...(a.category !== undefined ? { category: a.category } : {}),
      ...(a.evidence.hostSource !== undefined ? { host_source: a.evidence.hostSource } : {}),
      ...(a.related !== undefined ? { related: a.related } : {}),
      ...(a.providers !== undefined ? { providers: a.providers } : {}),
      ...(a.hosts !== undefined ? { hosts: a.hosts } : {}),
      ...(a.confidence !== undefined ? { confidence: a.confidence.level, confidence_reasons: a.confidence.reasons.map((r) => r.signal) } : {}),
    },
  };
  if (a.deviceId !== undefined || a.deviceName !== undefined) {
    doc['host'] = { ...(a.deviceId !== undefined ? { id: a.deviceId } : {}), ...(a.deviceName !== undefined ? { name: a.deviceName } : {}) };
  }
  if (a.processName !== undefined) {
    doc['process'] = {
      name: a.processName,
      ...(a.pid !== undefined ? { pid: a.pid } : {}),
      ...(a.sha256 !== undefined ? { hash: { sha256: a.sha256 } } : a.sha1 !== undefined ? { hash: { sha1: a.sha1 } } : {}),
    };
  }
  return doc;
}

/** Suricata-style severity: 1 is the most severe. */
const EVE_SEVERITY: Record<Severity, number> = { critical: 1, high: 1, medium: 2, low: 3, info: 3 };

/** Stable signature id per heuristic, in the local-use range (the rules export uses its own). */
export const EVE_SIDS: Record<string, number> = { h1: 9_100_001, h7: 9_100_007, beacon: 9_100_010, upload: 9_100_011, lineage: 9_100_012, shadow_volume: 9_100_013, learning: 9_100_014, threat_intel: 9_100_015 };

/** Suricata EVE-style `alert` event of an alert change (field names as Suricata writes them). */
export function toEve(a: Alert, ctx: FormatContext): Record<string, unknown> {
  const ev: Record<string, unknown> = {
    timestamp: iso(a.lastSeenUs).replace('Z', '+0000'),
    event_type: 'alert',
    host: ctx.hostname,
  };
  if (a.clientAddr !== undefined) ev['src_ip'] = a.clientAddr;
  if (a.server !== undefined) {
    ev['dest_ip'] = a.server.addr;
    if (a.server.port > 0) ev['dest_port'] = a.server.port;
    ev['proto'] = PROTO[a.server.proto] ?? String(a.server.proto);
  }
  if (a.evidence.communityIds[0] !== undefined) ev['community_id'] = a.evidence.communityIds[0];
  ev['alert'] = {
    action: 'allowed',
    gid: 1,
    signature_id: EVE_SIDS[a.heuristic] ?? 9_100_000,
    rev: 1,
    signature: a.title,
    category: a.heuristic,
    severity: EVE_SEVERITY[a.severity],
    metadata: {
      llmtap_alert_id: [a.id],
      llmtap_change: [changeKind(a)],
      ...(a.provider !== undefined ? { provider: a.providers ?? [a.provider] } : {}),
      ...(a.evidence.ruleId !== undefined ? { rule: [a.evidence.ruleId] } : {}),
      ...(a.confidence !== undefined ? { confidence: [a.confidence.level] } : {}),
    },
  };
  const host = singleHost(a);
  if (host !== undefined) ev[a.evidence.hostSource === 'quic-sni' ? 'quic' : a.evidence.hostSource === 'sni' ? 'tls' : 'dns'] = a.evidence.hostSource === 'sni' || a.evidence.hostSource === 'quic-sni' ? { sni: host } : { query: [{ rrname: host }] };
  ev['llmtap'] = {
    alert_id: a.id,
    seq: a.seq ?? 0,
    tenant: a.tenant,
    status: a.status,
    count: a.count,
    bytes_out: a.evidence.bytesOut,
    bytes_in: a.evidence.bytesIn,
    ...(a.deviceId !== undefined ? { device: a.deviceId } : {}),
    ...(a.processName !== undefined ? { process: a.processName } : {}),
    ...(a.pid !== undefined ? { pid: a.pid } : {}),
    ...(a.sha256 !== undefined ? { sha256: a.sha256 } : {}),
    ...(a.sha1 !== undefined ? { sha1: a.sha1 } : {}),
  };
  return ev;
}
