// Behaviour guard for performance work: SHA-256 over every named flow record (JSON, in emit
// order) plus the dissect and names counters, for one build on one capture. Two builds that
// should behave the same must print the same digest.
//   node bench/records-digest.mjs CAPTURE [BUILD_ROOT=.]   (BUILD_ROOT holds dist/)
// With --workers N: the whole pipeline (default config) with N packet workers (1: in process),
// and a digest that does not depend on the order of the records — sorted records plus the
// decode, flow, dissect and names counters — so runs with different worker counts compare:
//   node bench/records-digest.mjs CAPTURE . --workers 2
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const wi = args.indexOf('--workers');
const workers = wi >= 0 ? Number(args[wi + 1]) : undefined;
if (wi >= 0) args.splice(wi, 2);
const [file, root = '.'] = args;
const imp = (p) => import(pathToFileURL(resolve(root, 'dist', p)).href);
const h = createHash('sha256');

if (workers === undefined) {
  const { replayFile } = await imp('pipeline.js');
  const { fullPath } = await import('./full-path.mjs');
  const { dissector: d, names } = (await fullPath(resolve(root, 'dist')))();
  let n = 0;
  await replayFile(file, {
    dissector: d,
    onFlow: (r) => {
      names.nameFlow(r);
      h.update(`${JSON.stringify(r)}\n`);
      n++;
    },
  });
  h.update(JSON.stringify(names.stats()) + JSON.stringify(d.stats()));
  console.log(`${n} flows ${h.digest('hex')}`);
} else {
  const { Pipeline } = await imp('pipeline.js');
  const { configFromObject } = await imp('config.js');
  const { Store } = await imp('store/store.js');
  const { readCaptureFile } = await imp('source/file.js');
  const { ShardedReplay } = await imp('workers/replay.js');
  const dir = mkdtempSync(join(tmpdir(), 'llmtap-digest-'));
  const cfg = configFromObject({});
  const store = Store.open(join(dir, 'digest.db'));
  const lines = [];
  const pipeline = new Pipeline(cfg, { store, onFlow: (r) => lines.push(JSON.stringify(r)) });
  const t0 = process.hrtime.bigint();
  if (workers === 1) await readCaptureFile(file, (b) => pipeline.onBatch(b));
  else await new ShardedReplay(pipeline, cfg, { workers }).run([file]);
  pipeline.finish();
  const s = (Number(process.hrtime.bigint() - t0) / 1e9).toFixed(2);
  store.close();
  rmSync(dir, { recursive: true, force: true });
  lines.sort();
  for (const l of lines) h.update(`${l}\n`);
  const counters = Object.entries(pipeline.stats()).filter(([k]) => /^(decode|flow|dissect|names)\./.test(k)).sort(([a], [b]) => (a < b ? -1 : 1));
  h.update(JSON.stringify(counters));
  console.log(`${lines.length} flows sorted ${h.digest('hex')} (workers ${workers}, ${s} s)`);
}
