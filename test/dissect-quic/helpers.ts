/** Test helpers: build protected client Initials (RFC 9001 §5) and feed them as packets. */
import { createCipheriv } from 'node:crypto';
import { PacketView } from '../../src/decode/view.js';
import type { FlowMeta } from '../../src/records.js';
import { clientInitialKeys, versionProfile, QUIC_V1 } from '../../src/dissect/quic/keys.js';
import { decryptInitial, initialLayout, parseFrames, parseLongHeader } from '../../src/dissect/quic/parse.js';
import type { CryptoFrag } from '../../src/dissect/quic/parse.js';
import { RFC_DCID, RFC9001_CLIENT_INITIAL } from './rfc-vectors.js';

export function varint(v: number): Buffer {
  if (v < 0x40) return Buffer.of(v);
  if (v < 0x4000) return Buffer.of(0x40 | (v >> 8), v & 0xff);
  const b = Buffer.alloc(4);
  b.writeUInt32BE((0x80000000 | v) >>> 0);
  return b;
}

export function cryptoFrame(offset: number, data: Buffer): Buffer {
  return Buffer.concat([Buffer.of(0x06), varint(offset), varint(data.length), data]);
}

/** A protected client Initial with a 2-byte packet number, payload padded to ≥ 40 bytes. */
export function clientInitial(version: number, dcid: Buffer, pn: number, frames: Buffer, token = Buffer.alloc(0)): Buffer {
  const profile = versionProfile(version);
  if (profile === undefined) throw new Error('no profile');
  const keys = clientInitialKeys(profile, dcid);
  const payload = frames.length < 40 ? Buffer.concat([frames, Buffer.alloc(40 - frames.length)]) : frames;
  const pnLen = 2;
  const first = 0xc0 | (profile.initialType << 4) | (pnLen - 1);
  const scid = Buffer.from('0a0b0c0d', 'hex');
  const vbuf = Buffer.alloc(4);
  vbuf.writeUInt32BE(version >>> 0);
  const lengthField = pnLen + payload.length + 16;
  const header = Buffer.concat([
    Buffer.of(first), vbuf, Buffer.of(dcid.length), dcid, Buffer.of(scid.length), scid,
    varint(token.length), token, varint(lengthField).length === 1 ? Buffer.of(0x40, lengthField) : varint(lengthField),
    Buffer.of((pn >> 8) & 0xff, pn & 0xff),
  ]);
  const nonce = Buffer.from(keys.iv);
  nonce[10] = (nonce[10] ?? 0) ^ ((pn >> 8) & 0xff);
  nonce[11] = (nonce[11] ?? 0) ^ (pn & 0xff);
  const gcm = createCipheriv('aes-128-gcm', keys.key, nonce);
  gcm.setAAD(header);
  const ct = Buffer.concat([gcm.update(payload), gcm.final(), gcm.getAuthTag()]);
  const pkt = Buffer.concat([header, ct]);
  const pnOff = header.length - pnLen;
  const ecb = createCipheriv('aes-128-ecb', keys.hp, null);
  const mask = ecb.update(pkt.subarray(pnOff + 4, pnOff + 20));
  pkt[0] = (pkt[0] ?? 0) ^ ((mask[0] ?? 0) & 0x0f);
  for (let i = 0; i < pnLen; i++) pkt[pnOff + i] = (pkt[pnOff + i] ?? 0) ^ (mask[1 + i] ?? 0);
  return pkt;
}

/** A Retry from the server naming `newCid` (integrity tag not checked by llmtap: zeros). */
export function retry(version: number, clientScid: Buffer, newCid: Buffer): Buffer {
  const profile = versionProfile(version);
  if (profile === undefined) throw new Error('no profile');
  const vbuf = Buffer.alloc(4);
  vbuf.writeUInt32BE(version >>> 0);
  return Buffer.concat([
    Buffer.of(0xc0 | (profile.retryType << 4)), vbuf, Buffer.of(clientScid.length), clientScid,
    Buffer.of(newCid.length), newCid, Buffer.from('token-bytes'), Buffer.alloc(16),
  ]);
}

export function newMeta(): FlowMeta {
  return { flowId: 1, proto: 17, respPort: 443, origPort: 50000, inspect: true };
}

/** A PacketView whose payload sits at an offset inside a larger buffer (as in a capture chunk). */
export function viewOf(payload: Buffer, fromOrig = true): PacketView {
  const v = new PacketView();
  const pre = 37;
  // Bytes after the payload that a parser must never read as part of it.
  v.buf = Buffer.concat([Buffer.alloc(pre, 0xee), payload, Buffer.alloc(64, 0xc3)]);
  v.payloadOff = pre;
  v.payloadLen = payload.length;
  v.payloadWireLen = payload.length;
  v.proto = 17;
  v.fromOrig = fromOrig;
  return v;
}

/** The ClientHello bytes of the RFC 9001 A.2 packet, decrypted by the code under test. */
export function rfcHello(): Buffer {
  const pkt = Buffer.from(RFC9001_CLIENT_INITIAL, 'hex');
  const h = parseLongHeader(pkt, 0, pkt.length);
  if (!h.ok) throw new Error(h.reason);
  const lay = initialLayout(pkt, h.value, pkt.length);
  if (!lay.ok) throw new Error(lay.reason);
  const profile = versionProfile(QUIC_V1);
  if (profile === undefined) throw new Error('v1');
  const dec = decryptInitial(pkt, 0, lay.value, clientInitialKeys(profile, Buffer.from(RFC_DCID, 'hex')), -1);
  if (!dec.ok) throw new Error(dec.reason);
  const frags: CryptoFrag[] = [];
  if (parseFrames(dec.value.plaintext, frags) !== undefined) throw new Error('frames');
  const f = frags[0];
  if (f === undefined) throw new Error('no crypto');
  return Buffer.from(dec.value.plaintext.subarray(f.start, f.end));
}

