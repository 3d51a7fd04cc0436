/**
 * Capture file reader: the pcapng shapes the public corpus lacks (big-endian, several sections,
 * Simple Packet Blocks, per-interface resolution), classic pcap variants, gzip, truncation and
 * corruption with file + offset, built byte by byte here.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { PacketBatch } from '../../src/records.js';
import { CaptureFileError, readCaptureFile } from '../../src/source/file.js';
import { corpusDir } from '../helpers/corpus.js';

const tmp = mkdtempSync(join(tmpdir(), 'llmtap-reader-'));

interface Pkt {
  tsUs: number;
  capLen: number;
  wireLen: number;
  linkType: number;
  ifIndex: number;
  first: number;
}

async function readAll(file: string, opts: { chunkBytes?: number } = {}): Promise<{ pkts: Pkt[]; res: Awaited<ReturnType<typeof readCaptureFile>> }> {
  const pkts: Pkt[] = [];
  const res = await readCaptureFile(
    file,
    (b: PacketBatch) => {
      for (let i = 0; i < b.count; i++) {
        pkts.push({ tsUs: b.tsUs[i]!, capLen: b.capLen[i]!, wireLen: b.wireLen[i]!, linkType: b.linkType[i]!, ifIndex: b.ifIndex[i]!, first: b.buf[b.offset[i]!]! });
      }
    },
    opts,
  );
  return { pkts, res };
}

/** A pcapng writer for tests: blocks in either byte order. */
class NgWriter {
  private parts: Buffer[] = [];
  constructor(private le: boolean) {}
  private u32(v: number): Buffer {
    const b = Buffer.alloc(4);
    if (this.le) b.writeUInt32LE(v >>> 0);
    else b.writeUInt32BE(v >>> 0);
    return b;
  }
  private u16(v: number): Buffer {
    const b = Buffer.alloc(2);
    if (this.le) b.writeUInt16LE(v);
    else b.writeUInt16BE(v);
    return b;
  }
  private block(type: number, body: Buffer): void {
    const pad = (4 - (body.length % 4)) % 4;
    const len = 12 + body.length + pad;
    this.parts.push(this.u32(type), this.u32(len), body, Buffer.alloc(pad), this.u32(len));
  }
  shb(): this {
    this.block(0x0a0d0d0a, Buffer.concat([this.u32(0x1a2b3c4d), this.u16(1), this.u16(0), Buffer.alloc(8, 0xff)]));
    return this;
  }
  idb(linkType: number, tsresol?: number): this {
    const opts: Buffer[] = [];
    if (tsresol !== undefined) opts.push(this.u16(9), this.u16(1), Buffer.from([tsresol, 0, 0, 0]));
    opts.push(this.u16(0), this.u16(0));
    this.block(1, Buffer.concat([this.u16(linkType), this.u16(0), this.u32(65535), ...opts]));
    return this;
  }
  epb(ifId: number, ts: bigint, data: Buffer, origLen = data.length): this {
    this.block(6, Buffer.concat([this.u32(ifId), this.u32(Number(ts >> 32n)), this.u32(Number(ts & 0xffffffffn)), this.u32(data.length), this.u32(origLen), data]));
    return this;
  }
  spb(data: Buffer, origLen = data.length): this {
    this.block(3, Buffer.concat([this.u32(origLen), data]));
    return this;
  }
  custom(): this {
    this.block(0x00000bad, Buffer.from('opaque'));
    return this;
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

function classicPcap(le: boolean, nanos: boolean, recs: { sec: number; frac: number; data: Buffer }[]): Buffer {
  const w32 = (v: number): Buffer => {
    const b = Buffer.alloc(4);
    if (le) b.writeUInt32LE(v >>> 0);
    else b.writeUInt32BE(v >>> 0);
    return b;
  };
  const w16 = (v: number): Buffer => {
    const b = Buffer.alloc(2);
    if (le) b.writeUInt16LE(v);
    else b.writeUInt16BE(v);
    return b;
  };
  const hdr = Buffer.concat([w32(nanos ? 0xa1b23c4d : 0xa1b2c3d4), w16(2), w16(4), w32(0), w32(0), w32(65535), w32(1)]);
  return Buffer.concat([hdr, ...recs.flatMap((r) => [w32(r.sec), w32(r.frac), w32(r.data.length), w32(r.data.length), r.data])]);
}

describe('pcapng', () => {
  for (const le of [true, false]) {
    it(`reads ${le ? 'little' : 'big'}-endian, two sections, per-interface link types and resolutions, SPB, skipped blocks`, async () => {
      const ns = 1_700_000_000_123_456_789n; // 10^-9 resolution
      const data = (n: number, len: number): Buffer => Buffer.alloc(len, n);
      const file = join(tmp, `ng-${le ? 'le' : 'be'}.pcapng`);
      const bytes = new NgWriter(le)
        .shb()
        .idb(1) // if 0: Ethernet, default µs
        .idb(101, 9) // if 1: raw IP, ns
        .epb(0, 1_700_000_000_000_001n, data(1, 60))
        .epb(1, ns, data(2, 61), 1500)
        .custom()
        .spb(data(3, 62))
        .bytes();
      // a second section in the other byte order resets the interfaces
      const second = new NgWriter(!le).shb().idb(113, 3).epb(0, 1_700_000_000_500n, data(4, 63)).bytes();
      writeFileSync(file, Buffer.concat([bytes, second]));
      const { pkts, res } = await readAll(file);
      expect(res.error).toBeUndefined();
      expect(res.format).toBe('pcapng');
      expect(pkts.map((p) => p.first)).toEqual([1, 2, 3, 4]);
      expect(pkts.map((p) => p.linkType)).toEqual([1, 101, 1, 113]);
      expect(pkts[0]!.tsUs).toBe(1_700_000_000_000_001);
      // ns timestamps stay exact to the µs fraction despite exceeding 2^53 in raw units
      expect(pkts[1]!.tsUs).toBeCloseTo(1_700_000_000_123_456.789, 3);
      expect(pkts[1]!.wireLen).toBe(1500);
      expect(pkts[1]!.capLen).toBe(61);
      expect(pkts[3]!.tsUs).toBe(1_700_000_000_500_000); // ms resolution
      // interfaces of the second section get their own indexes
      expect(pkts[3]!.ifIndex).toBe(2);
      expect(res.reasons['source.skipped_block']).toBe(1);
    });
  }

  it('an EPB naming an interface without an IDB is counted, not fatal', async () => {
    const file = join(tmp, 'ng-noif.pcapng');
    writeFileSync(file, new NgWriter(true).shb().idb(1).epb(5, 1n, Buffer.alloc(60)).epb(0, 2n, Buffer.alloc(60)).bytes());
    const { pkts, res } = await readAll(file);
    expect(pkts.length).toBe(1);
    expect(res.reasons['source.unknown_interface']).toBe(1);
  });

  it('an impossible block length stops with the byte offset, keeping what came before', async () => {
    const good = new NgWriter(true).shb().idb(1).epb(0, 1n, Buffer.alloc(60)).bytes();
    const bad = Buffer.alloc(12);
    bad.writeUInt32LE(6, 0);
    bad.writeUInt32LE(13, 4); // not a multiple of 4
    const file = join(tmp, 'ng-bad.pcapng');
    writeFileSync(file, Buffer.concat([good, bad]));
    const { pkts, res } = await readAll(file);
    expect(pkts.length).toBe(1);
    expect(res.error?.offset).toBe(good.length);
    expect(res.error?.message).toContain(file);
    expect(res.error?.message).toContain(`byte offset ${good.length}`);
  });
});

describe('classic pcap', () => {
  for (const le of [true, false]) {
    for (const nanos of [false, true]) {
      it(`${le ? 'LE' : 'BE'} ${nanos ? 'ns' : 'µs'} magic`, async () => {
        const file = join(tmp, `c-${le}-${nanos}.pcap`);
        writeFileSync(file, classicPcap(le, nanos, [{ sec: 1_700_000_000, frac: nanos ? 123_456_789 : 123_456, data: Buffer.alloc(60, 7) }]));
        const { pkts } = await readAll(file);
        expect(pkts.length).toBe(1);
        expect(pkts[0]!.tsUs).toBeCloseTo(1_700_000_000_123_456 + (nanos ? 0.789 : 0), 3);
        expect(pkts[0]!.first).toBe(7);
      });
    }
  }

  it('records straddling read chunks are reassembled (tiny chunk size)', async () => {
    const recs = Array.from({ length: 50 }, (_, i) => ({ sec: i, frac: 0, data: Buffer.alloc(60 + i, i) }));
    const file = join(tmp, 'chunks.pcap');
    writeFileSync(file, classicPcap(true, false, recs));
    const { pkts } = await readAll(file, { chunkBytes: 97 });
    expect(pkts.map((p) => p.first)).toEqual(recs.map((_, i) => i));
    expect(pkts.map((p) => p.capLen)).toEqual(recs.map((r) => r.data.length));
  });

  it('a truncated last record is counted; everything before it kept', async () => {
    const full = classicPcap(true, false, [
      { sec: 1, frac: 0, data: Buffer.alloc(100, 1) },
      { sec: 2, frac: 0, data: Buffer.alloc(100, 2) },
    ]);
    const file = join(tmp, 'trunc.pcap');
    writeFileSync(file, full.subarray(0, full.length - 30));
    const { pkts, res } = await readAll(file);
    expect(pkts.length).toBe(1);
    expect(res.stats.truncatedRecords).toBe(1);
    expect(res.reasons['source.truncated_record']).toBe(1);
    expect(res.error).toBeUndefined();
  });

  it('a record length beyond the bound is corruption at its byte offset', async () => {
    const good = classicPcap(true, false, [{ sec: 1, frac: 0, data: Buffer.alloc(60) }]);
    const bad = Buffer.alloc(16);
    bad.writeUInt32LE(0xffffff, 8);
    const file = join(tmp, 'corrupt.pcap');
    writeFileSync(file, Buffer.concat([good, bad, Buffer.alloc(64)]));
    const { pkts, res } = await readAll(file);
    expect(pkts.length).toBe(1);
    expect(res.error?.reason).toBe('source.record_too_large');
    expect(res.error?.offset).toBe(good.length);
  });

  it('not a capture file: an error naming the file and offset 0', async () => {
    const file = join(tmp, 'notpcap.pcap');
    writeFileSync(file, Buffer.from('this is not a capture file at all, just text\n'));
    await expect(readCaptureFile(file, () => undefined)).rejects.toThrow(CaptureFileError);
    await expect(readCaptureFile(file, () => undefined)).rejects.toThrow(/notpcap\.pcap: byte offset 0: not a pcap or pcapng file/);
    const short = join(tmp, 'short.pcap');
    writeFileSync(short, Buffer.from([0xd4, 0xc3]));
    await expect(readCaptureFile(short, () => undefined)).rejects.toThrow(/too short/);
  });
});

const corpus = corpusDir();
describe.skipIf(corpus === undefined)('gzip and format detection on corpus files', () => {
  it('a .gz file reads exactly like the plain file', async () => {
    const src = join(corpus!, 'pcaps', 'ndpi-sites.pcapng');
    const gz = join(tmp, 'sites.pcapng.gz');
    writeFileSync(gz, gzipSync(readFileSync(src)));
    const a = await readAll(src);
    const b = await readAll(gz);
    expect(b.res.compressed).toBe(true);
    expect(b.pkts).toEqual(a.pkts);
    expect(a.pkts.length).toBeGreaterThan(100);
  });

  it('a pcapng named .pcap is detected by its magic', async () => {
    const { res, pkts } = await readAll(join(corpus!, 'pcaps', 'ndpi-dns-vlan.pcap'));
    expect(res.format).toBe('pcapng');
    expect(pkts.length).toBeGreaterThan(0);
  });
});
