// ClientHello parse + Handshake record (JA4 included) on every TCP hello of a capture, alone:
// time per hello, median of 5 passes over all of them (PASSES=n for more).
//   node bench/micro/tls-hellos.mjs CAPTURE [DIST_ROOT=dist]
// THRASH=KB touches that much memory between two hellos (and times the parses alone), as the
// flow stage's work on the packets between two handshakes does: 0 → 1.9, 2048 → 4.1,
// 8192 → 7.1 µs per hello (min of 8 passes). Dissecting a batch's handshake packets in one
// run (dissect's caches stay warm) saved ~15 % of dissect time but nothing end to end
// (the misses most likely moved to the flow stage), so it was not kept.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [file, root = 'dist'] = process.argv.slice(2);
const imp = (p) => import(pathToFileURL(resolve(root, p)).href);
const { parseClientHello } = await imp('dissect/tls/parse.js');
const { toHandshake } = await imp('dissect/ja4.js');
const { readCaptureFile } = await imp('source/file.js');
const { Decoder } = await imp('decode/decoder.js');
const { PacketView } = await imp('decode/view.js');

// Hellos that fit one segment (record header 16 03 0x, handshake type 1), copied out.
const hellos = [];
const dec = new Decoder();
const v = new PacketView();
await readCaptureFile(file, (b) => {
  for (let i = 0; i < b.count; i++) {
    if (!dec.decode(v, b.buf, b.offset[i], b.capLen[i], b.wireLen[i], b.linkType[i], b.tsUs[i], b.ifIndex[i])) continue;
    if (v.proto !== 6 || v.payloadLen < 9) continue;
    const p = v.payloadOff;
    const buf = b.buf;
    if (buf[p] !== 0x16 || buf[p + 1] !== 3 || buf[p + 5] !== 1) continue;
    const mlen = ((buf[p + 6] << 16) | (buf[p + 7] << 8) | buf[p + 8]) + 4;
    if (5 + mlen > v.payloadLen) continue;
    hellos.push(Buffer.from(buf.subarray(p + 5, p + 5 + mlen)));
  }
});
const times = [];
const thrash = new Uint8Array(Number(process.env.THRASH ?? 0) * 1024);
let digest = 0;
for (let pass = 0; pass < Number(process.env.PASSES ?? 5); pass++) {
  const t0 = process.cpuUsage();
  let timed = 0;
  for (const h of hellos) {
    if (thrash.length > 0) for (let q = 0; q < thrash.length; q += 64) thrash[q]++;
    const t1 = thrash.length > 0 ? performance.now() : 0;
    const r = parseClientHello(h, 0, h.length);
    if (!r.ok) continue;
    const hs = toHandshake(r.hello, 'tls');
    if (thrash.length > 0) timed += performance.now() - t1;
    if (pass === 0) { const s = JSON.stringify(hs); for (let q = 0; q < s.length; q++) digest = (Math.imul(digest, 31) + s.charCodeAt(q)) >>> 0; }
  }
  const t = process.cpuUsage(t0);
  times.push(thrash.length > 0 ? (timed * 1000) / hellos.length : (t.user + t.system) / hellos.length);
}
times.sort((a, b) => a - b);
console.log(`${hellos.length} hellos: median ${times[Math.floor(times.length / 2)].toFixed(2)} µs per hello (${times.map((x) => x.toFixed(2)).join(' ')}), digest ${digest}`);
// Measured (2-core machine, Node 20, 30 passes): cached "0xXXXX" version texts, tlsVersions
// without filter/map, and the JA4 ALPN code read from the string when nothing is escaped took
// parse + Handshake from 1.32 to 1.16 µs per hello. A pool of zeroed 2 KB reassembly buffers
// for split hellos showed no gain at full depth (1.57 vs 1.60 s CPU over 9 interleaved runs),
// but timed per packet class inside the pipeline the first segment of a split hello went from
// 5–6 to ~2 µs, so it is in. Tried and dropped: a FlowMeta class with every field present
// from creation (one object shape for the dissectors; 1.63 vs 1.65 s: no gain); keeping two
// booleans instead of the first parsed hello during the watch phase (full depth 1.56 → 1.52 s,
// then 1.48 → 1.53 s: noise).
