/**
 * A connection's tenant is resolved once, where its observation is formed, and carried: the
 * join, classify, detect and the store read it from the observation. The payload-entropy
 * opt-in is decided in one place (src/pipeline.ts) from the tenants of the loaded config, so a
 * reload (SIGHUP) switches it for flows that end after it; with it off no entropy value is in
 * a flow record, a stored row or an API item. Real data: the demo capture (pcaps/demo) with
 * its config, through the whole pipeline.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { presentObservation } from '../../src/api/present.js';
import { loadConfig, type SensorConfig } from '../../src/config.js';
import { Pipeline } from '../../src/pipeline.js';
import type { FlowRecord, Observation } from '../../src/records.js';
import { readCaptureFile } from '../../src/source/file.js';
import { Store } from '../../src/store/store.js';
import { TenantResolver } from '../../src/tenants/resolver.js';
import { DEMO_DIR } from '../helpers/demo-run.js';

const PCAP = join(DEMO_DIR, 'demo.pcap.gz');

function demoConfig(edit: (t: SensorConfig['tenants'][number]) => SensorConfig['tenants'][number] = (t) => t): SensorConfig {
  const cfg = loadConfig(join(DEMO_DIR, 'llmtap.yaml'));
  return { ...cfg, tenants: cfg.tenants.map(edit) };
}

interface Rig {
  p: Pipeline;
  store: Store;
  flows: FlowRecord[];
  obs: Observation[];
  replay(): Promise<void>;
}

function rig(cfg: SensorConfig): Rig {
  const store = Store.open(':memory:', { flushIntervalMs: 0 });
  const flows: FlowRecord[] = [];
  const obs: Observation[] = [];
  const p = new Pipeline(cfg, { store, onFlow: (r) => flows.push(r), onObservation: (o) => obs.push(o) });
  return {
    p, store, flows, obs,
    replay: async () => {
      flows.length = 0;
      obs.length = 0;
      await readCaptureFile(PCAP, (b) => p.onBatch(b));
      p.finish();
      store.flush();
    },
  };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the tenant: resolved once, carried on the observation', () => {
  it('one resolution per flow; every observation and stored row carries the tenant of its flow', async () => {
    const r = rig(demoConfig());
    const byAddress = vi.spyOn(TenantResolver.prototype, 'ofAddress');
    await r.replay();
    expect(r.flows.length).toBe(105);
    expect(byAddress).toHaveBeenCalledTimes(r.flows.length);
    byAddress.mockRestore();
    const check = new TenantResolver(demoConfig().tenants);
    const flowTenant = new Map(r.flows.map((f) => [f.flowId, check.ofFlow(f)]));
    expect(new Set(flowTenant.values())).toEqual(new Set(['demo', 'default']));
    expect(r.obs.length).toBe(r.flows.length);
    for (const o of r.obs) expect(o.tenant).toBe(flowTenant.get(o.flow!.flowId));
    const rows = r.store.listObservations('demo', { afterSeq: 0, limit: 1000 });
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBe(r.obs.filter((o) => o.tenant === 'demo' && o.verdict !== undefined).length);
    r.store.close();
  });

  it('a reload re-resolves flows that end after it (the range moved to another tenant)', async () => {
    const r = rig(demoConfig());
    await r.replay();
    const demoObs = r.obs.filter((o) => o.tenant === 'demo').length;
    expect(demoObs).toBeGreaterThan(0);
    expect(r.p.reload(demoConfig((t) => ({ ...t, id: 'lab', edr_tenant_ids: [] }))).ok).toBe(true);
    await r.replay();
    expect(r.obs.filter((o) => o.tenant === 'demo')).toEqual([]);
    expect(r.obs.filter((o) => o.tenant === 'lab').length).toBe(demoObs);
    expect(r.store.listObservations('lab', { afterSeq: 0, limit: 1000 }).length).toBeGreaterThan(0);
    r.store.close();
  });
});

describe('payload entropy: one opt-in, switched by a reload', () => {
  const entropy = (on: boolean): SensorConfig => demoConfig((t) => ({ ...t, payload_entropy: on }));
  /** Stored rows of every tenant with a payload_entropy value. */
  const rowsWithEntropy = (s: Store): number =>
    s.observationTenants().reduce((n, t) => n + s.listObservations(t, { afterSeq: 0, limit: 10_000 }).filter((o) => o.payloadEntropy !== undefined).length, 0);

  it('off → on → off: only flows that end while it is on keep an entropy; with it off none is in a record, a row or an API item', async () => {
    const r = rig(entropy(false));
    await r.replay();
    expect(r.flows.filter((f) => f.payloadEntropy !== undefined)).toEqual([]);
    expect(rowsWithEntropy(r.store)).toBe(0);

    expect(r.p.reload(entropy(true)).ok).toBe(true);
    await r.replay();
    const withE = r.flows.filter((f) => f.payloadEntropy !== undefined);
    // the demo tenant's TLS flows that sent application data after their hello (26 of 105 flows)
    expect(withE.length).toBe(26);
    for (const f of withE) {
      expect(f.origAddr.startsWith('10.77.0.') || f.origAddr.startsWith('fd77:')).toBe(true);
      expect(f.payloadEntropy).toBeGreaterThan(5);
      expect(f.payloadEntropy).toBeLessThanOrEqual(8);
    }
    const rows = r.store.listObservations('demo', { afterSeq: 0, limit: 1000 });
    expect(rows.filter((o) => o.payloadEntropy !== undefined).length).toBeGreaterThan(0);
    expect(rowsWithEntropy(r.store)).toBe(rows.filter((o) => o.payloadEntropy !== undefined).length);

    expect(r.p.reload(entropy(false)).ok).toBe(true);
    await r.replay();
    expect(r.flows.filter((f) => f.payloadEntropy !== undefined)).toEqual([]);
    expect(r.obs.filter((o) => o.flow?.payloadEntropy !== undefined)).toEqual([]);
    // the same connections again: their rows were rewritten without it
    expect(rowsWithEntropy(r.store)).toBe(0);
    for (const row of r.store.listObservations('demo', { afterSeq: 0, limit: 1000 })) {
      expect(row.payloadEntropy).toBeUndefined();
      expect(Object.keys(presentObservation(row)).filter((k) => k.includes('entropy'))).toEqual([]);
    }
    r.store.close();
  });

  it('on for one tenant only: flows of the others carry none', async () => {
    const cfg = loadConfig(join(DEMO_DIR, 'llmtap.yaml'));
    const r = rig({ ...cfg, tenants: [...cfg.tenants, { ...cfg.tenants[0]!, id: 'other', cidrs: ['10.77.0.101/32'], edr_tenant_ids: [], payload_entropy: true }] });
    await r.replay();
    const withE = r.flows.filter((f) => f.payloadEntropy !== undefined);
    expect(withE.length).toBeGreaterThan(0);
    expect(new Set(withE.map((f) => f.origAddr))).toEqual(new Set(['10.77.0.101']));
    expect(rowsWithEntropy(r.store)).toBe(r.store.listObservations('other', { afterSeq: 0, limit: 1000 }).filter((o) => o.payloadEntropy !== undefined).length);
    expect(r.store.listObservations('demo', { afterSeq: 0, limit: 1000 }).filter((o) => o.payloadEntropy !== undefined)).toEqual([]);
    r.store.close();
  });
});
