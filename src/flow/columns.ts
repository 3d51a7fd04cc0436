/**
 * The flow table's per-slot columns that building a record reads. The table owns and fills
 * them; `emit.ts` reads them through this shape, so neither file imports the other's module
 * for it (no import circle).
 */

/** Key words per flow-table slot: A address (4), B address (4), ports, version/proto, VLANs. */
export const KW = 11;

export interface FlowColumns {
  /** KW words per slot (see KW). */
  readonly keyW: Uint32Array;
  /** Per slot and side (index `slot * 2`, + 1 for B): packets, wire, captured, IP and payload bytes, TCP flags seen. */
  readonly pkts: Float64Array;
  readonly wire: Float64Array;
  readonly capB: Float64Array;
  readonly ipB: Float64Array;
  readonly payB: Float64Array;
  readonly flags: Uint8Array;
  /** Per slot: first and last packet time, whether A is the originator, capture interface. */
  readonly first: Float64Array;
  readonly last: Float64Array;
  readonly origIsA: Uint8Array;
  readonly ifIdx: Uint16Array;
}
