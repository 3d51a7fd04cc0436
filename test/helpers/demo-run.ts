/**
 * Replays the demo scenario (pcaps/demo, README quick start: capture + llmtap NDJSON feed,
 * demo config) through the whole pipeline into a fresh store, in process.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readEdrFile } from '../../src/attribute/ingest.js';
import { applyConfigAllowlist } from '../../src/sensor/allowlist.js';
import { loadConfig, type SensorConfig } from '../../src/config.js';
import { Pipeline } from '../../src/pipeline.js';
import { readCaptureFile } from '../../src/source/file.js';
import { Store } from '../../src/store/store.js';
import { repoRoot } from './corpus.js';

export const DEMO_DIR = join(repoRoot, 'pcaps', 'demo');

export interface DemoRun {
  cfg: SensorConfig;
  store: Store;
  pipeline: Pipeline;
  dbPath: string;
}

export async function replayDemo(opts: { dbPath?: string; beforeFinish?: (p: Pipeline) => void } = {}): Promise<DemoRun> {
  const cfg = loadConfig(join(DEMO_DIR, 'llmtap.yaml'));
  const dbPath = opts.dbPath ?? join(mkdtempSync(join(tmpdir(), 'llmtap-demo-')), 'demo.db');
  const store = Store.open(dbPath);
  applyConfigAllowlist(cfg, store);
  const pipeline = new Pipeline(cfg, { store });
  await readEdrFile(join(DEMO_DIR, 'edr', 'llmtap.ndjson'), { tenant: 'demo', lineageKey: cfg.attribute.lineage_key }, (r) => pipeline.addEdr(r));
  await readCaptureFile(join(DEMO_DIR, 'demo.pcap.gz'), (b) => pipeline.onBatch(b));
  pipeline.finish();
  store.flush();
  return { cfg, store, pipeline, dbPath };
}
