/**
 * Small in-memory stand-ins for the store and classifier with the semantics the API relies on:
 * one global change sequence, advanced on every alert create and update; lists are per tenant.
 */
import type { Alert, AlertStatus, Heuristic, Severity } from '../../src/records.js';
import type {
  AlertFilter,
  AllowlistEntry,
  ApiClassifier,
  ApiStore,
  Candidate,
  ExplainQuery,
  ExplainResult,
  InventoryItem,
  NewAllowlistEntry,
  ObservationFilter,
  ObservationRow,
} from '../../src/api/deps.js';

export class FakeStore implements ApiStore {
  seq = 0;
  alerts = new Map<string, Alert>();
  observations: ObservationRow[] = [];
  allow = new Map<string, AllowlistEntry & { tenant: string }>();
  candidates = new Map<string, Candidate & { tenant: string }>();
  inventory = new Map<string, Set<string>>();
  isWritable = true;
  private nextId = 1;

  addAlert(tenant: string, heuristic: Heuristic, severity: Severity, extra: Partial<Alert> = {}): Alert {
    const id = `al-${this.nextId++}`;
    const a: Alert = {
      id,
      tenant,
      heuristic,
      severity,
      status: 'open',
      title: `${heuristic} alert ${id}`,
      deviceId: `dev-${tenant}`,
      processName: 'python3',
      sha256: 'a'.repeat(64),
      provider: 'openai',
      category: 'api',
      host: 'api.openai.com',
      count: 1,
      firstSeenUs: 1_700_000_000_000_000,
      lastSeenUs: 1_700_000_000_000_000,
      evidence: { flowIds: [1], communityIds: ['1:abc='], obsIds: ['o1'], bytesOut: 100, bytesIn: 200, detail: { devices: 1 } },
      ...extra,
      seq: ++this.seq,
    };
    this.alerts.set(id, a);
    return a;
  }

  bump(id: string): Alert {
    const a = this.alerts.get(id);
    if (a === undefined) throw new Error('no alert');
    a.count += 1;
    a.lastSeenUs += 1_000_000;
    a.seq = ++this.seq;
    return a;
  }

  listAlertChanges(tenant: string, f: AlertFilter): Alert[] {
    return [...this.alerts.values()]
      .filter((a) => a.tenant === tenant && (a.seq ?? 0) > f.afterSeq)
      .filter((a) => (f.severity === undefined || a.severity === f.severity) && (f.heuristic === undefined || a.heuristic === f.heuristic))
      .sort((x, y) => (x.seq ?? 0) - (y.seq ?? 0))
      .slice(0, f.limit)
      .map((a) => structuredClone(a));
  }

  getAlert(tenant: string, id: string): Alert | undefined {
    const a = this.alerts.get(id);
    return a !== undefined && a.tenant === tenant ? structuredClone(a) : undefined;
  }

  setAlertStatus(tenant: string, id: string, status: AlertStatus): Alert | undefined {
    const a = this.alerts.get(id);
    if (a === undefined || a.tenant !== tenant) return undefined;
    a.status = status;
    a.seq = ++this.seq;
    return structuredClone(a);
  }

  addObservation(tenant: string, extra: Partial<ObservationRow> = {}): ObservationRow & { tenant: string } {
    const r = {
      tenant,
      seq: ++this.seq,
      obsId: `obs-${this.nextId++}`,
      kind: 'flow' as const,
      tsUs: 1_700_000_000_000_000,
      lastTsUs: 1_700_000_001_000_000,
      host: 'api.openai.com',
      hostSource: 'sni' as const,
      category: 'api' as const,
      provider: 'openai',
      deviceId: `dev-${tenant}`,
      processName: 'python3',
      clientAddr: '10.0.0.5',
      serverAddr: '162.159.140.245',
      serverPort: 443,
      proto: 6,
      bytesOut: 1234,
      bytesIn: 5678,
      ...extra,
    };
    this.observations.push(r);
    return r;
  }

  listObservations(tenant: string, f: ObservationFilter): ObservationRow[] {
    return this.observations
      .filter((r) => (r as ObservationRow & { tenant?: string }).tenant === tenant && r.seq > f.afterSeq)
      .filter((r) => (f.provider === undefined || r.provider === f.provider) && (f.category === undefined || r.category === f.category))
      .filter((r) => f.deviceId === undefined || r.deviceId === f.deviceId)
      .slice(0, f.limit);
  }

  listAllowlist(tenant: string): AllowlistEntry[] {
    return [...this.allow.values()].filter((e) => e.tenant === tenant);
  }

  addAllowlist(tenant: string, entry: NewAllowlistEntry): AllowlistEntry {
    const e = { ...entry, id: `aw-${this.nextId++}`, createdUs: 1_700_000_000_000_000, tenant };
    this.allow.set(e.id, e);
    return e;
  }

  removeAllowlist(tenant: string, id: string): boolean {
    const e = this.allow.get(id);
    if (e === undefined || e.tenant !== tenant) return false;
    return this.allow.delete(id);
  }

  addCandidate(tenant: string): Candidate {
    const c = {
      id: `cand-${this.nextId++}`,
      tenant,
      sha256: 'b'.repeat(64),
      processName: 'node',
      provider: 'anthropic',
      devices: 2,
      count: 7,
      firstSeenUs: 1_700_000_000_000_000,
      lastSeenUs: 1_700_000_100_000_000,
    };
    this.candidates.set(c.id, c);
    return c;
  }

  listCandidates(tenant: string): Candidate[] {
    return [...this.candidates.values()].filter((c) => c.tenant === tenant);
  }

  approveCandidate(tenant: string, id: string): AllowlistEntry | undefined {
    const c = this.candidates.get(id);
    if (c === undefined || c.tenant !== tenant) return undefined;
    this.candidates.delete(id);
    const entry: NewAllowlistEntry = {};
    if (c.sha256 !== undefined) entry.sha256 = c.sha256;
    if (c.processName !== undefined) entry.processName = c.processName;
    return this.addAllowlist(tenant, entry);
  }

  importInventory(tenant: string, items: InventoryItem[]): number {
    const set = this.inventory.get(tenant) ?? new Set<string>();
    this.inventory.set(tenant, set);
    let added = 0;
    for (const i of items) {
      if (!set.has(i.sha256)) {
        set.add(i.sha256);
        added++;
      }
    }
    return added;
  }

  writable(): boolean {
    return this.isWritable;
  }
}

export class FakeClassifier implements ApiClassifier {
  reloads = 0;
  explain(q: ExplainQuery): ExplainResult {
    if (q.host.endsWith('openai.com')) {
      return {
        verdict: { category: 'api', provider: 'openai', ruleId: 'openai-api', sanctioned: false },
        steps: [{ ruleId: 'openai-api', matched: true, reason: 'suffix openai.com' }],
      };
    }
    return { steps: [{ ruleId: 'openai-api', matched: false, reason: 'no suffix match' }] };
  }
  exportDocument(): Record<string, unknown> {
    return { version: 1, rules: [{ id: 'openai-api', hosts: ['*.openai.com'], category: 'api', provider: 'openai' }] };
  }
  reload(): { rules: number } {
    this.reloads++;
    return { rules: 1 };
  }
}
