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
import { replayFile } from '../dist/pipeline.js';
import { fileURLToPath } from 'node:url';
import { fullPath } from './full-path.mjs';

const [file, roundsArg = '3'] = process.argv.slice(2);
const rounds = Math.max(1, Number(roundsArg));
const makeFull = await fullPath(fileURLToPath(new URL('../dist', import.meta.url)));

const isDnsPort = (p) => p === 53 || p === 5353 || p === 5355;
const isDns = (m) => (m.proto === 6 ? m.respPort === 53 || m.origPort === 53 : isDnsPort(m.respPort) || isDnsPort(m.origPort));
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
const parts = {
  tls: only((m) => m.proto === 6 && !isDns(m)),
  dns: only(isDns),
  quic: only((m) => m.proto === 17 && !isDns(m)),
  dissect: () => ({ dissector: makeFull().dissector }),
  full: () => {
    const { dissector, names } = makeFull();
    return { dissector, onFlow: (rec) => names.nameFlow(rec) };
  },
};

async function pass(make) {
  const opts = make === undefined ? {} : make();
  const t0 = process.hrtime.bigint();
  await replayFile(file, opts);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

// warm-up: one pass of each
await pass(undefined);
for (const make of Object.values(parts)) await pass(make);
const extra = Object.fromEntries(Object.keys(parts).map((k) => [k, []]));
const ratio = Object.fromEntries(Object.keys(parts).map((k) => [k, []]));
const flows = [];
let before = await pass(undefined);
for (let r = 0; r < rounds; r++) {
  for (const [k, make] of Object.entries(parts)) {
    const t = await pass(make);
    const after = await pass(undefined);
    const flow = (before + after) / 2;
    extra[k].push(t - flow);
    ratio[k].push(t / flow);
    flows.push(flow);
    before = after;
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const out = { rounds, flowMs: Math.round(median(flows)), parts: {} };
for (const k of Object.keys(parts)) {
  out.parts[k] = { ms: Math.round(median(extra[k])), costPct: Number((100 * (1 - 1 / median(ratio[k]))).toFixed(1)) };
}
console.log(JSON.stringify(out));
