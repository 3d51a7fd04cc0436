/**
 * Test helper: the per-packet lengths and a digest of a classic pcap file (either byte order,
 * µs or ns), the oracle a live capture of a tcpreplay of that file is compared with.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface PcapSummary {
  packets: number;
  capBytes: number;
  capLens: number[];
  /** sha256 over every packet's captured bytes, in order. */
  digest: string;
}

export function summarizePcap(path: string): PcapSummary {
  const b = readFileSync(path);
  const magic = b.readUInt32LE(0);
  let le: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = true;
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) le = false;
  else throw new Error(`${path}: not a classic pcap file`);
  const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const h = createHash('sha256');
  const capLens: number[] = [];
  let capBytes = 0;
  let off = 24;
  while (off + 16 <= b.length) {
    const incl = u32(off + 8);
    if (off + 16 + incl > b.length) break;
    h.update(b.subarray(off + 16, off + 16 + incl));
    capLens.push(incl);
    capBytes += incl;
    off += 16 + incl;
  }
  return { packets: capLens.length, capBytes, capLens, digest: h.digest('hex') };
}
