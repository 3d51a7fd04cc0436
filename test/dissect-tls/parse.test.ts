import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { parseClientHello, isGrease } from '../../src/dissect/tls/parse.js';
import { classifyEch } from '../../src/dissect/tls/ech.js';
import { parseSsl2Hello, looksLikeSsl2Hello } from '../../src/dissect/tls/ssl2.js';
import { OPENSSL_HELLO, alpnBody, buildHello, echOuterBody, sniBody } from './hellos.js';

describe('parseClientHello on a real OpenSSL hello', () => {
  test('fields', () => {
    const r = parseClientHello(OPENSSL_HELLO, 0, OPENSSL_HELLO.length);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const h = r.hello;
    expect(h.legacyVersion).toBe(0x0303);
    expect(h.cipherSuites.length).toBe(29);
    expect(h.cipherSuites.slice(0, 3)).toEqual([0x1302, 0x1303, 0x1301]);
    expect(h.extensions).toEqual([0x0005, 0x000a, 0x000b, 0x000d, 0x0016, 0x0017, 0x0023, 0x0033, 0x002b, 0xff01, 0x0000, 0x002d]);
    expect(h.sni).toBe('localhost');
    expect(h.sniAll).toEqual(['localhost']);
    expect(h.alpn).toEqual([]);
    expect(h.supportedVersions).toEqual([0x0304, 0x0303, 0x0302, 0x0301]);
    expect(h.signatureAlgorithms.length).toBe(15);
    expect(h.signatureAlgorithms[0]).toBe(0x0401);
    expect(h.ech).toBeUndefined();
    expect(h.esni).toBe(false);
    expect(h.malformed).toBeUndefined();
  });

  test('parses at an offset inside a bigger buffer', () => {
    const big = Buffer.concat([Buffer.alloc(37, 0xee), OPENSSL_HELLO, Buffer.alloc(11, 0xdd)]);
    const r = parseClientHello(big, 37, OPENSSL_HELLO.length);
    expect(r.ok && r.hello.sni).toBe('localhost');
  });

  test('every truncation returns hello_truncated, never throws', () => {
    for (let n = 0; n < OPENSSL_HELLO.length; n++) {
      const r = parseClientHello(OPENSSL_HELLO, 0, n);
      expect(r).toEqual({ ok: false, reason: 'tls.hello_truncated' });
    }
  });

  test('bad bounds and wrong message type are reasons', () => {
    expect(parseClientHello(OPENSSL_HELLO, 10, OPENSSL_HELLO.length)).toEqual({ ok: false, reason: 'tls.bad_bounds' });
    const sh = Buffer.from(OPENSSL_HELLO);
    sh[0] = 2;
    expect(parseClientHello(sh, 0, sh.length)).toEqual({ ok: false, reason: 'tls.not_client_hello' });
  });

  test('mutated hellos never throw (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(OPENSSL_HELLO.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), (muts) => {
        const b = Buffer.from(OPENSSL_HELLO);
        for (const [i, v] of muts) b[i] = v;
        const r = parseClientHello(b, 0, b.length);
        expect(typeof r.ok).toBe('boolean');
        if (!r.ok) expect(r.reason).toMatch(/^tls\.[a-z_]+$/);
      }),
      { numRuns: 2000 },
    );
  });

  test('random bytes never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (a) => {
        const b = Buffer.from(a);
        if (b.length > 0) b[0] = 1;
        parseClientHello(b, 0, b.length);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('extensions', () => {
  test('several host_names, ALPN, escaping of non-printable bytes', () => {
    const m = buildHello({
      ciphers: [0x1301],
      extensions: [
        { type: 0, body: sniBody('api.openai.com', 'b\u0001d') },
        { type: 16, body: alpnBody('h2', 'http/1.1') },
      ],
    });
    const r = parseClientHello(m, 0, m.length);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.hello.sni).toBe('api.openai.com');
    expect(r.hello.sniAll).toEqual(['api.openai.com', 'b\\x01d']);
    expect(r.hello.alpn).toEqual(['h2', 'http/1.1']);
  });

  test('a malformed ALPN keeps the SNI before it and names the reason', () => {
    const bad = alpnBody('h2');
    bad.writeUInt16BE(0xb889, 0); // list length larger than the body (as in nDPI's invalid-reads capture)
    const m = buildHello({ ciphers: [0x1301], extensions: [{ type: 0, body: sniBody('e.example') }, { type: 16, body: bad }] });
    const r = parseClientHello(m, 0, m.length);
    expect(r.ok && r.hello.sni).toBe('e.example');
    expect(r.ok && r.hello.malformed).toBe('tls.alpn_malformed');
  });

  test('no extensions block (pre-TLS 1.2 hello)', () => {
    const m = buildHello({ ciphers: [0x002f], extensions: [] });
    const short = Buffer.from(m.subarray(0, m.length - 2));
    short.writeUIntBE(short.length - 4, 1, 3);
    const r = parseClientHello(short, 0, short.length);
    expect(r.ok && r.hello.extensions).toEqual([]);
  });

  test('GREASE values are recognised (RFC 8701)', () => {
    expect([0x0a0a, 0x1a1a, 0xfafa].every(isGrease)).toBe(true);
    expect([0x0a1a, 0x1301, 0x0000, 0xfe0d].some(isGrease)).toBe(false);
  });
});

describe('ECH rule', () => {
  const cls = (b: Buffer): string => classifyEch(b, 0, b.length);
  test('GREASE sizes (enc 32, payload 144..240) are grease', () => {
    for (const p of [144, 176, 208, 240]) expect(cls(echOuterBody(32, p))).toBe('grease');
  });
  test('a payload larger than any GREASE size is a real outer hello', () => {
    expect(cls(echOuterBody(32, 272))).toBe('real');
    expect(cls(echOuterBody(32, 400))).toBe('real');
  });
  test('inner type, empty enc (after HRR) and malformed bodies are unknown', () => {
    const inner = Buffer.from([1]);
    expect(cls(inner)).toBe('unknown');
    expect(cls(echOuterBody(0, 208))).toBe('unknown');
    const cut = echOuterBody(32, 208).subarray(0, 30);
    expect(cls(cut)).toBe('unknown');
    expect(cls(Buffer.alloc(0))).toBe('unknown');
  });
  test('reported on the hello', () => {
    const m = buildHello({ ciphers: [0x1301], extensions: [{ type: 0xfe0d, body: echOuterBody(32, 176) }, { type: 0xffce, body: Buffer.alloc(4) }] });
    const r = parseClientHello(m, 0, m.length);
    expect(r.ok && r.hello.ech).toBe('grease');
    expect(r.ok && r.hello.esni).toBe(true);
  });
});

describe('SSLv2-compatible hello', () => {
  // msg_length 0x8022 (34), client_hello(01), version 0x0301, cipher_spec_length 9,
  // session_id_length 0, challenge_length 16; specs 00002f (TLS), 010080 (SSLv2 only), 000035
  const v2 = Buffer.from('802201030100090000001000002f010080000035' + '11'.repeat(16), 'hex');
  test('parsed without extensions, TLS suites kept', () => {
    expect(looksLikeSsl2Hello(v2, 0, v2.length)).toBe(true);
    const r = parseSsl2Hello(v2, 0, v2.length);
    expect(r.ok && r.hello.legacyVersion).toBe(0x0301);
    expect(r.ok && r.hello.cipherSuites).toEqual([0x002f, 0x0035]);
    expect(r.ok && r.hello.sni).toBeUndefined();
  });
  test('truncations are reasons', () => {
    for (let n = 0; n < v2.length; n++) expect(parseSsl2Hello(v2, 0, n).ok).toBe(false);
  });
});

describe('ECH public-name rule', () => {
  test('a GREASE-sized outer hello to a known ECH public name is real', () => {
    const mk = (sni: string): Buffer =>
      buildHello({ ciphers: [0x1301], extensions: [{ type: 0, body: sniBody(sni) }, { type: 0xfe0d, body: echOuterBody(32, 144) }] });
    const a = mk('cloudflare-ech.com');
    const b = mk('example.com');
    const ra = parseClientHello(a, 0, a.length);
    const rb = parseClientHello(b, 0, b.length);
    expect(ra.ok && ra.hello.ech).toBe('real');
    expect(rb.ok && rb.hello.ech).toBe('grease');
  });
});
