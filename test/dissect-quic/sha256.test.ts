import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { clientInitialKeys, clientInitialKeysNode, versionProfile, QUIC_V1, QUIC_V2 } from '../../src/dissect/quic/keys.js';
import { hmac, hmacKey, MAX_HMAC_MSG } from '../../src/dissect/quic/sha256.js';

function tag(key: Buffer, msg: Buffer, n = 32): string {
  const out = Buffer.alloc(n);
  hmac(hmacKey(key), msg, 0, msg.length, out);
  return out.toString('hex');
}

describe('HMAC-SHA-256 for Initial keys', () => {
  it('RFC 4231 test case 2 (key "Jefe")', () => {
    expect(tag(Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?'))).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it('equals node:crypto for every message length it takes, keys of 0–64 bytes, at an offset', () => {
    let seed = 1;
    const byte = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
    for (let klen = 0; klen <= 64; klen += 4) {
      const key = Buffer.from(Array.from({ length: klen }, byte));
      for (let len = 0; len <= MAX_HMAC_MSG; len++) {
        const buf = Buffer.from(Array.from({ length: len + 7 }, byte));
        const out = Buffer.alloc(32);
        hmac(hmacKey(key), buf, 7, len, out);
        expect(out.toString('hex')).toBe(createHmac('sha256', key).update(buf.subarray(7)).digest('hex'));
      }
    }
  });

  it('Initial keys equal the node:crypto derivation for v1 and v2, DCIDs of 0–20 bytes', () => {
    for (const v of [QUIC_V1, QUIC_V2]) {
      const p = versionProfile(v);
      if (p === undefined) throw new Error('no profile');
      for (let n = 0; n <= 20; n++) {
        const dcid = Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + n) & 255));
        const a = clientInitialKeys(p, dcid);
        const b = clientInitialKeysNode(p, dcid);
        expect([a.key.toString('hex'), a.iv.toString('hex'), a.hp.toString('hex')]).toEqual([
          b.key.toString('hex'),
          b.iv.toString('hex'),
          b.hp.toString('hex'),
        ]);
      }
    }
  });
});
