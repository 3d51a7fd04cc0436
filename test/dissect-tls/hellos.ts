/**
 * ClientHello bytes for the unit tests.
 *
 * OPENSSL_HELLO_RECORD: a real TLS record carrying an OpenSSL 3 ClientHello to "localhost"
 * (Suricata-verify capture `tls-duplicate-hello`, frame 7, TCP payload; 297 bytes).
 */
export const OPENSSL_HELLO_RECORD = Buffer.from(
  [
    // record: handshake(0x16) legacy_record_version 0x0301 length 0x0124 (292)
    // handshake: client_hello(01) length 0x000120 (288), legacy_version 0x0303, random(32) ...
    '16 03 01 01 24 01 00 01 20 03 03 39 a5 03 49 4c',
    '04 6e 85 56 8a fb 48 0f ae b9 1f b8 61 a4 79 b4',
    // ... random ends, session_id length 0x00, cipher_suites length 0x003a (29 suites)
    'f9 ef 85 df a6 08 44 a0 b8 6f 67 00 00 3a 13 02',
    '13 03 13 01 13 04 c0 2c cc a9 c0 ad c0 0a c0 2b',
    'c0 ac c0 09 c0 30 cc a8 c0 14 c0 2f c0 13 00 9d',
    'c0 9d 00 35 00 9c c0 9c 00 2f 00 9f cc aa c0 9f',
    // ... suites end; compression 01 00; extensions length 0x00bd; status_request(0005)
    '00 39 00 9e c0 9e 00 33 01 00 00 bd 00 05 00 05',
    // supported_groups(000a) ec_point_formats(000b)
    '01 00 00 00 00 00 0a 00 04 00 02 00 17 00 0b 00',
    // signature_algorithms(000d) length 0x20, list 0x1e (15 schemes)
    '02 01 00 00 0d 00 20 00 1e 04 01 08 09 08 04 04',
    '03 08 07 05 01 08 0a 08 05 05 03 06 01 08 0b 08',
    // encrypt_then_mac(0016) extended_master_secret(0017) session_ticket(0023)
    '06 06 03 02 01 02 03 00 16 00 00 00 17 00 00 00',
    // key_share(0033) secp256r1 (0x0017) 65-byte point
    '23 00 00 00 33 00 47 00 45 00 17 00 41 04 51 9c',
    '7a a7 e7 b5 16 3a 55 d3 d1 16 c2 93 f7 17 b1 23',
    '90 9e 9b da 1b f2 56 97 2c 3d db 2b 73 0d b0 01',
    '6c 13 ae 75 25 5b 38 d1 c7 59 1e 36 11 38 1e 20',
    // supported_versions(002b): 0304 0303 0302 0301
    'e6 14 ee 9c ba 94 02 da e5 ea 61 59 e7 49 00 2b',
    // renegotiation_info(ff01), server_name(0000) list 0x0c host_name(00) len 9 "localhost"
    '00 09 08 03 04 03 03 03 02 03 01 ff 01 00 01 00',
    '00 00 00 0e 00 0c 00 00 09 6c 6f 63 61 6c 68 6f',
    // psk_key_exchange_modes(002d)
    '73 74 00 2d 00 03 02 01 00',
  ]
    .join(' ')
    .replace(/ /g, ''),
  'hex',
);

/** The handshake message inside OPENSSL_HELLO_RECORD (record header stripped). */
export const OPENSSL_HELLO = OPENSSL_HELLO_RECORD.subarray(5);

export interface HelloSpec {
  legacyVersion?: number;
  ciphers: number[];
  /** Extensions in wire order: type and body. */
  extensions: { type: number; body: Buffer }[];
}

function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v & 0xffff);
  return b;
}

/** Build a ClientHello handshake message (RFC 8446 §4.1.2) from fields. */
export function buildHello(spec: HelloSpec): Buffer {
  const ext = Buffer.concat(spec.extensions.map((e) => Buffer.concat([u16(e.type), u16(e.body.length), e.body])));
  const cs = Buffer.concat(spec.ciphers.map(u16));
  const body = Buffer.concat([
    u16(spec.legacyVersion ?? 0x0303),
    Buffer.alloc(32, 7),
    Buffer.from([0]),
    u16(cs.length),
    cs,
    Buffer.from([1, 0]),
    u16(ext.length),
    ext,
  ]);
  return Buffer.concat([Buffer.from([1, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]), body]);
}

export function sniBody(...names: string[]): Buffer {
  const entries = Buffer.concat(names.map((n) => Buffer.concat([Buffer.from([0]), u16(n.length), Buffer.from(n, 'latin1')])));
  return Buffer.concat([u16(entries.length), entries]);
}

export function alpnBody(...protos: string[]): Buffer {
  const list = Buffer.concat(protos.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'latin1')])));
  return Buffer.concat([u16(list.length), list]);
}

export function versionsBody(...v: number[]): Buffer {
  return Buffer.concat([Buffer.from([v.length * 2]), ...v.map(u16)]);
}

export function sigalgsBody(...v: number[]): Buffer {
  return Buffer.concat([u16(v.length * 2), ...v.map(u16)]);
}

/** ECH outer body: type 0, HPKE suite, config id, enc, payload (draft-ietf-tls-esni §5). */
export function echOuterBody(encLen: number, payloadLen: number): Buffer {
  return Buffer.concat([Buffer.from([0, 0, 1, 0, 1, 0x42]), u16(encLen), Buffer.alloc(encLen, 1), u16(payloadLen), Buffer.alloc(payloadLen, 2)]);
}

/** Wrap handshake bytes into TLS records of at most `maxFragment` bytes each. */
export function toRecords(msg: Buffer, maxFragment = 16384): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < msg.length; i += maxFragment) {
    const frag = msg.subarray(i, Math.min(msg.length, i + maxFragment));
    parts.push(Buffer.from([0x16, 0x03, 0x01, frag.length >> 8, frag.length & 0xff]), frag);
  }
  return Buffer.concat(parts);
}
