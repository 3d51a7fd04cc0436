/**
 * Runs inside a test namespace (`ip netns exec NS vite-node capture-child.ts -- IFACE BACKEND`):
 * opens a LiveSource, prints `ready`, and on SIGTERM (or after 60 s) closes it and prints one
 * JSON line summarising what the source delivered: packets, bytes, a digest of all packet
 * bytes in order, timestamp checks, batch sizes and the kernel counters.
 */
import { createHash } from 'node:crypto';
import { LiveSource, type LiveOptions } from '../../src/source/live.js';

const iface = process.argv[2] ?? '';
const backend = (process.argv[3] ?? 'native') as LiveOptions['backend'];
const src = LiveSource.open({
  iface, snaplen: 65535, promisc: true, bufferBytes: 32 * 1024 * 1024, batchPackets: 512,
  timeoutMs: 20, backend,
});
const h = createHash('sha256');
const capLens: number[] = [];
let wireBytes = 0;
let prevTs = 0;
let nonMonotonic = 0;
let maxSkewMs = 0;
let firstTsUs = 0;
let lastTsUs = 0;
let batches = 0;
let maxBatch = 0;
src.start((b) => {
  batches++;
  maxBatch = Math.max(maxBatch, b.count);
  const nowUs = Date.now() * 1000;
  for (let i = 0; i < b.count; i++) {
    const off = b.offset[i] ?? 0;
    const len = b.capLen[i] ?? 0;
    const ts = b.tsUs[i] ?? 0;
    h.update(b.buf.subarray(off, off + len));
    capLens.push(len);
    wireBytes += b.wireLen[i] ?? 0;
    if (ts < prevTs) nonMonotonic++;
    prevTs = ts;
    if (firstTsUs === 0) firstTsUs = ts;
    lastTsUs = ts;
    maxSkewMs = Math.max(maxSkewMs, Math.abs(nowUs - ts) / 1000);
  }
});
process.stdout.write('ready\n');
let done = false;
const finish = async (): Promise<void> => {
  if (done) return;
  done = true;
  await src.close();
  const s = src.stats();
  process.stdout.write(`${JSON.stringify({
    packets: s.packets, capBytes: s.capBytes, wireBytes, capLens, digest: h.digest('hex'),
    nonMonotonic, maxSkewMs, firstTsUs, lastTsUs, batches, maxBatch,
    kernelReceived: s.kernelReceived ?? null, kernelDropped: s.kernelDropped ?? null,
    ifDropped: s.ifDropped ?? null, linkType: src.linkType(), extra: src.extraStats(),
  })}\n`);
};
process.on('SIGTERM', () => void finish());
setTimeout(() => void finish(), 60_000).unref();
