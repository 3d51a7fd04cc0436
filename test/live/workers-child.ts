/**
 * Runs inside a test namespace (`ip netns exec NS vite-node workers-child.ts -- IFACE GROUP N
 * HOOKS`): starts N live workers (src/workers/live.ts) with the default config on IFACE in
 * fanout group GROUP, prints its pid and `ready`; SIGUSR2 ends worker 1's thread (as a crash would); on
 * SIGTERM (or after 60 s) stops them and prints one JSON line: per worker its flow records and
 * DNS answers (normalized: no ids, no times), the per-worker stats and the restarts seen.
 */
import { configFromObject } from '../../src/config.js';
import { dissectOptionsFrom } from '../../src/dissect/index.js';
import { flowTableOptionsFrom } from '../../src/flow/table.js';
import type { DnsAnswer, FlowRecord } from '../../src/records.js';
import { LiveWorkers } from '../../src/workers/live.js';
import { LIVE_EV_DNS, LIVE_EV_FLOW, LIVE_EV_WIDTH } from '../../src/workers/live-worker.js';
import { normalDns, normalFlow } from './normal-records.js';

const [iface = '', groupArg = '0', nArg = '2', hooksArg = '{}'] = process.argv.slice(2);
const hooks = JSON.parse(hooksArg) as { failAfterPackets?: Record<number, number>; bufferBytes?: Record<number, number> };
const n = Number(nArg);
const cfg = configFromObject({});
const flows: string[][] = Array.from({ length: n }, () => []);
const dns: string[][] = Array.from({ length: n }, () => []);
const watermarkBackwards: number[] = new Array<number>(n).fill(0);
const lastWm: number[] = new Array<number>(n).fill(0);
const restarts: { worker: number; error: string }[] = [];
const workers = new LiveWorkers({
  workers: n,
  data: {
    capture: { iface, snaplen: 65535, promisc: true, bufferBytes: 8 * 1024 * 1024, batchPackets: 256, timeoutMs: 20, backend: 'native', fanoutGroup: Number(groupArg) },
    flow: flowTableOptionsFrom(cfg.flow),
    dissect: dissectOptionsFrom(cfg.dissect, false),
    idleTickMs: 100,
    idleSlackMs: 500,
  },
  onOutput: (w, events, watermark) => {
    for (let i = 0; i < events.length; i += LIVE_EV_WIDTH) {
      if (events[i + 2] === LIVE_EV_FLOW) flows[w]!.push(normalFlow(events[i + 3] as FlowRecord));
      else if (events[i + 2] === LIVE_EV_DNS) dns[w]!.push(normalDns(events[i + 3] as DnsAnswer));
    }
    if (watermark < lastWm[w]!) watermarkBackwards[w]!++;
    lastWm[w] = watermark;
  },
  onRestart: (e) => {
    restarts.push({ worker: e.worker, error: e.error });
    process.stdout.write(`restarted ${e.worker}\n`);
  },
  ...(hooks.failAfterPackets ? { failAfterPackets: hooks.failAfterPackets } : {}),
  ...(hooks.bufferBytes ? { bufferBytes: hooks.bufferBytes } : {}),
});
try {
  await workers.start();
} catch (e) {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exit(3);
}
// the process id first: a test finds the worker threads (named llmtap-live-N) under /proc/PID/task
process.stdout.write(`pid ${process.pid}\nready\n`);
process.on('SIGUSR2', () => { void workers.kill(1); });
let done = false;
const finish = async (): Promise<void> => {
  if (done) return;
  done = true;
  await workers.stop();
  // exit only once the (large) line is written: a pipe takes it asynchronously
  process.stdout.write(`${JSON.stringify({ flows, dns, stats: workers.stats(), restarts, watermarkBackwards })}\n`, () => process.exit(0));
};
process.on('SIGTERM', () => void finish());
setTimeout(() => void finish(), 60_000).unref();
