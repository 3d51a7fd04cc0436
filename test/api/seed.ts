/** Builds records and seeds a real Store for the API tests. */
import type { Alert, Heuristic, Observation, Severity } from '../../src/records.js';
import type { Store } from '../../src/store/store.js';

let n = 0;
const T0 = 1_700_000_000_000_000;

export function makeAlert(tenant: string, heuristic: Heuristic, severity: Severity, extra: Partial<Alert> = {}): Alert {
  n++;
  return {
    id: `${tenant}-al-${n}`,
    tenant,
    heuristic,
    severity,
    status: 'open',
    title: `${heuristic} on dev-${tenant}`,
    deviceId: `dev-${tenant}-${n}`,
    clientAddr: '10.1.2.3',
    processName: 'python3',
    sha256: 'a'.repeat(64),
    provider: 'openai',
    category: 'api',
    host: 'api.openai.com',
    count: 1,
    firstSeenUs: T0 + n * 1_000_000,
    lastSeenUs: T0 + n * 1_000_000,
    evidence: { flowIds: [n], communityIds: ['1:LQU9qZlK+B5F3KDmev6m5PMibrg='], obsIds: [`o${n}`], bytesOut: 1000, bytesIn: 5000, detail: { devices: 1 } },
    ...extra,
  };
}

export function makeObservation(tenant: string, extra: Partial<Observation> = {}): Observation {
  n++;
  return {
    obsId: `${tenant}-obs-${n}`,
    tenant,
    kind: 'flow',
    update: false,
    tsUs: T0 + n * 1_000_000,
    lastTsUs: T0 + n * 1_000_000 + 500_000,
    clientAddr: '10.1.2.3',
    serverAddr: '162.159.140.245',
    serverPort: 443,
    proto: 6,
    host: 'api.openai.com',
    hostSource: 'sni',
    bytesOut: 2048,
    bytesIn: 8192,
    client: {
      side: 'orig',
      deviceId: `dev-${tenant}`,
      processName: 'python3',
      sha256: 'c'.repeat(64),
      hashUnknown: false,
      parentName: 'bash',
      lineageHash: 'LINEAGE-SECRET-HASH',
      source: 'llmtap',
      method: 'edr',
    },
    verdict: { category: 'api', provider: 'openai', ruleId: 'openai-api', sanctioned: false },
    ...extra,
  };
}

export interface Seeded {
  alerts: Alert[];
  obs: string[];
  allowIds: number[];
  candidateIds: number[];
}

/** Two alerts, two observations, one allowlist entry and one candidate for `tenant`. */
export function seedTenant(store: Store, tenant: string): Seeded {
  const alerts = [store.upsertAlert(makeAlert(tenant, 'h1', 'high')), store.upsertAlert(makeAlert(tenant, 'h7', 'critical'))];
  const o1 = makeObservation(tenant);
  const o2 = makeObservation(tenant, { verdict: { category: 'assistant', provider: 'anthropic', ruleId: 'claude', sanctioned: false } });
  store.insertObservation(o1);
  store.insertObservation(o2);
  const allow = store.addAllowlist(tenant, { processName: 'code', justification: 'IDE approved' });
  const cand = store.upsertCandidate(tenant, {
    processName: 'node',
    provider: 'anthropic',
    category: 'api',
    deviceId: `dev-${tenant}`,
    obsId: o2.obsId,
    tsUs: o2.tsUs,
  });
  store.flush();
  return { alerts, obs: [o1.obsId, o2.obsId], allowIds: [allow.id], candidateIds: [cand!.id] };
}
