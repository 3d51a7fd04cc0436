// Behaviour guard for performance work: SHA-256 over every named flow record (JSON, in emit
// order) plus the dissect and names counters, for one build on one capture. Two builds that
// should behave the same must print the same digest.
//   node bench/records-digest.mjs CAPTURE [BUILD_ROOT=.]   (BUILD_ROOT holds dist/)
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [file, root = '.'] = process.argv.slice(2);
const imp = (p) => import(pathToFileURL(resolve(root, 'dist', p)).href);
const { replayFile } = await imp('pipeline.js');
const { fullPath } = await import('./full-path.mjs');
const { dissector: d, names } = (await fullPath(resolve(root, 'dist')))();
const h = createHash('sha256');
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
