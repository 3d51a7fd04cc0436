import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { OPENSSL_HELLO, OPENSSL_HELLO_RECORD, buildHello, sniBody, toRecords } from './hellos.js';
import { ACK, TcpFeed } from './feed.js';

const REC = OPENSSL_HELLO_RECORD;

function expectParsed(f: TcpFeed, sni = 'localhost'): void {
  expect(f.meta.handshake?.sni).toBe(sni);
  expect(f.stats['tls.hello_parsed']).toBe(1);
  expect(f.stats['dissect.internal_error']).toBeUndefined();
}

describe('TCP reassembly of the ClientHello', () => {
  test('a bare SYN keeps only its sequence number (no state object); a scanned port that answers RST counts nothing', () => {
    const f = new TcpFeed(4_000_000_000);
    f.syn();
    expect(f.meta.dissectState).toBe(4_000_000_001 | 0);
    f.syn(); // retransmitted
    expect(f.meta.dissectState).toBe(4_000_000_001 | 0);
    f.packet(false, 0, 4_000_000_001, 0x04 | ACK);
    expect(f.meta.inspect).toBe(false);
    expect(f.meta.dissectState).toBeUndefined();
    f.end();
    expect(f.stats).toEqual({});
  });

  test('after a bare SYN, the first data out of order is held at its offset from the SYN (near sequence wrap)', () => {
    const f = new TcpFeed(0xffffff00);
    f.syn();
    f.client(200, REC.subarray(200));
    expect(f.meta.handshake).toBeUndefined();
    f.client(0, REC.subarray(0, 200));
    expectParsed(f);
  });

  test('one segment: parsed in place, handshake set, state kept only for the watch', () => {
    const f = new TcpFeed();
    f.syn();
    f.client(0, REC);
    expectParsed(f);
    expect(f.meta.handshake?.hellos).toBe(1);
    expect(f.meta.handshake?.ja4).toMatch(/^t13d2912/);
    expect(f.stats['tls.hello_multi_segment']).toBeUndefined();
  });

  test('split at every byte boundary, in order and reversed', () => {
    for (let cut = 1; cut < REC.length; cut++) {
      for (const reversed of [false, true]) {
        const f = new TcpFeed();
        f.syn();
        const a = REC.subarray(0, cut);
        const b = REC.subarray(cut);
        if (reversed) {
          f.client(cut, b);
          f.client(0, a);
        } else {
          f.client(0, a);
          f.client(cut, b);
        }
        expectParsed(f);
        expect(f.stats['tls.hello_multi_segment']).toBe(1);
      }
    }
  });

  test('random segmentation, order, retransmissions and overlaps (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: REC.length - 1 }), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.array(fc.tuple(fc.nat(REC.length - 1), fc.integer({ min: 1, max: 120 })), { maxLength: 4 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (cuts, order, overlaps, isn) => {
          const bounds = [0, ...cuts.sort((x, y) => x - y), REC.length];
          const pieces: [number, Buffer][] = [];
          for (let i = 0; i + 1 < bounds.length; i++) pieces.push([bounds[i]!, REC.subarray(bounds[i]!, bounds[i + 1]!)]);
          // Overlapping re-sent ranges with the same bytes (retransmissions with new cut points).
          for (const [s, n] of overlaps) pieces.push([s, REC.subarray(s, Math.min(REC.length, s + n))]);
          // Shuffle deterministically from `order`, then duplicate some.
          for (let i = pieces.length - 1; i > 0; i--) {
            const j = (order[i % Math.max(1, order.length)] ?? 0) % (i + 1);
            [pieces[i], pieces[j]] = [pieces[j]!, pieces[i]!];
          }
          const f = new TcpFeed(isn);
          f.syn();
          for (const [rel, data] of pieces) f.client(rel, data);
          expectParsed(f);
        },
      ),
      { numRuns: 400 },
    );
  });

  test('sequence numbers wrapping past 2^32', () => {
    const f = new TcpFeed(0xffffff80);
    f.syn();
    f.client(100, REC.subarray(100));
    f.client(0, REC.subarray(0, 100));
    expectParsed(f);
  });

  test('a hello over several TLS records and segments', () => {
    const recs = toRecords(OPENSSL_HELLO, 50);
    const f = new TcpFeed();
    f.syn();
    f.client(0, recs.subarray(0, 77));
    f.client(77, recs.subarray(77));
    expectParsed(f);
    expect(f.stats['tls.hello_multi_record']).toBe(1);
  });

  test('a record header split over records of 1 byte each', () => {
    const f = new TcpFeed();
    f.syn();
    f.client(0, toRecords(OPENSSL_HELLO, 1));
    expectParsed(f);
  });

  test('a post-quantum sized hello (2 KB key share) in two segments', () => {
    const big = buildHello({ ciphers: [0x1301], extensions: [{ type: 0, body: sniBody('chatgpt.com') }, { type: 0x33, body: Buffer.alloc(1220, 3) }] });
    const rec = toRecords(big);
    const f = new TcpFeed();
    f.syn();
    f.client(0, rec.subarray(0, 1448));
    f.client(1448, rec.subarray(1448));
    expectParsed(f, 'chatgpt.com');
  });
});

describe('gaps, limits and failures are counted reasons', () => {
  test('missing middle segment, server answers: tls.gap, no SNI', () => {
    const f = new TcpFeed();
    f.syn();
    f.client(0, REC.subarray(0, 100));
    f.client(200, REC.subarray(200));
    f.server(REC.length, Buffer.from('160303', 'hex'));
    expect(f.meta.handshake).toBeUndefined();
    expect(f.stats['tls.gap']).toBe(1);
    expect(f.meta.inspect).toBe(false);
    expect(f.meta.dissectState).toBeUndefined();
  });

  test('first segment missing, no SYN seen: client ISN from the SYN-ACK', () => {
    const f = new TcpFeed();
    f.packet(false, 5000, f.isn + 1, 0x12); // SYN-ACK
    f.client(100, REC.subarray(100));
    f.server(REC.length, Buffer.alloc(10, 0x16));
    expect(f.stats['tls.gap']).toBe(1);
    expect(f.meta.handshake).toBeUndefined();
  });

  test('flow ends with a hole: gap; without a hole: hello_incomplete', () => {
    const a = new TcpFeed();
    a.syn();
    a.client(0, REC.subarray(0, 50));
    a.client(100, REC.subarray(100, 150));
    a.end();
    expect(a.stats['tls.gap']).toBe(1);
    const b = new TcpFeed();
    b.syn();
    b.client(0, REC.subarray(0, 50));
    b.end();
    expect(b.stats['tls.hello_incomplete']).toBe(1);
  });

  test('maxSegments bounds out-of-order pieces', () => {
    const f = new TcpFeed(1000, { maxSegments: 4 });
    f.syn();
    for (let i = 1; i <= 6; i++) f.client(i * 20, REC.subarray(i * 20, i * 20 + 10));
    expect(f.stats['tls.too_many_segments']).toBe(1);
    expect(f.meta.inspect).toBe(false);
  });

  test('maxHelloBytes bounds the hello', () => {
    const f = new TcpFeed(1000, { maxHelloBytes: 200 });
    f.syn();
    f.client(0, REC.subarray(0, 150));
    f.client(150, REC.subarray(150));
    expect(f.stats['tls.hello_too_large']).toBe(1);
    expect(f.meta.handshake).toBeUndefined();
  });

  test('a record longer than 2^14', () => {
    const f = new TcpFeed();
    f.syn();
    const r = Buffer.from(REC);
    r.writeUInt16BE(0x4100, 3);
    f.client(0, r);
    expect(f.stats['tls.record_too_large']).toBe(1);
  });

  test('plain HTTP is not TLS: bypassed after the scan budget', () => {
    const f = new TcpFeed();
    f.syn();
    let rel = 0;
    for (let i = 0; i < 8 && f.meta.inspect; i++) {
      const d = Buffer.from(`GET /${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
      f.client(rel, d);
      rel += d.length;
    }
    expect(f.meta.inspect).toBe(false);
    expect(f.stats['tls.not_tls']).toBe(1);
  });

  test('mutated streams never throw and never escape as internal errors', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(REC.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: REC.length - 1 }),
        (muts, cut) => {
          const r = Buffer.from(REC);
          for (const [i, v] of muts) r[i] = v;
          const f = new TcpFeed();
          f.syn();
          f.client(cut, r.subarray(cut));
          f.client(0, r.subarray(0, cut));
          f.end();
          expect(f.stats['dissect.internal_error']).toBeUndefined();
          expect(f.meta.dissectState).toBeUndefined();
        },
      ),
      { numRuns: 1500 },
    );
  });
});

describe('after the hello', () => {
  test('duplicate hello in a later packet: counted, first SNI kept, other names in sniAll', () => {
    const other = toRecords(buildHello({ ciphers: [0x1301], extensions: [{ type: 0, body: sniBody('other.example') }] }));
    const f = new TcpFeed();
    f.syn();
    f.client(0, REC);
    f.client(REC.length, REC);
    f.client(2 * REC.length, other);
    expect(f.meta.handshake?.sni).toBe('localhost');
    expect(f.meta.handshake?.hellos).toBe(3);
    expect(f.meta.handshake?.sniAll).toEqual(['localhost', 'other.example']);
    expect(f.stats['tls.hello_duplicate']).toBe(2);
  });

  test('application data ends inspection; entropy only when enabled, no bytes kept', () => {
    const app = Buffer.concat([Buffer.from([0x17, 0x03, 0x03, 0x04, 0x00]), Buffer.from(Array.from({ length: 1024 }, (_, i) => (i * 151 + 7) & 0xff))]);
    const ccs = Buffer.from([0x14, 0x03, 0x03, 0x00, 0x01, 0x01]);
    for (const on of [false, true]) {
      const f = new TcpFeed(1000, { payloadEntropy: on });
      f.syn();
      f.client(0, REC);
      expect(f.meta.inspect).toBe(true);
      f.server(REC.length, Buffer.alloc(100, 0x16));
      f.client(REC.length, Buffer.concat([ccs, app]));
      expect(f.meta.inspect).toBe(false);
      expect(f.meta.dissectState).toBeUndefined();
      if (on) expect(f.meta.payloadEntropy).toBeCloseTo(8, 1);
      else expect(f.meta.payloadEntropy).toBeUndefined();
    }
  });

  test('inspection stops after maxInspectPackets client packets', () => {
    const f = new TcpFeed(1000, { maxInspectPackets: 3 });
    f.syn();
    f.client(0, REC);
    const ke = Buffer.from([0x16, 0x03, 0x03, 0x00, 0x04, 0x10, 0, 0, 0]);
    let rel = REC.length;
    for (let i = 0; i < 5 && f.meta.inspect; i++) {
      f.client(rel, ke);
      rel += ke.length;
    }
    expect(f.meta.inspect).toBe(false);
    expect(f.meta.handshake?.sni).toBe('localhost');
  });
});

describe('TLS after a plaintext start, SSLv2', () => {
  test('SMTP STARTTLS', () => {
    const f = new TcpFeed();
    f.meta.respPort = 25;
    f.syn();
    const ehlo = Buffer.from('EHLO client\r\n');
    const st = Buffer.from('STARTTLS\r\n');
    f.client(0, ehlo);
    f.server(ehlo.length, Buffer.from('250 ok\r\n'));
    f.client(ehlo.length, st);
    f.client(ehlo.length + st.length, REC);
    expectParsed(f);
    expect(f.stats['tls.after_plaintext']).toBe(1);
  });

  test('SSLv2-compatible hello is counted and fingerprinted', () => {
    const v2 = Buffer.from('802201030100090000001000002f010080000035' + '11'.repeat(16), 'hex');
    const f = new TcpFeed();
    f.syn();
    f.client(0, v2);
    expect(f.stats['tls.sslv2_hello']).toBe(1);
    expect(f.meta.handshake?.sni).toBeUndefined();
    expect(f.meta.handshake?.ja4).toMatch(/^t10i0200/);
    expect(f.meta.inspect).toBe(false);
  });
});
