import { describe, expect, it } from 'vitest';
import { clientInitialKeys, versionProfile, QUIC_V1, QUIC_V2 } from '../../src/dissect/quic/keys.js';
import { QuicDissector } from '../../src/dissect/quic/index.js';
import { RFC_DCID, RFC9001_CLIENT_INITIAL, RFC9369_CLIENT_INITIAL } from './rfc-vectors.js';
import { clientInitial, cryptoFrame, newMeta, retry, rfcHello, viewOf } from './helpers.js';

const dcid = Buffer.from(RFC_DCID, 'hex');

function dissector(): { d: QuicDissector; counts: Map<string, number> } {
  const counts = new Map<string, number>();
  const d = new QuicDissector({ maxCryptoBytes: 65536 }, { count: (r) => counts.set(r, (counts.get(r) ?? 0) + 1) });
  return { d, counts };
}

describe('Initial keys (RFC 9001 A.1, RFC 9369 A.1)', () => {
  it('derives the v1 client keys', () => {
    const p = versionProfile(QUIC_V1);
    expect(p).toBeDefined();
    if (p === undefined) return;
    const k = clientInitialKeys(p, dcid);
    expect(k.key.toString('hex')).toBe('1f369613dd76d5467730efcbe3b1a22d');
    expect(k.iv.toString('hex')).toBe('fa044b2f42a3fd3b46fb255c');
    expect(k.hp.toString('hex')).toBe('9f50449e04a0e810283a1e9933adedd2');
  });
  it('derives the v2 client keys', () => {
    const p = versionProfile(QUIC_V2);
    if (p === undefined) throw new Error('v2');
    const k = clientInitialKeys(p, dcid);
    expect(k.key.toString('hex')).toBe('8b1a0bc121284290a29e0971b5cd045d');
    expect(k.iv.toString('hex')).toBe('91f73e2351d8fa91660e909f');
    expect(k.hp.toString('hex')).toBe('45b95e15235d6f45a6b19cbcb0294ba9');
  });
  it('knows drafts 27–34 and rejects others', () => {
    for (let d = 27; d <= 34; d++) expect(versionProfile(0xff000000 + d)).toBeDefined();
    expect(versionProfile(0xff000016)).toBeUndefined();
    expect(versionProfile(0x12345678)).toBeUndefined();
    expect(versionProfile(0x1a2a3a4a)?.reserved).toBe(true);
  });
});

describe('QuicDissector on the RFC client Initials', () => {
  for (const [name, hex, version] of [
    ['v1 (RFC 9001 A.2)', RFC9001_CLIENT_INITIAL, '0x00000001'],
    ['v2 (RFC 9369 A.2)', RFC9369_CLIENT_INITIAL, '0x6b3343cf'],
  ] as const) {
    it(`reads SNI and ALPN from ${name}`, () => {
      const { d, counts } = dissector();
      const meta = newMeta();
      d.onPacket(viewOf(Buffer.from(hex, 'hex')), meta);
      expect(meta.handshake?.sni).toBe('example.com');
      expect(meta.handshake?.alpn).toEqual(['alpn']);
      expect(meta.handshake?.transport).toBe('quic');
      expect(meta.handshake?.quicVersion).toBe(version);
      expect(meta.handshake?.ja4?.startsWith('q13d')).toBe(true);
      expect(meta.inspect).toBe(false);
      expect(meta.dissectState).toBeUndefined();
      // success is counted (decrypted Initials, parsed hello); no failure reason is
      expect([...counts.keys()].sort()).toEqual(['quic.decrypted', 'quic.hello_parsed']);
    });
  }

  it('counts a corrupted tag as decrypt_failed and keeps inspecting', () => {
    const { d, counts } = dissector();
    const meta = newMeta();
    const pkt = Buffer.from(RFC9001_CLIENT_INITIAL, 'hex');
    pkt[pkt.length - 3] = (pkt[pkt.length - 3] ?? 0) ^ 1;
    d.onPacket(viewOf(pkt), meta);
    expect(meta.handshake).toBeUndefined();
    expect(counts.get('quic.decrypt_failed')).toBe(1);
    expect(meta.inspect).toBe(true);
  });

  it('ignores server-direction Initials once the client is known', () => {
    const { d, counts } = dissector();
    const meta = newMeta();
    const hello = rfcHello();
    const half = hello.length >> 1;
    d.onPacket(viewOf(clientInitial(QUIC_V1, dcid, 0, cryptoFrame(0, hello.subarray(0, half))), true), meta);
    // A "server" packet that would complete the hello if it were trusted.
    d.onPacket(viewOf(clientInitial(QUIC_V1, dcid, 1, cryptoFrame(half, hello.subarray(half))), false), meta);
    expect(meta.handshake).toBeUndefined();
    d.onPacket(viewOf(clientInitial(QUIC_V1, dcid, 1, cryptoFrame(half, hello.subarray(half))), true), meta);
    expect(meta.handshake?.sni).toBe('example.com');
    expect([...counts.keys()].filter((k) => k !== 'quic.decrypted' && k !== 'quic.hello_parsed')).toEqual([]);
  });

  it('follows a Retry to the new DCID', () => {
    const { d } = dissector();
    const meta = newMeta();
    const hello = rfcHello();
    const cid2 = Buffer.from('11223344556677889900aabbccddeeff', 'hex');
    d.onPacket(viewOf(clientInitial(QUIC_V1, dcid, 0, cryptoFrame(0, hello.subarray(0, 100)))), meta);
    d.onPacket(viewOf(retry(QUIC_V1, Buffer.from('0a0b0c0d', 'hex'), cid2), false), meta);
    expect(meta.handshake).toBeUndefined();
    d.onPacket(viewOf(clientInitial(QUIC_V1, cid2, 1, cryptoFrame(0, hello), Buffer.from('token-bytes'))), meta);
    expect(meta.handshake?.sni).toBe('example.com');
  });

  it('starts over when the client switches version after Version Negotiation', () => {
    const { d } = dissector();
    const meta = newMeta();
    const hello = rfcHello();
    d.onPacket(viewOf(clientInitial(0xff00001d, dcid, 0, cryptoFrame(0, hello.subarray(0, 60)))), meta);
    d.onPacket(viewOf(Buffer.from('80000000000408a1b2c3d4000000010a0a0a0a', 'hex'), false), meta); // VN
    d.onPacket(viewOf(clientInitial(QUIC_V1, dcid, 0, cryptoFrame(60, hello.subarray(60)))), meta);
    expect(meta.handshake).toBeUndefined(); // the draft-29 half is not mixed into the v1 stream
    d.onPacket(viewOf(clientInitial(QUIC_V1, dcid, 1, cryptoFrame(0, hello.subarray(0, 60)))), meta);
    expect(meta.handshake?.sni).toBe('example.com');
    expect(meta.handshake?.quicVersion).toBe('0x00000001');
  });

  it('decrypts a reserved (greased) version encrypted like v1', () => {
    const { d } = dissector();
    const meta = newMeta();
    d.onPacket(viewOf(clientInitial(0x3a4a5a6a, dcid, 0, cryptoFrame(0, rfcHello()))), meta);
    expect(meta.handshake?.sni).toBe('example.com');
    expect(meta.handshake?.quicVersion).toBe('0x3a4a5a6a');
  });

  it('counts an unsupported version and stops inspecting', () => {
    const { d, counts } = dissector();
    const meta = newMeta();
    const pkt = Buffer.from(RFC9001_CLIENT_INITIAL, 'hex');
    pkt.writeUInt32BE(0xff000016, 1);
    d.onPacket(viewOf(pkt), meta);
    expect(counts.get('quic.unsupported_version')).toBe(1);
    expect(meta.inspect).toBe(false);
  });

  it('tells RTP (top bit, no fixed bit) from an unknown QUIC version', () => {
    const { d, counts } = dissector();
    const meta = newMeta();
    d.onPacket(viewOf(Buffer.from('80e0a1b20000ea6012345678' + '00'.repeat(160), 'hex')), meta);
    expect(counts.get('quic.not_quic')).toBe(1);
    expect(meta.inspect).toBe(false);
  });

  it('reports a gap at flow end, and a hello over the bound', () => {
    const { d, counts } = dissector();
    const meta = newMeta();
    const hello = rfcHello();
    d.onPacket(viewOf(clientInitial(QUIC_V1, dcid, 0, cryptoFrame(50, hello.subarray(50)))), meta);
    d.onFlowEnd(meta);
    expect(counts.get('quic.crypto_gap')).toBe(1);
    expect(meta.dissectState).toBeUndefined();

    const small = new QuicDissector({ maxCryptoBytes: 128 }, { count: (r) => counts.set(r, 1) });
    const m2 = newMeta();
    small.onPacket(viewOf(clientInitial(QUIC_V1, dcid, 0, cryptoFrame(0, hello.subarray(0, 100)))), m2);
    expect(counts.get('quic.crypto_too_long')).toBe(1);
    expect(m2.inspect).toBe(false);
  });

  it('gives up on short-header traffic without an Initial', () => {
    const { d, counts } = dissector();
    const meta = newMeta();
    d.onPacket(viewOf(Buffer.from('4100112233445566778899aabbccddeeff00112233', 'hex')), meta);
    expect(counts.get('quic.no_initial')).toBe(1);
    expect(meta.inspect).toBe(false);
  });
});

