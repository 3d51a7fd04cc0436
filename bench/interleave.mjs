// Passes of other depths interleaved with read+decode+flow passes in one process, so that a
// shared VM's drift (±30 % between runs here) cancels: after one warm-up pass of each, every
// measured pass runs between two flow passes and is compared with their mean.
//   const { packets, runs } = await interleave(FILE, { name: () => replayOptions, … }, ROUNDS);
//   runs[name] = [{ ms, flowMs }, …]   (flowMs: the mean of the two neighbouring flow passes)
// Used by pair.mjs (the whole of dissect + names) and parts.mjs (each part alone).
import { replayFile } from '../dist/pipeline.js';

export async function interleave(file, makers, rounds) {
  let packets = 0;
  const pass = async (make) => {
    const opts = make === undefined ? {} : make();
    const t0 = process.hrtime.bigint();
    const { read } = await replayFile(file, opts);
    packets = read.stats.packets;
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  await pass(undefined);
  for (const make of Object.values(makers)) await pass(make);
  const runs = Object.fromEntries(Object.keys(makers).map((k) => [k, []]));
  let before = await pass(undefined);
  for (let r = 0; r < rounds; r++) {
    for (const [k, make] of Object.entries(makers)) {
      const ms = await pass(make);
      const after = await pass(undefined);
      runs[k].push({ ms, flowMs: (before + after) / 2 });
      before = after;
    }
  }
  return { packets, runs };
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
