/**
 * Runs inside a test namespace (`ip netns exec NS vite-node fanout-child.ts -- IFACE GROUP N`):
 * opens N native LiveSources on one interface in one PACKET_FANOUT group, prints `ready`, and on
 * SIGTERM (or after 60 s) closes them and prints one JSON line: per source, each packet it
 * delivered (in order: digest and flow key) and its kernel counters. IFACE may list several
 * interfaces (comma-separated), one source each; a source that cannot be opened prints
 * `CODE: message` on stderr and exits 3. An optional JSON argument sets the ring size, the batch
 * size, and `slowMs`: a test-only starvation hook, this process sleeps that long per batch (its
 * capture thread then waits for free batch slots and the kernel ring fills).
 */
import { LiveSource } from '../../src/source/live.js';
import { keyPacket, type KeyedPacket } from './flow-key.js';

const ifaces = (process.argv[2] ?? '').split(',');
const group = Number(process.argv[3]);
const opt = JSON.parse(process.argv[4] ?? '{}') as { bufferBytes?: number; batchPackets?: number; slowMs?: number };
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const sources: LiveSource[] = [];
const packets: KeyedPacket[][] = [];
for (const iface of ifaces) {
  let src: LiveSource;
  try {
    src = LiveSource.open({
      iface, snaplen: 65535, promisc: true, bufferBytes: opt.bufferBytes ?? 8 * 1024 * 1024, batchPackets: opt.batchPackets ?? 256,
      timeoutMs: 20, backend: 'native', fanoutGroup: group,
    });
  } catch (e) {
    const err = e as { code?: string; message?: string };
    process.stderr.write(`${err.code ?? 'ERROR'}: ${err.message ?? String(e)}\n`);
    process.exit(3);
  }
  const mine: KeyedPacket[] = [];
  src.start((b) => {
    if (opt.slowMs !== undefined) Atomics.wait(sleeper, 0, 0, opt.slowMs);
    for (let i = 0; i < b.count; i++) {
      mine.push(keyPacket(b.buf, b.offset[i] ?? 0, b.capLen[i] ?? 0, b.wireLen[i] ?? 0, b.linkType[i] ?? 1));
    }
  });
  sources.push(src);
  packets.push(mine);
}
process.stdout.write('ready\n');
let done = false;
const finish = async (): Promise<void> => {
  if (done) return;
  done = true;
  await Promise.all(sources.map((s) => s.close()));
  process.stdout.write(`${JSON.stringify(sources.map((s, k) => {
    const st = s.stats();
    return {
      received: packets[k], packets: st.packets, kernelReceived: st.kernelReceived ?? null,
      kernelDropped: st.kernelDropped ?? null, extra: s.extraStats(),
    };
  }))}\n`);
};
process.on('SIGTERM', () => void finish());
setTimeout(() => void finish(), 60_000).unref();
