// A split ClientHello's reassembly as the TLS state does it (first part held, second part
// appended, the hello consumed, the assembler freed), 20 × the 11,654 split hellos of the
// 1 GiB capture: CPU time, median of 7.
//   node bench/micro/reassembly.mjs [DIST_ROOT=dist]
// Measured: ~1.3 µs per split hello (~15 ms for the capture's 11.6k), so a buffer pool for
// the assembler (tried: no difference at full depth) has little to win here.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = process.argv[2] ?? 'dist';
const { SegmentAssembler } = await import(pathToFileURL(resolve(root, 'dissect/tls/reassembly.js')).href);
const seg = Buffer.alloc(1500, 0x16);
const n = 11654 * 20;
const times = [];
let check = 0;
for (let pass = 0; pass < 7; pass++) {
  const t0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const a = new SegmentAssembler(32768, 64);
    const first = 1200 + (i % 200);
    a.add(seg, 100, first, 0);
    a.add(seg, 0, 700, first);
    check += a.contiguous();
    a.consume(first + 600);
    check += a.contiguous();
    a.free();
  }
  const t = process.cpuUsage(t0);
  times.push((t.user + t.system) / 1000);
}
times.sort((a, b) => a - b);
console.log(`median ${times[3].toFixed(1)} ms cpu for ${n} split hellos (${times.map((x) => x.toFixed(0)).join(' ')}), check ${check}`);
