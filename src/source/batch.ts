import type { PacketBatch } from '../records.js';

/** A PacketBatch with preallocated descriptor arrays, refilled for every chunk. */
export function allocBatch(capacity: number): PacketBatch {
  return {
    buf: Buffer.alloc(0),
    count: 0,
    offset: new Uint32Array(capacity),
    capLen: new Uint32Array(capacity),
    wireLen: new Uint32Array(capacity),
    tsUs: new Float64Array(capacity),
    linkType: new Uint16Array(capacity),
    ifIndex: new Uint16Array(capacity),
  };
}
