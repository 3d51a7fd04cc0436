import { describe, expect, test } from 'vitest';
import { ja4, ja4Parts, toHandshake } from '../../src/dissect/ja4.js';
import { parseClientHello } from '../../src/dissect/tls/parse.js';
import type { ClientHello } from '../../src/dissect/tls/parse.js';
import { OPENSSL_HELLO } from './hellos.js';

/** The worked example of the public JA4 specification (JA4.md "Example"), plus GREASE. */
function specExample(): ClientHello {
  return {
    legacyVersion: 0x0303,
    cipherSuites: [0x2a2a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035],
    extensions: [0x0a0a, 0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015, 0xfafa],
    sni: 'example.com',
    sniAll: ['example.com'],
    alpn: ['h2', 'http/1.1'],
    supportedVersions: [0x5a5a, 0x0304, 0x0303],
    signatureAlgorithms: [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601],
    esni: false,
  };
}

describe('JA4 (public specification)', () => {
  test('the specification example, GREASE ignored', () => {
    expect(ja4(specExample(), 't')).toBe('t13d1516h2_8daaf6152771_e5627efa2ab1');
  });

  test('QUIC prefix, no SNI, no ALPN', () => {
    const h = specExample();
    h.extensions = h.extensions.filter((e) => e !== 0x0000 && e !== 0x0010);
    delete h.sni;
    h.alpn = [];
    expect(ja4(h, 'q')).toBe('q13i151400_8daaf6152771_e5627efa2ab1');
  });

  test('without signature algorithms the list ends without "_" (spec: 6d807ffa2a79)', () => {
    const h = specExample();
    h.signatureAlgorithms = [];
    expect(ja4(h, 't').split('_')[2]).toBe('6d807ffa2a79');
  });

  test('version from legacy_version without supported_versions; unknown is 00', () => {
    const h = specExample();
    h.supportedVersions = [];
    h.legacyVersion = 0x0301;
    expect(ja4(h, 't').slice(1, 3)).toBe('10');
    h.legacyVersion = 0x1234;
    expect(ja4(h, 't').slice(1, 3)).toBe('00');
  });

  test('ALPN: first and last character; hex when not alphanumeric', () => {
    const h = specExample();
    h.alpn = ['http/1.1'];
    expect(ja4(h, 't').slice(8, 10)).toBe('h1');
    h.alpn = ['\\xab\\xcd']; // escaped non-printable bytes 0xab 0xcd → hex "abcd"
    expect(ja4(h, 't').slice(8, 10)).toBe('ad');
    h.alpn = ['x'];
    expect(ja4(h, 't').slice(8, 10)).toBe('xx');
  });

  test('counts cap at 99, empty lists hash to zeros', () => {
    const h = specExample();
    h.cipherSuites = Array.from({ length: 120 }, (_, i) => 0x0100 + i);
    expect(ja4(h, 't').slice(4, 6)).toBe('99');
    h.cipherSuites = [];
    h.extensions = [];
    h.alpn = [];
    expect(ja4(h, 't')).toBe('t13i000000_000000000000_000000000000');
  });

  test('toHandshake of the real OpenSSL hello', () => {
    const r = parseClientHello(OPENSSL_HELLO, 0, OPENSSL_HELLO.length);
    if (!r.ok) throw new Error(r.reason);
    const hs = toHandshake(r.hello, 'tls');
    expect(hs).toMatchObject({ transport: 'tls', sni: 'localhost', legacyVersion: '0x0303', tlsVersions: ['0x0304', '0x0303', '0x0302', '0x0301'], hellos: 1, esni: false });
    expect(hs.ja4).toMatch(/^t13d291200_[0-9a-f]{12}_[0-9a-f]{12}$/);
    expect(hs.alpn).toBeUndefined();
    expect(toHandshake(r.hello, 'quic', 1).quicVersion).toBe('0x00000001');
  });
});

describe('JA4 cache', () => {
  test('cached and uncached computations agree, and differ when a list changes', () => {
    const h = specExample();
    const first = ja4(h, 't');
    expect(ja4(h, 't')).toBe(first);
    const { a, bc } = ja4Parts(h);
    expect(`${a}_${bc}`).toBe(first);
    h.signatureAlgorithms = [...h.signatureAlgorithms].reverse();
    const changed = ja4(h, 't');
    expect(changed.split('_')[2]).not.toBe(first.split('_')[2]);
    expect(changed).toBe(`${ja4Parts(h).a}_${ja4Parts(h).bc}`);
  });
});
