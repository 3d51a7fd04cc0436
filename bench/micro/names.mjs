// The names stage alone on recorded input (bench/micro/names-record.mjs): CPU time of
// addAnswer + nameFlow in capture order, median of 5 passes, each on a fresh PassiveDns.
//   node bench/micro/names.mjs EVENTS.ndjson [DIST_ROOT=dist]
// Notes: in the pipeline the stage costs more than here (~1.5×: colder code and caches, in a
// 1-second run); a flat vs concatenated address string as key made no difference; a plain Map
// instead of the LRU made no difference at full depth (lru-cache's get is ~90 ns vs ~80 ns);
// FlowRecords made by a class with names' fields present from creation (one shape, no property
// store growth): no gain at full or pipeline depth (0.905 vs 0.911 s, 1.156 vs 1.149 s).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [file, root = 'dist'] = process.argv.slice(2);
const { PassiveDns } = await import(pathToFileURL(resolve(root, 'names/passive-dns.js')).href);
// the product's names.* defaults, read through the config of the build under test (ROOT may be an older build)
const { configFromObject } = await import(pathToFileURL(resolve(root, 'config.js')).href);
const n = configFromObject({}).names;
const lines = readFileSync(file, 'utf8').trim().split('\n');
const times = [];
let check = '';
for (let pass = 0; pass < 5; pass++) {
  // fresh records each pass: nameFlow writes into them
  const evs = lines.map((l) => JSON.parse(l));
  const t0 = process.cpuUsage();
  const p = new PassiveDns({ maxEntries: n.max_entries, ttlFloorS: n.ttl_floor_s, ttlCapS: n.ttl_cap_s });
  for (const e of evs) {
    if (e.a !== undefined) p.addAnswer(e.a);
    else p.nameFlow(e.f);
  }
  const t = process.cpuUsage(t0);
  times.push((t.user + t.system) / 1000);
  let named = 0;
  for (const e of evs) if (e.f?.host !== undefined) named++;
  check = JSON.stringify({ named, ...p.stats() });
}
times.sort((a, b) => a - b);
console.log(`median ${times[2].toFixed(1)} ms cpu (${times.map((x) => x.toFixed(0)).join(' ')})`);
console.log(check);
