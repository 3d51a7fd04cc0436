/**
 * Capture file reader: the pcapng shapes the public corpus lacks (big-endian, several sections,
 * Simple Packet Blocks, per-interface resolution), classic pcap variants, gzip, truncation and
 * corruption with file + offset, built byte by byte here.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants as zlibConstants, gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { PacketBatch } from '../../src/records.js';
import { CaptureFileError, readCaptureFile } from '../../src/source/file.js';
import { corpusDir } from '../helpers/corpus.js';
import { NgWriter } from '../helpers/pcapng-writer.js';

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

describe('only regular files are read; read errors name the file and offset', () => {
  it('a FIFO named like a capture is refused at once, naming it (no writer: a read would block forever)', async () => {
    const fifo = join(tmp, 'stuck.pcap');
    execFileSync('mkfifo', [fifo]);
    await expect(readCaptureFile(fifo, () => undefined)).rejects.toThrow(`${fifo}: byte offset 0: a FIFO, not a capture file (only regular files and .gz are read)`);
  });

  it('a directory named like a capture is refused, naming it', async () => {
    const dir = join(tmp, 'x.pcap');
    mkdirSync(dir);
    await expect(readCaptureFile(dir, () => undefined)).rejects.toThrow(`${dir}: byte offset 0: a directory, not a capture file`);
  });

  it('a truncated .gz capture: the packets before the cut are read, the error names the file and both offsets', async () => {
    const recs = Array.from({ length: 400 }, (_, i) => ({ sec: i, frac: 0, data: Buffer.alloc(200, i & 0xff) }));
    const plain = classicPcap(true, false, recs);
    const gz = gzipSync(plain);
    const cut = gz.subarray(0, gz.length - 40);
    const file = join(tmp, 'cut.pcap.gz');
    writeFileSync(file, cut);
    // what zlib can inflate from the cut stream: the reader must get exactly as far
    const inflated = gunzipSync(cut, { finishFlush: zlibConstants.Z_SYNC_FLUSH }).length;
    expect(inflated).toBeLessThan(plain.length);
    const { pkts, res } = await readAll(file, { chunkBytes: 4096 });
    expect(pkts.length).toBe(Math.floor((inflated - 24) / 216));
    expect(res.reasons['source.gzip_error']).toBe(1);
    expect(res.error?.reason).toBe('source.gzip_error');
    expect(res.error?.offset).toBe(inflated);
    expect(res.error?.message).toBe(`${file}: gzip stream broken at compressed byte ${cut.length} (decompressed byte ${inflated}): unexpected end of file`);
  });

  it('a .gz cut inside its header: an error naming the file at offset 0', async () => {
    const file = join(tmp, 'tiny.pcap.gz');
    writeFileSync(file, gzipSync(classicPcap(true, false, [])).subarray(0, 12));
    await expect(readCaptureFile(file, () => undefined)).rejects.toThrow(`${file}: byte offset 0: gzip stream broken at compressed byte 12`);
  });
});
