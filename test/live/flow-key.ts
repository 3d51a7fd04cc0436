/**
 * Test helper: a packet's flow as the order-free pair of (address, port) ends plus the
 * transport protocol, decoded with the project's decoder, and the packets of a classic pcap
 * file with that key and a digest of their bytes.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { v4ToString, v6ToString } from '../../src/decode/addr.js';
import { Decoder } from '../../src/decode/decoder.js';
import { PacketView } from '../../src/decode/view.js';

export interface KeyedPacket {
  /** sha256 of the packet's bytes. */
  digest: string;
  /** `a|b/proto` with the ends sorted; undefined for non-IP packets. */
  key: string | undefined;
  /** An IP fragment (its ports are unknown for all but the first). */
  fragment: boolean;
  /** For a fragment: `src>dst/proto/id`, the datagram it belongs to. */
  datagram?: string;
  ipVersion: number;
}

const decoder = new Decoder();
const view = new PacketView();

export function keyPacket(buf: Buffer, off: number, capLen: number, wireLen: number, linkType: number): KeyedPacket {
  const digest = createHash('sha256').update(buf.subarray(off, off + capLen)).digest('hex');
  if (!decoder.decode(view, buf, off, capLen, wireLen, linkType, 0, 0)) return { digest, key: undefined, fragment: false, ipVersion: 0 };
  const v = view;
  const src = v.ipVersion === 4 ? v4ToString(v.src4) : v6ToString(buf, v.src6Off);
  const dst = v.ipVersion === 4 ? v4ToString(v.dst4) : v6ToString(buf, v.dst6Off);
  const ends = v.fragment && !v.fragFirst ? [src, dst] : [`${src}#${v.srcPort}`, `${dst}#${v.dstPort}`];
  const key = `${ends.sort().join('|')}/${v.proto}`;
  if (!v.fragment) return { digest, key, fragment: false, ipVersion: v.ipVersion };
  return { digest, key, fragment: true, datagram: `${src}>${dst}/${v.proto}/${v.fragId}`, ipVersion: v.ipVersion };
}

/** Every packet of a classic little-endian pcap file, keyed. */
export function keyPcap(path: string): KeyedPacket[] {
  const b = readFileSync(path);
  const magic = b.readUInt32LE(0);
  if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) throw new Error(`${path}: not a little-endian classic pcap file`);
  const linkType = b.readUInt32LE(20);
  const out: KeyedPacket[] = [];
  let off = 24;
  while (off + 16 <= b.length) {
    const incl = b.readUInt32LE(off + 8);
    const orig = b.readUInt32LE(off + 12);
    if (off + 16 + incl > b.length) break;
    out.push(keyPacket(b, off + 16, incl, orig, linkType));
    off += 16 + incl;
  }
  return out;
}
