// What each part of dissect + names costs inside the pipeline, measured so that machine noise
// cancels (as pair.mjs does for the whole): one process replays the capture with only one part
// switched on at a time, each such pass between two read+decode+flow passes, and reports the
// extra time of the part against the mean of its two neighbours.
//   node bench/parts.mjs FILE [ROUNDS=3]
// Parts (the router's own split, src/dissect/index.ts):
//   tls      TCP flows not on port 53 (ClientHello by content, JA4); other flows bypassed
//   dns      DNS flows (TCP 53, UDP 53/5353/5355) and passive DNS taking their answers
//   quic     other UDP flows (QUIC Initial keys, decryption, CRYPTO reassembly, hello)
//   dissect  all three together, flows not named
//   full     dissect + naming every flow record (the depth `full` of depth.mjs)
// A part alone costs less than its share of `full`: alone, it has the CPU caches to itself.
// Prints one JSON line: { rounds, flowMs, parts: { <part>: { ms, costPct } } } with medians;
// costPct is the part's share as pair.mjs defines it (1 − its pps / flow pps).
import { fileURLToPath } from 'node:url';
import { isDnsFlow } from '../dist/dissect/index.js';
import { fullPath } from './full-path.mjs';
import { interleave, median } from './interleave.mjs';

const [file, roundsArg = '3'] = process.argv.slice(2);
const rounds = Math.max(1, Number(roundsArg));
const makeFull = await fullPath(fileURLToPath(new URL('../dist', import.meta.url)));

/** The whole dissector, handed only the flows `pred` picks; the others are bypassed. */
const only = (pred) => () => {
  const { dissector: d } = makeFull();
  return {
    dissector: {
      onPacket(v, m) {
        if (pred(m)) d.onPacket(v, m);
        else m.inspect = false;
      },
      onFlowEnd: (m) => d.onFlowEnd(m),
      stats: () => d.stats(),
    },
  };
};
const { runs } = await interleave(file, {
  tls: only((m) => m.proto === 6 && !isDnsFlow(m)),
  dns: only(isDnsFlow),
  quic: only((m) => m.proto === 17 && !isDnsFlow(m)),
  dissect: () => ({ dissector: makeFull().dissector }),
  full: () => {
    const { dissector, names } = makeFull();
    return { dissector, onFlow: (rec) => names.nameFlow(rec) };
  },
}, rounds);
const out = { rounds, flowMs: Math.round(median(Object.values(runs).flat().map((x) => x.flowMs))), parts: {} };
for (const [k, xs] of Object.entries(runs)) {
  const ratio = median(xs.map((x) => x.ms / x.flowMs));
  out.parts[k] = { ms: Math.round(median(xs.map((x) => x.ms - x.flowMs))), costPct: Number((100 * (1 - 1 / ratio)).toFixed(1)) };
}
console.log(JSON.stringify(out));
