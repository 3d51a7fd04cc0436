/**
 * The stages the pipeline runs fail-open (attribute, classify, detect) are counted when they
 * throw, and the counts reach the Prometheus series, the `--format json` stats and (through the
 * declarations) docs/metrics.md. Faults are planted in a real pipeline replaying a real capture.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configFromObject } from '../../src/config.js';
import { createMetrics } from '../../src/metrics.js';
import { Pipeline } from '../../src/pipeline.js';
import type { SourceStats } from '../../src/records.js';
import { metricSources } from '../../src/sensor/api.js';
import { readCaptureFile } from '../../src/source/file.js';
import { Store } from '../../src/store/store.js';
import { corpusDir } from '../helpers/corpus.js';
import { series } from '../helpers/exposition.js';

const corpus = corpusDir();
const CAPTURE = join(corpus ?? '', 'pcaps', 'ndpi-sites.pcapng');

describe.skipIf(corpus === undefined)('stage exceptions the pipeline survives are counted and exported', () => {
  let tmp: string;
  let store: Store;
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'llmtap-stage-err-'));
    store = Store.open(join(tmp, 'llmtap.db'), { flushIntervalMs: 0 });
  });
  afterEach(() => {
    store.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  /** Replays the capture through `p` and scrapes the public metrics. */
  async function replay(p: Pipeline): Promise<Map<string, number>> {
    await readCaptureFile(CAPTURE, (b) => p.onBatch(b));
    p.finish();
    const source = (): SourceStats => ({ packets: p.packets.packets, wireBytes: p.packets.wireBytes, capBytes: 0, fileBytes: 0, truncatedRecords: 0 });
    return series(await createMetrics(metricSources(p, source), { defaultMetrics: false }).publicRegistry.metrics());
  }

  const ERR = (stage: string): string => `llmtap_pipeline_stage_errors_total{stage="${stage}"}`;

  it('nothing planted: the three series exist at 0', async () => {
    const p = new Pipeline(configFromObject({}), { store });
    const m = await replay(p);
    expect(p.counters.observations).toBeGreaterThan(10);
    expect([m.get(ERR('attribute')), m.get(ERR('classify')), m.get(ERR('detect'))]).toEqual([0, 0, 0]);
    const st = p.stats();
    expect([st['pipeline.attribute_error'], st['pipeline.classify_error'], st['pipeline.detect_error']]).toEqual([0, 0, 0]);
  });

  it('a throwing classifier and detector: every observation counted once per stage, and still seen', async () => {
    let seen = 0;
    const p = new Pipeline(configFromObject({}), { store, onObservation: () => seen++ });
    p.classifier.classify = () => {
      throw new Error('planted classify fault');
    };
    p.detector.onObservation = () => {
      throw new Error('planted detect fault');
    };
    const m = await replay(p);
    expect(seen).toBeGreaterThan(10);
    // fail-open: the observations went on (unclassified) past both faults
    expect(p.counters.aiObservations).toBe(0);
    expect(m.get(ERR('classify'))).toBe(seen);
    expect(m.get(ERR('detect'))).toBe(seen);
    expect(m.get(ERR('attribute'))).toBe(0);
    const st = p.stats();
    expect(st['pipeline.classify_error']).toBe(seen);
    expect(st['pipeline.detect_error']).toBe(seen);
  });

  it('a join that throws on every other flow: those flows counted, the rest observed', async () => {
    const p = new Pipeline(configFromObject({}), { store });
    const addFlow = p.attributor.addFlow.bind(p.attributor);
    let offered = 0;
    p.attributor.addFlow = (...args) => {
      if (offered++ % 2 === 0) throw new Error('planted join fault');
      addFlow(...args);
    };
    const m = await replay(p);
    expect(offered).toBe(p.counters.flows);
    expect(offered).toBeGreaterThan(20);
    const failed = Math.ceil(offered / 2);
    expect(m.get(ERR('attribute'))).toBe(failed);
    expect(p.stats()['pipeline.attribute_error']).toBe(failed);
    // one observation per flow that reached the join (UDP and TCP alike)
    expect(p.counters.observations).toBe(offered - failed);
    expect(m.get(ERR('classify'))).toBe(0);
  });
});
