/**
 * The pipeline defers each IPv4 flow's Community ID (flow table) and each flow observation's id
 * (join) to where a record or observation is kept or leaves: what leaves must be exactly what
 * an eager computation gives. The demo scenario (capture + EDR feed, alerts) through the whole
 * pipeline: every record given out, every observation given out, every stored observation and
 * every alert's evidence carries the Community ID computed from the flow's own 5-tuple and the
 * id derived from it.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readEdrFile } from '../../src/attribute/ingest.js';
import { base36 } from '../../src/attribute/join.js';
import { loadConfig } from '../../src/config.js';
import { parseAddr } from '../../src/decode/addr.js';
import { communityId } from '../../src/flow/community-id.js';
import { Pipeline } from '../../src/pipeline.js';
import type { FlowRecord, Observation } from '../../src/records.js';
import { applyConfigAllowlist } from '../../src/sensor/allowlist.js';
import { readCaptureFile } from '../../src/source/file.js';
import { Store } from '../../src/store/store.js';
import { DEMO_DIR } from '../helpers/demo-run.js';

/** The Community ID from the record's 5-tuple, by the byte form (independent of the table's words). */
function cidOf(f: FlowRecord): string {
  return communityId(f.proto, parseAddr(f.origAddr)!, f.origPort, parseAddr(f.respAddr)!, f.respPort);
}
const obsIdOf = (f: FlowRecord): string => `f${base36(Math.round(f.firstTsUs))}${f.vlan.length > 0 ? `.${f.vlan.join('.')}` : ''}.${cidOf(f).slice(2)}`;

async function run(hooks: boolean): Promise<{ flows: FlowRecord[]; obs: Observation[]; store: Store }> {
  const cfg = loadConfig(join(DEMO_DIR, 'llmtap.yaml'));
  const store = Store.open(join(mkdtempSync(join(tmpdir(), 'llmtap-ids-')), 'demo.db'));
  applyConfigAllowlist(cfg, store);
  const flows: FlowRecord[] = [];
  const obs: Observation[] = [];
  const pipeline = new Pipeline(cfg, hooks ? { store, onFlow: (r) => flows.push(r), onObservation: (o) => obs.push(o) } : { store });
  await readEdrFile(join(DEMO_DIR, 'edr', 'llmtap.ndjson'), { tenant: 'demo', lineageKey: cfg.attribute.lineage_key }, (r) => pipeline.addEdr(r));
  await readCaptureFile(join(DEMO_DIR, 'demo.pcap.gz'), (b) => pipeline.onBatch(b));
  pipeline.finish();
  store.flush();
  return { flows, obs, store };
}

describe('ids deferred by the pipeline are complete wherever they leave', () => {
  it('records and observations given out, stored observations and alert evidence', async () => {
    const hooked = await run(true);
    const plain = await run(false);
    // the demo: IPv4 and IPv6 TCP/UDP flows, ICMPv6 (IPv6: never deferred; one-way ICMP is the table's test)
    expect(new Set(hooked.flows.map((f) => f.proto))).toEqual(new Set([6, 17, 58]));
    expect(hooked.flows.some((f) => f.origAddr.includes('.'))).toBe(true);
    const tcpUdp = hooked.flows.filter((f) => f.proto !== 58);
    expect(tcpUdp.map((f) => f.communityId)).toEqual(tcpUdp.map(cidOf));
    expect(hooked.flows.every((f) => /^1:[A-Za-z0-9+/]{27}=$/.test(f.communityId))).toBe(true);
    const flowObs = hooked.obs.filter((o) => o.kind === 'flow');
    expect(flowObs.length).toBeGreaterThan(0);
    expect(flowObs.map((o) => [o.obsId, o.flow?.communityId])).toEqual(flowObs.map((o) => [obsIdOf(o.flow!), cidOf(o.flow!)]));
    // the store holds the same (AI) observations and alerts with or without the hooks
    for (const r of [hooked, plain]) {
      const rows = r.store.listObservations('demo', { afterSeq: 0, limit: 10_000 });
      // AI observations (a verdict, on the first emission or on an update), flow and edr-only
      const ai = hooked.obs.filter((o) => o.verdict !== undefined);
      expect(rows.length).toBe(new Set(ai.map((o) => o.obsId)).size);
      const byId = new Map(ai.map((o) => [o.obsId, o.flow === undefined ? null : cidOf(o.flow)]));
      // IPv4 ones among them (the deferred kind)
      expect(ai.some((o) => o.flow?.origAddr.includes('.') === true)).toBe(true);
      for (const row of rows) expect(row.communityId ?? null).toBe(byId.get(row.obsId));
      const alerts = r.store.listAlertChanges('demo', { afterSeq: 0, limit: 1000 });
      expect(alerts.length).toBeGreaterThan(0);
      const cids = alerts.flatMap((a) => a.evidence.communityIds);
      expect(cids.length).toBeGreaterThan(0);
      expect(cids.every((c) => [...byId.values()].includes(c))).toBe(true);
      expect(alerts.flatMap((a) => a.evidence.obsIds).every((id) => byId.has(id))).toBe(true);
    }
    const alertsOf = (s: Store) => JSON.stringify(s.listAlertChanges('demo', { afterSeq: 0, limit: 1000 }).map((a) => [a.id, a.evidence]));
    expect(alertsOf(plain.store)).toBe(alertsOf(hooked.store));
    hooked.store.close();
    plain.store.close();
  }, 60_000);
});
