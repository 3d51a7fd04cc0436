/**
 * `metricSources` (src/sensor/api.ts) reads each stage's own counter names: the exposition text
 * of a pipeline that replayed real captures and EDR records must carry the stages' numbers.
 * Runs without Prometheus (metrics-replay.test.ts does the same through a real scrape).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEdrFile } from '../../src/attribute/ingest.js';
import { metricSources } from '../../src/sensor/api.js';
import { configFromObject } from '../../src/config.js';
import { MALFORMED } from '../../src/decode/reasons.js';
import { isFamily } from '../../src/counters.js';
import { createMetrics } from '../../src/metrics.js';
import { STAGE_COUNTERS } from '../../src/sensor/counters.js';
import { Pipeline } from '../../src/pipeline.js';
import type { SourceStats } from '../../src/records.js';
import { readCaptureFile } from '../../src/source/file.js';
import { Store } from '../../src/store/store.js';
import { corpusDir } from '../helpers/corpus.js';
import { series } from '../helpers/exposition.js';
import { edrSamplesDir } from '../helpers/edr-needles.js';

const corpus = corpusDir();
const samples = edrSamplesDir();

/** The counter names a family declaration stands for: `records.<format>` → /^records\..+$/. */
function familyPattern(family: string): RegExp {
  return new RegExp(`^${family.replace(/[.]/g, '\\.').replace(/<[a-z_]+>/g, '.+')}$`);
}

describe.skipIf(corpus === undefined || samples === undefined)('metricSources over a replayed pipeline', () => {
  let tmp: string;
  let store: Store;
  let p: Pipeline;
  const fileReasons: Record<string, number> = {};

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'llmtap-msrc-'));
    store = Store.open(join(tmp, 'llmtap.db'), { flushIntervalMs: 0 });
    p = new Pipeline(configFromObject({}), { store });
    const sysmon = join(samples ?? '', 'sysmon-nxlog-json', 'sharpwmi-sysmon-1-3-22-wfp-5156.jsonl');
    const edr = await readEdrFile(sysmon, { tenant: 'default', lineageKey: 'k' }, (r) => p.addEdr(r));
    p.noteIngest(edr.rejected);
    for (const f of [join(samples ?? '', 'paired-network', 'sharpwmi.cap'), join(corpus ?? '', 'pcaps', 'ndpi-tls-invalid-reads.pcap'), join(corpus ?? '', 'pcaps', 'arkime-curl-tls13.pcap')]) {
      const r = await readCaptureFile(f, (b) => p.onBatch(b));
      for (const [k, n] of Object.entries(r.reasons)) fileReasons[k] = (fileReasons[k] ?? 0) + n;
    }
    p.finish();
  });
  afterAll(() => {
    store?.close();
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  });

  const fileSource = (): SourceStats => ({ packets: p.packets.packets, wireBytes: p.packets.wireBytes, capBytes: 0, fileBytes: 0, truncatedRecords: 0 });

  it('decode errors, join, EDR, DNS and dissect series carry the stages\' counters', async () => {
    const m = series(await createMetrics(metricSources(p, fileSource), { defaultMetrics: false }).registry.metrics());
    const st = p.stats();

    const decode = [...m].filter(([k]) => k.startsWith('llmtap_decode_errors_total{'));
    const malformed = Object.entries(p.packets.decodeStats()).filter(([k]) => MALFORMED.has(k));
    expect(malformed.length).toBeGreaterThan(0);
    expect(decode.map(([k, v]) => [k, v]).sort()).toEqual(malformed.map(([k, v]) => [`llmtap_decode_errors_total{reason="${k}"}`, v]).sort());

    expect(st['join.hit'] ?? 0).toBeGreaterThan(0);
    expect(m.get('llmtap_attribute_joined_flows_total')).toBe(st['join.hit']);
    expect(m.get('llmtap_attribute_flows_total')).toBe(p.counters.flows);
    expect(m.get('llmtap_edr_records_total{format="sysmon",outcome="accepted"}')).toBe(st['records.sysmon']);
    expect(m.get('llmtap_edr_records_total{format="wfp",outcome="accepted"}')).toBe(st['records.wfp']);
    // refused records count under the format their reason is declared for
    const rejected = p.counters.edrRejected;
    const sysmonRejected = Object.entries(rejected).filter(([k]) => k.startsWith('sysmon.')).reduce((a, [, v]) => a + v, 0);
    expect(sysmonRejected).toBeGreaterThan(0);
    expect(m.get('llmtap_edr_records_total{format="sysmon",outcome="rejected"}')).toBe(sysmonRejected);

    expect(m.get('llmtap_dissect_handshakes_total{transport="tls"}')).toBe(st['tls.hello_parsed']);
    // sharpwmi is HTTP/SMB: its flows are "not TLS", which is not a handshake failure.
    expect(st['tls.not_tls'] ?? 0).toBeGreaterThan(0);
    expect([...m.keys()].filter((k) => k.startsWith('llmtap_dissect_failures_total{reason="tls.not_tls"'))).toEqual([]);

    const pdns = (st['names.entries_client'] ?? 0) + (st['names.entries_addr'] ?? 0);
    expect(pdns).toBeGreaterThan(0);
    expect(m.get('llmtap_names_passive_dns_entries')).toBe(pdns);
    expect(m.get('llmtap_pipeline_lag_seconds')).toBe(0);
  });

  it('every counter a stage reports is declared (src/sensor/counters.ts lists the declarations)', () => {
    const reported: Record<string, Record<string, number>> = {
      source: fileReasons,
      flow: { 'flow.fragment_orphan': p.packets.flows.fragmentsOrphaned },
      flow_end: { ...p.packets.flows.ended },
      decode: p.packets.decodeStats(),
      dissect: p.dissector.stats(),
      names: p.names.stats(),
      attribute: p.attributor.stats(),
      classify: p.classifier.stats(),
      detect: p.detector.stats(),
      pipeline: p.pipelineStats(),
    };
    const undeclared: string[] = [];
    for (const { stage, decls } of STAGE_COUNTERS) {
      if (stage === 'ingest' || stage === 'edr') continue; // one result holds both; checked below
      if (stage === 'logs') continue; // sensor logs are not part of a capture replay; countBad takes declared reasons only
      const values = reported[stage];
      expect(values, stage).toBeDefined();
      expect(Object.keys(values ?? {}).length, stage).toBeGreaterThan(0);
      const families = Object.keys(decls).filter(isFamily).map(familyPattern);
      for (const k of Object.keys(values ?? {})) if (decls[k] === undefined && !families.some((re) => re.test(k))) undeclared.push(`${stage}: ${k}`);
    }
    const reasons = { ...(STAGE_COUNTERS.find((x) => x.stage === 'ingest')?.decls ?? {}), ...(STAGE_COUNTERS.find((x) => x.stage === 'edr')?.decls ?? {}) };
    expect(Object.keys(p.counters.edrRejected).length).toBeGreaterThan(0);
    for (const k of Object.keys(p.counters.edrRejected)) if (reasons[k] === undefined) undeclared.push(`EDR input: ${k}`);
    expect(undeclared).toEqual([]);
    // the replay's `--format json` stats: every key is a declared counter
    const all = STAGE_COUNTERS.flatMap((x) => Object.keys(x.decls));
    const patterns = all.filter(isFamily).map(familyPattern);
    const plain = new Set(all.filter((n) => !isFamily(n)));
    expect(Object.keys(p.stats()).filter((k) => !plain.has(k) && !patterns.some((re) => re.test(k)))).toEqual([]);
    // the families were counted here too (the check above read them)
    expect(Object.keys(reported['attribute'] ?? {}).filter((k) => /^records\.(sysmon|wfp)$/.test(k)).sort()).toEqual(['records.sysmon', 'records.wfp']);
  });

  it('pipeline lag is wall clock minus the newest packet time for a live source only', async () => {
    const live = (): SourceStats => ({ ...fileSource(), kernelReceived: p.packets.packets, kernelDropped: 0, ifDropped: 0 });
    const m = series(await createMetrics(metricSources(p, live), { defaultMetrics: false }).registry.metrics());
    const expected = Date.now() / 1000 - p.packets.nowUs / 1e6;
    expect(expected).toBeGreaterThan(86400); // the captures are years old
    expect(Math.abs((m.get('llmtap_pipeline_lag_seconds') ?? 0) - expected)).toBeLessThan(60);
  });
});
