// A/B of two builds at one depth, runs interleaved so both see the same machine load.
//   node bench/ab.mjs DEPTH RUNS FILE ROOT_A ROOT_B
// Each ROOT holds bench/depth.mjs and dist/. Prints median CPU and wall seconds of each.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const [depth, runsArg, file, ...roots] = process.argv.slice(2);
const runs = Number(runsArg);
const res = roots.map(() => ({ cpu: [], wall: [] }));
for (let i = 0; i < runs; i++) {
  roots.forEach((root, k) => {
    const r = spawnSync(process.execPath, [join(root, 'bench', 'depth.mjs'), file, depth], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.status !== 0) { console.error(r.stderr); process.exit(1); }
    const j = JSON.parse(r.stdout.trim().split('\n').pop());
    res[k].cpu.push(j.cpuSeconds);
    res[k].wall.push(j.seconds);
  });
}
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
roots.forEach((root, k) => {
  const c = med(res[k].cpu), w = med(res[k].wall);
  console.log(`${depth} ${root}: cpu ${c.toFixed(3)} s, wall ${w.toFixed(3)} s (${(1777905 / w / 1e6).toFixed(2)} Mpps wall, ${(1777905 / c / 1e6).toFixed(2)} Mpps cpu)  cpu runs ${res[k].cpu.map((x) => x.toFixed(2)).join(' ')}`);
});
