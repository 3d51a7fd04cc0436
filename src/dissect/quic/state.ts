/**
 * Per-flow QUIC Initial state: which side is the client, the version, the Initial keys, the
 * CRYPTO stream being reassembled. Dropped as soon as the ClientHello is parsed or the flow is
 * given up.
 */
import { CryptoStream } from './crypto-stream.js';
import { clientInitialKeys } from './keys.js';
import type { InitialKeys, VersionProfile } from './keys.js';

export class QuicFlowState {
  /** Direction of the client's packets relative to the flow's orig; undefined until known. */
  clientFromOrig: boolean | undefined = undefined;
  /** True once an Initial decrypted with keys from that direction. */
  clientConfirmed = false;
  version = 0;
  profile: VersionProfile | undefined = undefined;
  /** The DCID the current keys were derived from, and the keys. */
  keyDcid: Buffer | undefined = undefined;
  keys: InitialKeys | undefined = undefined;
  /** Largest client Initial packet number decrypted (RFC 9000 §A.3), -1 before the first. */
  largestPn = -1;
  crypto: CryptoStream;
  /** Client datagrams carrying Initials looked at (bounded per flow). */
  datagrams = 0;
  /** Client Initials that failed to decrypt. */
  failures = 0;

  constructor(private readonly maxCryptoBytes: number) {
    this.crypto = new CryptoStream(maxCryptoBytes);
  }

  /** Keys for `dcid` (cached while the DCID stays the same). */
  keysFor(buf: Buffer, off: number, len: number): InitialKeys | undefined {
    const profile = this.profile;
    if (profile === undefined) return undefined;
    if (this.keys !== undefined && this.keyDcid !== undefined && this.keyDcid.equals(buf.subarray(off, off + len))) {
      return this.keys;
    }
    return clientInitialKeys(profile, buf.subarray(off, off + len));
  }

  adoptKeys(buf: Buffer, off: number, len: number, keys: InitialKeys): void {
    if (this.keys === keys) return;
    this.keyDcid = Buffer.from(buf.subarray(off, off + len));
    this.keys = keys;
  }

  /** Forget keys and CRYPTO data (a new version after Version Negotiation). */
  restart(): void {
    this.keyDcid = undefined;
    this.keys = undefined;
    this.largestPn = -1;
    this.crypto = new CryptoStream(this.maxCryptoBytes);
  }

  /**
   * A Retry (RFC 9000 §17.2.5) names a new connection ID: the client's next Initial is sent to
   * it, protected with keys derived from it, and carries the ClientHello again from offset 0.
   */
  onRetry(buf: Buffer, scidOff: number, scidLen: number): void {
    this.keyDcid = undefined;
    this.keys = undefined;
    if (this.profile !== undefined) {
      this.keys = clientInitialKeys(this.profile, buf.subarray(scidOff, scidOff + scidLen));
      this.keyDcid = Buffer.from(buf.subarray(scidOff, scidOff + scidLen));
    }
    this.crypto = new CryptoStream(this.maxCryptoBytes);
  }
}
