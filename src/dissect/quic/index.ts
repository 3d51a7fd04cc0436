/**
 * QUIC Initial dissector: finds the client's Initial packets, derives their keys from the
 * Destination Connection ID, decrypts them, reassembles the CRYPTO stream and hands the
 * ClientHello to the one TLS parser (RFC 9001 §4.1.3: QUIC carries TLS handshake messages in
 * CRYPTO frames). Then the flow is bypassed (`inspect = false`) and its state freed.
 */
import type { Handshake, FlowMeta } from '../../records.js';
import type { PacketView } from '../../decode/view.js';
import { parseClientHello } from '../tls/parse.js';
import { toHandshake } from '../ja4.js';
import { clientInitialKeys, RESERVED_PROFILES, versionProfile } from './keys.js';
import { chloSni, GQUIC_Q046, isGoogleQVersion } from './gquic.js';
import { decryptInitial, initialLayout, longPacketEnd, parseFrames, parseLongHeader } from './parse.js';
import type { CryptoFrag } from './parse.js';
import { QuicFlowState } from './state.js';
import type { DissectCounter, TlsReason } from '../reasons.js';
import { GAVE_UP, type QuicReason } from './reasons.js';

export { QUIC_REASONS } from './reasons.js';
export type { QuicReason } from './reasons.js';

/** Client Initial datagrams examined per flow before giving up (Chromium needs 2, some 3). */
export const MAX_INITIAL_DATAGRAMS = 16;
/** Client datagrams that fail to decrypt, before any succeeded, before the flow is given up. */
export const MAX_DECRYPT_FAILURES = 4;

export interface QuicDissectorOpts {
  /** Upper bound of the reassembled CRYPTO stream per flow, bytes (Suricata uses 64 KiB). */
  maxCryptoBytes: number;
}

export interface QuicDissectorDeps {
  count(reason: DissectCounter): void;
}

export class QuicDissector {
  private readonly maxCryptoBytes: number;

  constructor(
    opts: QuicDissectorOpts,
    private readonly deps: QuicDissectorDeps,
  ) {
    this.maxCryptoBytes = Math.max(64, Math.floor(opts.maxCryptoBytes));
  }

  onPacket(view: PacketView, meta: FlowMeta): void {
    if (!meta.inspect || view.payloadLen === 0) return;
    const buf = view.buf;
    const start = view.payloadOff;
    const end = Math.min(start + view.payloadLen, buf.length);
    let st = meta.dissectState instanceof QuicFlowState ? meta.dissectState : undefined;
    if (st === undefined) {
      st = new QuicFlowState(this.maxCryptoBytes);
      meta.dissectState = st;
    }
    const first = buf[start] ?? 0;
    const fromClient = st.clientFromOrig === undefined || view.fromOrig === st.clientFromOrig;

    if ((first & 0x80) === 0) {
      // Short header (1-RTT): the client only sends these after its handshake, so no
      // ClientHello will follow; a server's short packets say nothing either way.
      if (st.clientFromOrig === undefined) return this.giveUp(meta, 'quic.no_initial');
      if (fromClient && st.clientConfirmed) return this.giveUp(meta, this.incompleteReason(st));
      return;
    }
    if (end - start < 5) return this.giveUp(meta, 'quic.truncated');
    const version = buf.readUInt32BE(start + 1);
    if (version === 0) return; // Version Negotiation (server → client), RFC 9000 §17.2.1
    if (fromClient && version === GQUIC_Q046) return this.gquic(view, meta, start, end);
    // RTP and friends also set the top bit; without QUIC's fixed bit (RFC 9000 §17.2) and with
    // an unknown version it is most likely not QUIC at all.
    if ((first & 0x40) === 0 && versionProfile(version) === undefined) return this.giveUp(meta, 'quic.not_quic');
    const hdr = parseLongHeader(buf, start, end);
    if (!hdr.ok) return this.giveUp(meta, hdr.reason);

    if (!fromClient) {
      const prof = st.profile;
      if (prof !== undefined && version === st.version && hdr.value.typeBits === prof.retryType) {
        st.onRetry(buf, hdr.value.scidOff, hdr.value.scidLen);
      }
      return;
    }

    if (isGoogleQVersion(version)) return this.giveUp(meta, 'quic.gquic_unparsed');
    if (st.profile === undefined || st.version !== version) {
      const profile = versionProfile(version);
      if (profile === undefined) return this.giveUp(meta, 'quic.unsupported_version');
      // After Version Negotiation the client starts over in the new version (RFC 9000 §6.2).
      if (st.profile !== undefined) st.restart();
      st.profile = profile;
      st.version = version;
    }
    if (st.clientFromOrig === undefined) st.clientFromOrig = view.fromOrig;

    if (++st.datagrams > MAX_INITIAL_DATAGRAMS) return this.giveUp(meta, 'quic.too_many_initials');
    const stop = this.readDatagram(st, buf, start, end);
    if (stop !== undefined) return this.giveUp(meta, stop);
    this.tryHello(meta, st);
  }

  onFlowEnd(meta: FlowMeta): void {
    const st = meta.dissectState;
    if (!(st instanceof QuicFlowState)) return;
    meta.dissectState = undefined;
    if (meta.inspect && !st.crypto.empty()) this.deps.count(this.incompleteReason(st));
  }

  /** Decrypt every client Initial coalesced in one datagram; a reason when the flow is given up. */
  private readDatagram(st: QuicFlowState, buf: Buffer, start: number, end: number): QuicReason | typeof GAVE_UP | undefined {
    const profile = st.profile;
    if (profile === undefined) return 'quic.unsupported_version';
    let p = start;
    while (p < end) {
      if (((buf[p] ?? 0) & 0x80) === 0) break; // a short-header packet or datagram padding
      const h = parseLongHeader(buf, p, end);
      if (!h.ok) {
        this.deps.count(h.reason);
        break;
      }
      const hdr = h.value;
      if (hdr.version !== st.version) break; // coalesced packets share a version (RFC 9000 §12.2)
      if (hdr.typeBits !== profile.initialType) {
        p = longPacketEnd(buf, hdr, false, end);
        continue;
      }
      const lay = initialLayout(buf, hdr, end);
      if (!lay.ok) {
        this.deps.count(lay.reason);
        break;
      }
      let keys = st.keysFor(buf, hdr.dcidOff, hdr.dcidLen);
      if (keys === undefined) return 'quic.unsupported_version';
      let dec = decryptInitial(buf, p, lay.value, keys, st.largestPn);
      // A reserved version: try the other plausible key schedules before calling it a failure.
      for (let i = 1; !dec.ok && profile.reserved && !st.clientConfirmed && i < RESERVED_PROFILES.length; i++) {
        const alt = RESERVED_PROFILES[i];
        if (alt === undefined) break;
        const altKeys = clientInitialKeys(alt, buf.subarray(hdr.dcidOff, hdr.dcidOff + hdr.dcidLen));
        const altDec = decryptInitial(buf, p, lay.value, altKeys, st.largestPn);
        if (altDec.ok) {
          st.profile = alt;
          keys = altKeys;
          dec = altDec;
        }
      }
      if (!dec.ok) {
        const reason = dec.reason === 'quic.decrypt_failed' && profile.reserved ? 'quic.reserved_version' : dec.reason;
        // Counted once per flow; a flow where nothing decrypts is given up after a few tries.
        if (st.failures++ === 0) this.deps.count(reason);
        if (!st.clientConfirmed) {
          if (st.failures >= MAX_DECRYPT_FAILURES) return GAVE_UP;
          // Until one Initial decrypts, the side taken for the client may be the server.
          st.clientFromOrig = undefined;
        }
        break;
      }
      st.adoptKeys(buf, hdr.dcidOff, hdr.dcidLen, keys);
      st.clientConfirmed = true;
      this.deps.count('quic.decrypted');
      if (dec.value.pn > st.largestPn) st.largestPn = dec.value.pn;
      const frags: CryptoFrag[] = [];
      const plain = dec.value.plaintext;
      const bad = parseFrames(plain, frags, profile.gquicFrames);
      if (bad !== undefined) this.deps.count(bad);
      for (const f of frags) {
        const r = st.crypto.add(f.offset, plain, f.start, f.end);
        if (r === 'too_long') return 'quic.crypto_too_long';
      }
      p = lay.value.pktEnd;
    }
    return undefined;
  }

  private tryHello(meta: FlowMeta, st: QuicFlowState): void {
    const have = st.crypto.contiguous();
    if (have < 4) return;
    const data = st.crypto.view();
    if (data[0] !== 1) return this.giveUp(meta, 'quic.not_client_hello');
    const total = 4 + (((data[1] ?? 0) << 16) | ((data[2] ?? 0) << 8) | (data[3] ?? 0));
    if (total > this.maxCryptoBytes) return this.giveUp(meta, 'quic.crypto_too_long');
    if (have < total) return;
    const r = parseClientHello(data, 0, total);
    if (!r.ok) return this.giveUp(meta, r.reason);
    this.deps.count('quic.hello_parsed');
    this.setHandshake(meta, toHandshake(r.hello, 'quic', st.version));
  }

  private gquic(view: PacketView, meta: FlowMeta, start: number, end: number): void {
    const r = chloSni(view.buf, start, end);
    if (!r.ok) return this.giveUp(meta, r.reason);
    this.deps.count('gquic.hello_parsed');
    const hs: Handshake = { transport: 'gquic', quicVersion: '0x51303436', hellos: 1 };
    if (r.sni !== undefined) hs.sni = r.sni;
    this.setHandshake(meta, hs);
  }

  private setHandshake(meta: FlowMeta, hs: Handshake): void {
    const prev = meta.handshake;
    if (prev === undefined) {
      meta.handshake = hs;
    } else {
      prev.hellos += 1;
      if (hs.sni !== undefined && hs.sni !== prev.sni) {
        const all = prev.sniAll ?? (prev.sni !== undefined ? [prev.sni] : []);
        if (!all.includes(hs.sni)) all.push(hs.sni);
        prev.sniAll = all;
      }
    }
    meta.inspect = false;
    meta.dissectState = undefined;
  }

  private incompleteReason(st: QuicFlowState): QuicReason {
    if (st.crypto.empty()) return 'quic.no_initial';
    return st.crypto.hasGap() ? 'quic.crypto_gap' : 'quic.hello_incomplete';
  }

  private giveUp(meta: FlowMeta, reason: QuicReason | TlsReason | typeof GAVE_UP): void {
    if (reason !== GAVE_UP) this.deps.count(reason);
    meta.inspect = false;
    meta.dissectState = undefined;
  }
}
