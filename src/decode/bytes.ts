/**
 * Byte readers for the hot path. Callers check lengths once per header, then read through these
 * (V8 inlines them; measured equal to inline shifts). The `!` is safe behind those checks and
 * avoids a branch per byte under noUncheckedIndexedAccess.
 */
export function u8(b: Buffer, i: number): number {
  return b[i]!;
}
export function u16(b: Buffer, i: number): number {
  return (b[i]! << 8) | b[i + 1]!;
}
export function u32(b: Buffer, i: number): number {
  return ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
}
