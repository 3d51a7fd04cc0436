// One benchmark run at one pipeline depth, in its own process (so peak RSS is its own).
//   node bench/depth.mjs FILE walk|flow|full|pipeline
// Prints one JSON line: { depth, packets, capBytes, seconds, pps, mbps, rssMB, ... }.
// Timed from before the first read to after the last flow is emitted (process start excluded;
// the runner also reports whole-process wall time).
import { readCaptureFile } from '../dist/source/file.js';
import { replayFile } from '../dist/pipeline.js';
import { fileURLToPath } from 'node:url';

const [file, depth] = process.argv.slice(2);
let peakRss = 0;
const sampleRss = () => { const r = process.memoryUsage().rss; if (r > peakRss) peakRss = r; };
const timer = setInterval(sampleRss, 50);
const t0 = process.hrtime.bigint();
const cpu0 = process.cpuUsage();
let packets = 0, capBytes = 0;
const extra = {};
if (depth === 'walk') {
  const r = await readCaptureFile(file, (b) => { packets += b.count; });
  capBytes = r.stats.capBytes;
} else if (depth === 'flow') {
  let flows = 0;
  const { read } = await replayFile(file, { onFlow: () => flows++ });
  packets = read.stats.packets; capBytes = read.stats.capBytes; extra.flows = flows;
} else if (depth === 'full') {
  let flows = 0, sni = 0, quicSni = 0, dns = 0;
  const { fullPath } = await import('./full-path.mjs');
  const { dissector, names } = (await fullPath(fileURLToPath(new URL('../dist', import.meta.url))))(() => { dns++; });
  const { read } = await replayFile(file, { dissector, onFlow: (rec) => {
    flows++; names.nameFlow(rec);
    if (rec.handshake?.sni !== undefined) { if (rec.handshake.transport === 'quic') quicSni++; else sni++; }
  } });
  packets = read.stats.packets; capBytes = read.stats.capBytes;
  Object.assign(extra, { flows, tlsSniFlows: sni, quicSniFlows: quicSni, dnsAnswers: dns });
} else if (depth === 'pipeline') {
  const { Pipeline } = await import('../dist/pipeline.js');
  const { configFromObject } = await import('../dist/config.js');
  const { Store } = await import('../dist/store/store.js');
  const store = Store.open(':memory:');
  const p = new Pipeline(configFromObject({}), { store });
  const r = await readCaptureFile(file, (b) => p.onBatch(b));
  p.finish();
  packets = r.stats.packets; capBytes = r.stats.capBytes;
  Object.assign(extra, { flows: p.counters.flows, aiObservations: p.counters.aiObservations });
} else {
  console.error(`unknown depth ${depth}`); process.exit(2);
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);
extra.cpuSeconds = (cpu.user + cpu.system) / 1e6;
clearInterval(timer); sampleRss();
console.log(JSON.stringify({ depth, packets, capBytes, seconds, pps: packets / seconds, mbps: capBytes / seconds / 1e6, rssMB: peakRss / 1e6, ...extra }));
