// What dissect + names cost, measured so that machine noise cancels: one process replays the
// capture at depth `flow` and at depth `full` alternately (flow, full, flow, … after one warm-up
// pass of each) and compares each full pass with the mean of the flow passes either side of it.
// On a shared VM whose speed drifts by ±30 % between runs, separate processes per depth can
// put a slow flow run next to a fast full run; adjacent passes in one process see the same
// machine. The passes are warm (JIT compiled), so this is the steady state of a running sensor;
// run.mjs also reports the cold, one-pass-per-process figures.
//   node bench/pair.mjs FILE [PAIRS=5]
// Prints one JSON line: { pairs, ratios, costPct: { median, min, max }, flowMpps, fullMpps }.
import { replayFile } from '../dist/pipeline.js';
import { fileURLToPath } from 'node:url';
import { fullPath } from './full-path.mjs';

const [file, pairsArg = '5'] = process.argv.slice(2);
const pairs = Math.max(1, Number(pairsArg));
const makeFull = await fullPath(fileURLToPath(new URL('../dist', import.meta.url)));
let packets = 0;

async function pass(full) {
  const { dissector, names } = full ? makeFull() : {};
  const t0 = process.hrtime.bigint();
  const { read } = await replayFile(file, { dissector, onFlow: (rec) => names?.nameFlow(rec) });
  packets = read.stats.packets;
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

await pass(false);
await pass(true);
const ratios = [];
const flows = [];
const fulls = [];
let before = await pass(false);
for (let i = 0; i < pairs; i++) {
  const full = await pass(true);
  const after = await pass(false);
  const flow = (before + after) / 2;
  ratios.push(full / flow);
  flows.push(flow);
  fulls.push(full);
  before = after;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// cost as a share of read+decode+flow throughput: 1 − full pps / flow pps = 1 − 1 / ratio
const cost = (r) => 100 * (1 - 1 / r);
console.log(JSON.stringify({
  pairs,
  ratios: ratios.map((r) => Number(r.toFixed(3))),
  costPct: { median: cost(median(ratios)), min: cost(Math.min(...ratios)), max: cost(Math.max(...ratios)) },
  flowMpps: packets / median(flows) / 1e6,
  fullMpps: packets / median(fulls) / 1e6,
}));
