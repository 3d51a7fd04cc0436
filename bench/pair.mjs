// What dissect + names cost, measured so that machine noise cancels: one process replays the
// capture at depth `flow` and at depth `full` alternately (flow, full, flow, … after one warm-up
// pass of each) and compares each full pass with the mean of the flow passes either side of it.
// On a shared VM whose speed drifts by ±30 % between runs, separate processes per depth can
// put a slow flow run next to a fast full run; adjacent passes in one process see the same
// machine. The passes are warm (JIT compiled), so this is the steady state of a running sensor;
// run.mjs also reports the cold, one-pass-per-process figures.
//   node bench/pair.mjs FILE [PAIRS=5]
// Prints one JSON line: { pairs, ratios, costPct: { median, min, max }, flowMpps, fullMpps }.
import { fileURLToPath } from 'node:url';
import { fullPath } from './full-path.mjs';
import { interleave, median } from './interleave.mjs';

const [file, pairsArg = '5'] = process.argv.slice(2);
const pairs = Math.max(1, Number(pairsArg));
const makeFull = await fullPath(fileURLToPath(new URL('../dist', import.meta.url)));
const { packets, runs } = await interleave(file, {
  full: () => {
    const { dissector, names } = makeFull();
    return { dissector, onFlow: (rec) => names.nameFlow(rec) };
  },
}, pairs);
const ratios = runs.full.map((x) => x.ms / x.flowMs);
// cost as a share of read+decode+flow throughput: 1 − full pps / flow pps = 1 − 1 / ratio
const cost = (r) => 100 * (1 - 1 / r);
console.log(JSON.stringify({
  pairs,
  ratios: ratios.map((r) => Number(r.toFixed(3))),
  costPct: { median: cost(median(ratios)), min: cost(Math.min(...ratios)), max: cost(Math.max(...ratios)) },
  flowMpps: packets / median(runs.full.map((x) => x.flowMs)) / 1e3,
  fullMpps: packets / median(runs.full.map((x) => x.ms)) / 1e3,
}));
