/**
 * Property tests: random and mutated packets through decode → flow (→ dissect), and mutated
 * capture files through the reader. Nothing throws (and nothing is caught by the dissect
 * router's safety net: its `dissect.internal_error` counter stays at zero); every packet lands in exactly one decode
 * counter; every flow created is emitted exactly once.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Dissector, defaultDissectOptions } from '../../src/dissect/index.js';
import { TLS_REASONS } from '../../src/dissect/reasons.js';
import { PacketPath } from '../../src/pipeline.js';
import type { PacketBatch } from '../../src/records.js';
import { CaptureFileError, readCaptureFile } from '../../src/source/file.js';
import { allocBatch } from '../../src/source/batch.js';
import { corpusDir, corpusEntries } from '../helpers/corpus.js';

const LINK_TYPES = [0, 1, 9, 12, 14, 101, 108, 113, 228, 229, 276, 147];

function freshPath(): { pp: PacketPath; emitted: number[]; escaped: () => number } {
  const emitted: number[] = [];
  const d = new Dissector(defaultDissectOptions, { onDns: () => undefined });
  const pp = new PacketPath({ maxFlows: 64, tcpIdleS: 1, otherIdleS: 1, tcpClosedS: 1, activeS: 5 }, { dissector: d, onFlow: (r) => emitted.push(r.flowId) });
  // The router turns anything a dissector throws into this counter instead of a crash, so
  // "never throws" means: this counter stays at zero.
  return { pp, emitted, escaped: () => d.stats()[TLS_REASONS.internalError] ?? 0 };
}

function batchOf(pkts: { bytes: Uint8Array; link: number; ts: number }[]): PacketBatch {
  const b = allocBatch(Math.max(1, pkts.length));
  b.buf = Buffer.concat(pkts.map((p) => Buffer.from(p.bytes)));
  let off = 0;
  pkts.forEach((p, i) => {
    b.offset[i] = off;
    b.capLen[i] = p.bytes.length;
    b.wireLen[i] = p.bytes.length + (i % 3 === 0 ? 20 : 0);
    b.tsUs[i] = p.ts;
    b.linkType[i] = p.link;
    b.ifIndex[i] = 0;
    off += p.bytes.length;
  });
  b.count = pkts.length;
  return b;
}

/** Plausible headers with random bits: Ethernet → (VLAN) → IPv4/IPv6 → TCP/UDP → bytes. */
const plausible = fc
  .record({
    vlan: fc.boolean(),
    v6: fc.boolean(),
    proto: fc.constantFrom(6, 17, 1, 58, 41, 4, 47, 44),
    sport: fc.constantFrom(443, 53, 2152, 5353, 12345, 80),
    dport: fc.constantFrom(443, 53, 2152, 40000, 8443),
    flags: fc.integer({ min: 0, max: 255 }),
    payload: fc.uint8Array({ maxLength: 300 }),
    ihl: fc.integer({ min: 0, max: 15 }),
    totalLenDelta: fc.integer({ min: -60, max: 60 }),
    cut: fc.integer({ min: 0, max: 400 }),
  })
  .map((r) => {
    const l4 = Buffer.alloc(r.proto === 6 ? 20 : 8);
    l4.writeUInt16BE(r.sport, 0);
    l4.writeUInt16BE(r.dport, 2);
    if (r.proto === 6) {
      l4[12] = 0x50;
      l4[13] = r.flags;
    } else l4.writeUInt16BE(8 + r.payload.length, 4);
    const body = Buffer.concat([l4, Buffer.from(r.payload)]);
    let ip: Buffer;
    if (r.v6) {
      ip = Buffer.alloc(40);
      ip[0] = 0x60;
      ip.writeUInt16BE(Math.max(0, body.length + r.totalLenDelta) & 0xffff, 4);
      ip[6] = r.proto;
      ip[23] = 1;
      ip[39] = 2;
    } else {
      ip = Buffer.alloc(20);
      ip[0] = 0x40 | r.ihl;
      ip.writeUInt16BE(Math.max(0, 20 + body.length + r.totalLenDelta) & 0xffff, 2);
      ip[9] = r.proto;
      ip.writeUInt32BE(0x0a000001, 12);
      ip.writeUInt32BE(0x0a000002, 16);
    }
    const eth = Buffer.alloc(r.vlan ? 18 : 14);
    if (r.vlan) {
      eth.writeUInt16BE(0x8100, 12);
      eth.writeUInt16BE(r.v6 ? 0x86dd : 0x0800, 16);
    } else eth.writeUInt16BE(r.v6 ? 0x86dd : 0x0800, 12);
    const all = Buffer.concat([eth, ip, body]);
    return new Uint8Array(all.subarray(0, Math.min(all.length, 14 + r.cut)));
  });

describe('decode → flow → dissect never throws and accounts for every packet', () => {
  it('random bytes on every link type', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ bytes: fc.uint8Array({ maxLength: 200 }), link: fc.constantFrom(...LINK_TYPES), ts: fc.integer({ min: 0, max: 10_000_000 }) }), { maxLength: 40 }),
        (pkts) => {
          const { pp, emitted, escaped } = freshPath();
          pp.onBatch(batchOf(pkts));
          pp.finish();
          const counted = Object.values(pp.decodeStats()).reduce((a, b) => a + b, 0);
          expect(counted).toBe(pkts.length);
          expect(new Set(emitted).size).toBe(emitted.length);
          expect(pp.flows.active).toBe(0);
          expect(escaped()).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('plausible headers with random fields and cuts', () => {
    fc.assert(
      fc.property(fc.array(plausible, { maxLength: 40 }), (bytes) => {
        const { pp, emitted, escaped } = freshPath();
        pp.onBatch(batchOf(bytes.map((b, i) => ({ bytes: b, link: 1, ts: i * 300_000 }))));
        pp.finish();
        const counted = Object.values(pp.decodeStats()).reduce((a, b) => a + b, 0);
        expect(counted).toBe(bytes.length);
        expect(new Set(emitted).size).toBe(emitted.length);
        expect(pp.flows.active).toBe(0);
        expect(escaped()).toBe(0);
      }),
      { numRuns: 400 },
    );
  });
});

const corpus = corpusDir();
const tmp = mkdtempSync(join(tmpdir(), 'llmtap-fuzz-'));

describe.skipIf(corpus === undefined)('mutated corpus captures through the whole packet path', () => {
  const files = corpus === undefined ? [] : corpusEntries(corpus).map((e) => e.pcap);
  it('bit flips, truncations and splices never throw past the reader', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...files),
        fc.array(fc.record({ at: fc.nat(), val: fc.integer({ min: 0, max: 255 }) }), { maxLength: 64 }),
        fc.option(fc.nat(), { nil: undefined }),
        async (file, flips, cutAt) => {
          const src = readFileSync(file);
          let buf = Buffer.from(src);
          for (const f of flips) buf[f.at % buf.length] = f.val;
          if (cutAt !== undefined) buf = buf.subarray(0, cutAt % (buf.length + 1));
          const out = join(tmp, `m${n++}.bin`);
          writeFileSync(out, buf);
          const { pp, emitted, escaped } = freshPath();
          let packets: number;
          try {
            packets = (await readCaptureFile(out, (b) => pp.onBatch(b))).stats.packets;
          } catch (err) {
            // only a header that is no longer a capture header may be refused
            expect(err).toBeInstanceOf(CaptureFileError);
            expect((err as CaptureFileError).offset).toBe(0);
            return;
          }
          pp.finish();
          const counted = Object.values(pp.decodeStats()).reduce((a, b) => a + b, 0);
          expect(counted).toBe(packets);
          expect(new Set(emitted).size).toBe(emitted.length);
          expect(escaped()).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });
});
