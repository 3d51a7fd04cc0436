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
const { Dissector, defaultDissectOptions } = await imp('dissect/index.js');
const { PassiveDns } = await imp('names/passive-dns.js');
const { configFromObject } = await imp('config.js');
const nc = configFromObject({}).names;
const names = new PassiveDns({ maxEntries: nc.max_entries, ttlFloorS: nc.ttl_floor_s, ttlCapS: nc.ttl_cap_s });
const d = new Dissector(defaultDissectOptions, { onDns: (a) => names.addAnswer(a) });
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
