/**
 * pcapng (draft-ietf-opsawg-pcapng): a sequence of blocks
 *
 *   block: type u32 | total_length u32 | body ... | total_length u32   (lengths multiple of 4)
 *
 * - Section Header Block 0x0A0D0D0A: byte-order magic 0x1A2B3C4D decides the order of every
 *   block of the section; a new SHB resets the interface list.
 * - Interface Description Block 1: linktype u16 | reserved u16 | snaplen u32 | options
 *   (if_tsresol = 9: one byte, bit 7 clear = 10^-n s, set = 2^-n s; if_tsoffset = 14: i64 s).
 * - Enhanced Packet Block 6: if_id u32 | ts_high u32 | ts_low u32 | cap_len u32 | orig_len u32 | data
 * - Simple Packet Block 3: orig_len u32 | data (cap_len = min(orig_len, snaplen of interface 0, room))
 * - Obsolete Packet Block 2: if_id u16 | drops u16 | ts_high | ts_low | cap_len | orig_len | data
 * Every other block (NRB, ISB, DSB, custom, ...) is skipped and counted by type.
 */
import type { SourceReason } from './reasons.js';
import type { PacketBatch } from '../records.js';
import { MAX_RECORD_BYTES } from './pcap.js';

export const PCAPNG_SHB = 0x0a0d0d0a;
const BOM = 0x1a2b3c4d;
/** Blocks above this size are treated as corruption (a packet block holds ≤ 256 KiB of data). */
const MAX_BLOCK_BYTES = 16 * 1024 * 1024;

interface Iface {
  linkType: number;
  snaplen: number;
  /** tsUs = ts / divUs when divUs > 0, else ts * mulUs. */
  kind: 'dec' | 'bin';
  /** for 'dec' with resolution 10^-k: k */
  exp: number;
  offsetUs: number;
}

export class PcapngState {
  littleEndian = true;
  ifaces: Iface[] = [];
  sections = 0;
  blocks: Record<string, number> = {};
  /** Interface index offset so interfaces of later sections get distinct ifIndex values. */
  ifBase = 0;
}

export type NgWalkResult =
  | { ok: true; consumed: number }
  | { ok: false; consumed: number; reason: 'source.bad_block'; at: number; detail: string };

function u32(buf: Buffer, p: number, le: boolean): number {
  return le ? buf.readUInt32LE(p) : buf.readUInt32BE(p);
}
function u16(buf: Buffer, p: number, le: boolean): number {
  return le ? buf.readUInt16LE(p) : buf.readUInt16BE(p);
}

/**
 * Convert a 64-bit timestamp (hi, lo) in interface units to µs, exactly for decimal resolutions:
 * for 10^-9 s, hi·2^32 + lo can exceed 2^53, so split hi into (q·d + r) before dividing by d.
 */
function tsToUs(i: Iface, hi: number, lo: number): number {
  if (i.kind === 'dec') {
    if (i.exp <= 6) return (hi * 4294967296 + lo) * 10 ** (6 - i.exp) + i.offsetUs;
    const d = 10 ** (i.exp - 6);
    const q = Math.floor(hi / d);
    const r = hi - q * d;
    return q * 4294967296 + (r * 4294967296 + lo) / d + i.offsetUs;
  }
  return ((hi * 4294967296 + lo) / 2 ** i.exp) * 1e6 + i.offsetUs;
}

function parseIdb(buf: Buffer, p: number, len: number, le: boolean): Iface {
  const iface: Iface = {
    linkType: u16(buf, p + 8, le),
    snaplen: u32(buf, p + 12, le),
    kind: 'dec',
    exp: 6,
    offsetUs: 0,
  };
  // options start after the 16 bytes of fixed header (type, len, linktype, reserved, snaplen)
  let o = p + 16;
  const end = p + len - 4;
  while (o + 4 <= end) {
    const code = u16(buf, o, le);
    const olen = u16(buf, o + 2, le);
    if (code === 0) break;
    if (o + 4 + olen > end) break;
    if (code === 9 && olen >= 1) {
      const v = buf[o + 4] ?? 6;
      if (v & 0x80) {
        iface.kind = 'bin';
        iface.exp = v & 0x7f;
      } else {
        iface.kind = 'dec';
        iface.exp = v;
      }
    } else if (code === 14 && olen >= 8) {
      const hi = le ? buf.readInt32LE(o + 8) : buf.readInt32BE(o + 4);
      const lo = le ? buf.readUInt32LE(o + 4) : buf.readUInt32BE(o + 8);
      iface.offsetUs = (hi * 4294967296 + lo) * 1e6;
    }
    o += 4 + ((olen + 3) & ~3);
  }
  return iface;
}

/**
 * Walk complete blocks in buf[off..end) appending packets to `batch`. Stops when the batch is
 * full, at a partial block, or at a corrupt block header (reported with its offset).
 */
export function walkPcapngBlocks(
  st: PcapngState,
  buf: Buffer,
  off: number,
  end: number,
  batch: PacketBatch,
  countReason: (r: SourceReason) => void,
): NgWalkResult {
  const cap = batch.offset.length;
  let n = batch.count;
  let p = off;
  while (p + 12 <= end && n < cap) {
    let type = u32(buf, p, st.littleEndian);
    if (buf.readUInt32LE(p) === PCAPNG_SHB) {
      type = PCAPNG_SHB;
      const bom = buf.readUInt32LE(p + 8);
      if (bom === BOM) st.littleEndian = true;
      else if (buf.readUInt32BE(p + 8) === BOM) st.littleEndian = false;
      else {
        batch.count = n;
        return { ok: false, consumed: p - off, reason: 'source.bad_block', at: p, detail: 'section header with an unknown byte-order magic' };
      }
    }
    const le = st.littleEndian;
    const len = u32(buf, p + 4, le);
    if (len < 12 || len % 4 !== 0 || len > MAX_BLOCK_BYTES) {
      batch.count = n;
      return { ok: false, consumed: p - off, reason: 'source.bad_block', at: p, detail: `block length ${len} is impossible` };
    }
    if (p + len > end) break;
    switch (type) {
      case PCAPNG_SHB:
        st.sections++;
        st.ifBase += st.ifaces.length;
        st.ifaces = [];
        break;
      case 1:
        if (len >= 20) st.ifaces.push(parseIdb(buf, p, len, le));
        else countReason('source.bad_block');
        break;
      case 6:
      case 2: {
        if (len < 32) {
          countReason('source.bad_block');
          break;
        }
        const ifId = type === 6 ? u32(buf, p + 8, le) : u16(buf, p + 8, le);
        const iface = st.ifaces[ifId];
        if (iface === undefined) {
          countReason('source.unknown_interface');
          break;
        }
        const capLen = u32(buf, p + 20, le);
        const origLen = u32(buf, p + 24, le);
        if (capLen > MAX_RECORD_BYTES || 28 + capLen + 4 > len) {
          countReason('source.bad_block');
          break;
        }
        batch.offset[n] = p + 28;
        batch.capLen[n] = capLen;
        batch.wireLen[n] = origLen < capLen ? capLen : origLen;
        batch.tsUs[n] = tsToUs(iface, u32(buf, p + 12, le), u32(buf, p + 16, le));
        batch.linkType[n] = iface.linkType;
        batch.ifIndex[n] = st.ifBase + ifId;
        n++;
        break;
      }
      case 3: {
        const iface = st.ifaces[0];
        if (iface === undefined) {
          countReason('source.unknown_interface');
          break;
        }
        const origLen = u32(buf, p + 8, le);
        let capLen = Math.min(origLen, len - 16);
        if (iface.snaplen > 0 && capLen > iface.snaplen) capLen = iface.snaplen;
        batch.offset[n] = p + 12;
        batch.capLen[n] = capLen;
        batch.wireLen[n] = origLen < capLen ? capLen : origLen;
        // SPBs carry no timestamp; 0 keeps order semantics and is documented in the README.
        batch.tsUs[n] = 0;
        batch.linkType[n] = iface.linkType;
        batch.ifIndex[n] = st.ifBase;
        n++;
        break;
      }
      default: {
        const k = `0x${type.toString(16)}`;
        st.blocks[k] = (st.blocks[k] ?? 0) + 1;
        countReason('source.skipped_block');
      }
    }
    p += len;
  }
  batch.count = n;
  return { ok: true, consumed: p - off };
}
