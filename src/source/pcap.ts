/**
 * Classic libpcap file format (pcap-savefile(5), draft-ietf-opsawg-pcap):
 *
 *   global header (24 bytes): magic u32 | major u16 | minor u16 | thiszone i32 | sigfigs u32 |
 *                             snaplen u32 | linktype u32 (low 16 bits; FCS info above)
 *   record header (16 bytes): ts_sec u32 | ts_frac u32 (µs, or ns with the ns magic) |
 *                             incl_len u32 | orig_len u32, then incl_len bytes
 *
 * Magic 0xa1b2c3d4 = µs, 0xa1b23c4d = ns; read in either byte order.
 *
 * The npm package `pcap-parser` is not used: it reads only classic pcap (no pcapng, which 21 of
 * the 77 corpus captures are), emits one event with a fresh header object and a Buffer slice per
 * packet, and re-concatenates its read buffer per chunk (ANCHORS.md measures it at 0.42 Mpps vs
 * ~4 Mpps for an in-place walk).
 */
import type { PacketBatch } from '../records.js';

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
/** Records larger than this are treated as corruption (libpcap uses 256 KiB for most link types). */
export const MAX_RECORD_BYTES = 262144;

export interface PcapHeader {
  littleEndian: boolean;
  nanos: boolean;
  snaplen: number;
  linkType: number;
}

/** Parse the 24-byte global header at buf[0..24); undefined when the magic is not pcap. */
export function parsePcapHeader(buf: Buffer): PcapHeader | undefined {
  if (buf.length < 24) return undefined;
  const le = buf.readUInt32LE(0);
  const be = buf.readUInt32BE(0);
  let littleEndian: boolean;
  let nanos: boolean;
  if (le === PCAP_MAGIC_US || le === PCAP_MAGIC_NS) {
    littleEndian = true;
    nanos = le === PCAP_MAGIC_NS;
  } else if (be === PCAP_MAGIC_US || be === PCAP_MAGIC_NS) {
    littleEndian = false;
    nanos = be === PCAP_MAGIC_NS;
  } else {
    return undefined;
  }
  const snaplen = littleEndian ? buf.readUInt32LE(16) : buf.readUInt32BE(16);
  const lt = littleEndian ? buf.readUInt32LE(20) : buf.readUInt32BE(20);
  return { littleEndian, nanos, snaplen, linkType: lt & 0xffff };
}

function le32(b: Buffer, i: number): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
}
function be32(b: Buffer, i: number): number {
  return ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
}

export type WalkResult =
  /** all complete records consumed up to `consumed` (the rest is a partial record) */
  | { ok: true; consumed: number }
  | { ok: false; consumed: number; reason: 'source.record_too_large'; at: number };

/**
 * Walk the complete records in buf[off..end) into `batch` (appending). Stops when the batch is
 * full, at a partial record, or at a corrupt record header.
 */
export function walkPcapRecords(
  h: PcapHeader,
  buf: Buffer,
  off: number,
  end: number,
  batch: PacketBatch,
): WalkResult {
  const cap = batch.offset.length;
  let n = batch.count;
  let p = off;
  const le = h.littleEndian;
  const div = h.nanos ? 1000 : 1;
  while (p + 16 <= end && n < cap) {
    // plain byte reads: measured faster than Buffer#readUInt32LE (no per-call bounds check)
    const sec = le ? le32(buf, p) : be32(buf, p);
    const frac = le ? le32(buf, p + 4) : be32(buf, p + 4);
    const incl = le ? le32(buf, p + 8) : be32(buf, p + 8);
    const orig = le ? le32(buf, p + 12) : be32(buf, p + 12);
    if (incl > MAX_RECORD_BYTES) {
      batch.count = n;
      return { ok: false, consumed: p - off, reason: 'source.record_too_large', at: p };
    }
    if (p + 16 + incl > end) break;
    batch.offset[n] = p + 16;
    batch.capLen[n] = incl;
    batch.wireLen[n] = orig < incl ? incl : orig;
    batch.tsUs[n] = sec * 1e6 + frac / div;
    batch.linkType[n] = h.linkType;
    batch.ifIndex[n] = 0;
    n++;
    p += 16 + incl;
  }
  batch.count = n;
  return { ok: true, consumed: p - off };
}
