/** Builders for classified, attributed observations (times compressed, seconds from T0). */
import type { Alert, AiCategory, Observation } from '../../src/records.js';
import { Detector } from '../../src/detect/detector.js';
import type { Rule } from '../../src/detect/rule.js';
import { TenantResolver } from '../../src/tenants/resolver.js';
import { defaultTenantConfig, type TenantConfig } from '../../src/tenants/schema.js';
import { Store } from '../../src/store/store.js';

/** 2025-11-03T00:00:00Z in µs. */
export const T0 = Date.UTC(2025, 10, 3) * 1000;
export const DAY_S = 86_400;

export interface ObsSpec {
  id: string;
  atS: number;
  tenant?: string;
  device?: string;
  proc?: string;
  sha256?: string;
  sha1?: string;
  lineage?: string;
  parent?: string;
  /** No EDR match: only the client address is known. */
  noEdr?: boolean;
  clientAddr?: string;
  host?: string;
  provider?: string;
  category?: AiCategory;
  sanctioned?: boolean;
  bytesOut?: number;
  bytesIn?: number;
  update?: boolean;
  /** Not an AI connection (no verdict). */
  notAi?: boolean;
  /** The flow record's payload entropy (present only when its tenant opted in). */
  entropy?: number;
}

let flowSeq = 1;

export function obs(s: ObsSpec): Observation {
  const ts = T0 + s.atS * 1e6;
  const clientAddr = s.clientAddr ?? '10.1.0.10';
  const flowId = flowSeq++;
  const o: Observation = {
    obsId: s.id,
    tenant: s.tenant ?? 'default',
    kind: 'flow',
    update: s.update ?? false,
    tsUs: ts,
    lastTsUs: ts + 2e6,
    clientAddr,
    serverAddr: '162.159.140.245',
    serverPort: 443,
    proto: 6,
    host: s.host ?? 'api.openai.com',
    hostSource: 'sni',
    bytesOut: s.bytesOut ?? 1500,
    bytesIn: s.bytesIn ?? 4000,
    flow: {
      flowId,
      communityId: `1:test${flowId}=`,
      proto: 6,
      vlan: [],
      origAddr: clientAddr,
      origPort: 50000 + (flowId % 10000),
      respAddr: '162.159.140.245',
      respPort: 443,
      origBy: 'syn',
      origPkts: 10,
      respPkts: 10,
      origWireBytes: s.bytesOut ?? 1500,
      respWireBytes: s.bytesIn ?? 4000,
      origCapBytes: 0,
      respCapBytes: 0,
      origIpBytes: 0,
      respIpBytes: 0,
      origPayloadBytes: 0,
      respPayloadBytes: 0,
      firstTsUs: ts,
      lastTsUs: ts + 2e6,
      origTcpFlags: 0x1b,
      respTcpFlags: 0x1b,
      endReason: 'fin',
      ifIndex: 0,
      hostSource: 'sni',
    },
  };
  if (s.entropy !== undefined && o.flow !== undefined) o.flow.payloadEntropy = s.entropy;
  if (!s.notAi) {
    o.verdict = {
      category: s.category ?? 'api',
      provider: s.provider ?? 'openai',
      ruleId: `test.${s.provider ?? 'openai'}`,
      sanctioned: s.sanctioned ?? false,
    };
  }
  if (!s.noEdr) {
    o.client = {
      side: 'orig',
      deviceId: s.device ?? 'dev-1',
      deviceName: (s.device ?? 'dev-1').toUpperCase(),
      hashUnknown: s.sha256 === undefined && s.sha1 === undefined,
      source: 'sysmon',
      method: 'edr',
      processName: s.proc ?? 'python.exe',
      processPath: 'C:\\Users\\*\\AppData\\Local\\Programs\\tool\\' + (s.proc ?? 'python.exe'),
    };
    if (s.sha256 !== undefined) o.client.sha256 = s.sha256;
    if (s.sha1 !== undefined) o.client.sha1 = s.sha1;
    if (s.lineage !== undefined) o.client.lineageHash = s.lineage;
    if (s.parent !== undefined) o.client.parentName = s.parent;
  }
  return o;
}

export interface Rig {
  store: Store;
  det: Detector;
  tenants: TenantResolver;
}

export function rig(tenants: TenantConfig[] = [{ ...defaultTenantConfig(), warmup_days: 0 }], extraRules: Rule[] = [], path = ':memory:'): Rig {
  const store = Store.open(path, { flushIntervalMs: 0 });
  const resolver = new TenantResolver(tenants);
  return { store, tenants: resolver, det: new Detector({ tenants: resolver }, { store, extraRules }) };
}

/** Latest snapshot of every alert of a tenant, from the change log (as a SIEM poller sees it). */
export function alerts(store: Store, tenant = 'default'): Alert[] {
  const latest = new Map<string, Alert>();
  let after = 0;
  for (;;) {
    const page = store.listAlertChanges(tenant, { afterSeq: after, limit: 100 });
    if (page.length === 0) break;
    for (const a of page) latest.set(a.id, a);
    after = page[page.length - 1]?.seq ?? after;
  }
  return [...latest.values()];
}

/** Compact, order-independent description: "heuristic/severity/device/process". */
export function summary(list: Alert[]): string[] {
  return list.map((a) => `${a.heuristic}/${a.severity}/${a.deviceId ?? a.clientAddr ?? '-'}/${a.processName ?? '-'}`).sort();
}

/** Deterministic PRNG (mulberry32) for jitter. */
export function prng(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r ^= r + Math.imul(r ^ (r >>> 7), 61 | r);
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}
