import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { QuicDissector } from '../../src/dissect/quic/index.js';
import { QUIC_V1, QUIC_V2 } from '../../src/dissect/quic/keys.js';
import { RFC_DCID, RFC9001_CLIENT_INITIAL, RFC9369_CLIENT_INITIAL } from './rfc-vectors.js';
import { clientInitial, cryptoFrame, newMeta, rfcHello, viewOf } from './helpers.js';

const dcid = Buffer.from(RFC_DCID, 'hex');
const PING = Buffer.of(0x01);
const ACK = Buffer.from('0200000000', 'hex'); // ACK largest 0, delay 0, 0 ranges, first range 0

describe('CRYPTO reassembly across frames, packets and datagrams', () => {
  const hello = rfcHello();

  it('finds the hello for any split, order, duplication and coalescing', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: hello.length - 1 }), { maxLength: 8 }),
        fc.array(fc.nat(), { minLength: 12, maxLength: 12 }),
        fc.integer({ min: 1, max: 4 }),
        fc.boolean(),
        fc.constantFrom(QUIC_V1, QUIC_V2, 0xff00001d, 0xff00001b),
        (cuts, seeds, nPackets, coalesce, version) => {
          const bounds = [0, ...cuts.sort((a, b) => a - b), hello.length];
          const frames: Buffer[] = [];
          for (let i = 0; i + 1 < bounds.length; i++) {
            const s = bounds[i] ?? 0;
            const e = bounds[i + 1] ?? 0;
            frames.push(cryptoFrame(s, hello.subarray(s, e)));
          }
          // Shuffle frames (Chromium scrambles them), then deal them into packets.
          for (let i = frames.length - 1; i > 0; i--) {
            const j = (seeds[i % seeds.length] ?? 0) % (i + 1);
            const t = frames[i];
            frames[i] = frames[j] as Buffer;
            frames[j] = t as Buffer;
          }
          // Duplicate one frame (a retransmission) when the seeds say so.
          if ((seeds[0] ?? 0) % 3 === 0 && frames[0] !== undefined) frames.push(frames[0]);
          const packets: Buffer[][] = Array.from({ length: nPackets }, () => []);
          frames.forEach((f, i) => packets[(seeds[(i + 1) % seeds.length] ?? 0) % nPackets]?.push(f, i % 2 ? PING : ACK));
          const wire = packets.map((fs, pn) => clientInitial(version, dcid, pn, Buffer.concat(fs.length ? fs : [PING])));
          const datagrams = coalesce ? [Buffer.concat(wire)] : wire;
          const d = new QuicDissector({ maxCryptoBytes: 4096 }, { count: () => undefined });
          const meta = newMeta();
          for (const dg of datagrams) {
            if (!meta.inspect) break;
            d.onPacket(viewOf(dg), meta);
          }
          expect(meta.handshake?.sni).toBe('example.com');
          expect(meta.inspect).toBe(false);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('split at every byte boundary into two packets sent in reverse order', () => {
    for (let cut = 1; cut < hello.length; cut += 7) {
      const d = new QuicDissector({ maxCryptoBytes: 4096 }, { count: () => undefined });
      const meta = newMeta();
      d.onPacket(viewOf(clientInitial(QUIC_V1, dcid, 1, cryptoFrame(cut, hello.subarray(cut)))), meta);
      expect(meta.handshake).toBeUndefined();
      d.onPacket(viewOf(clientInitial(QUIC_V1, dcid, 0, cryptoFrame(0, hello.subarray(0, cut)))), meta);
      expect(meta.handshake?.sni).toBe('example.com');
    }
  });
});

describe('mutated Initials never throw', () => {
  const originals = [RFC9001_CLIENT_INITIAL, RFC9369_CLIENT_INITIAL].map((h) => Buffer.from(h, 'hex'));
  const hello = rfcHello();
  // A packet whose plaintext is valid but whose ClientHello bytes are mutated (past the AEAD).
  it('bytes flipped, truncated or extended, in ciphertext or in plaintext', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 1 }),
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 6 }),
        fc.nat(),
        fc.boolean(),
        (which, flips, cut, plain) => {
          let pkt: Buffer;
          if (plain) {
            const h = Buffer.from(hello);
            for (const [i, b] of flips) h[i % h.length] = b;
            pkt = clientInitial(QUIC_V1, dcid, 0, cryptoFrame(0, h.subarray(0, 1 + (cut % h.length))));
          } else {
            pkt = Buffer.from(originals[which] ?? Buffer.alloc(0));
            for (const [i, b] of flips) pkt[i % pkt.length] = b;
            pkt = pkt.subarray(0, 1 + (cut % pkt.length));
          }
          const reasons: string[] = [];
          const d = new QuicDissector({ maxCryptoBytes: 65536 }, { count: (r) => reasons.push(r) });
          const meta = newMeta();
          expect(() => {
            d.onPacket(viewOf(pkt), meta);
            d.onPacket(viewOf(pkt, false), meta);
            d.onFlowEnd(meta);
          }).not.toThrow();
          for (const r of reasons) expect(r).toMatch(/^(quic|tls)\.[a-z0-9_]+$/);
        },
      ),
      { numRuns: 400 },
    );
  });
});
