// The dissect + passive-DNS stages of the full path, set up as the sensor's default config does,
// for the benchmarks that replay at that depth (depth.mjs, pair.mjs, records-digest.mjs).
//   const make = await fullPath(DIST_DIR);  const { dissector, names } = make(onDns?);
// `names` receives every DNS answer (after `onDns`, when given); callers name each flow record
// with `names.nameFlow(rec)`.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export async function fullPath(distDir) {
  const imp = (p) => import(pathToFileURL(resolve(distDir, p)).href);
  const { Dissector, defaultDissectOptions } = await imp('dissect/index.js');
  const { PassiveDns } = await imp('names/passive-dns.js');
  const { configFromObject } = await imp('config.js');
  const n = configFromObject({}).names;
  return (onDns) => {
    const names = new PassiveDns({ maxEntries: n.max_entries, ttlFloorS: n.ttl_floor_s, ttlCapS: n.ttl_cap_s });
    const dissector = new Dissector(defaultDissectOptions, {
      onDns: onDns === undefined ? (a) => names.addAnswer(a) : (a) => { onDns(a); names.addAnswer(a); },
    });
    return { dissector, names };
  };
}
