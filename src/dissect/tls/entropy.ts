/**
 * Shannon entropy in bits per byte of `buf[start, end)`: one number, no byte kept. Uses one
 * module-level histogram (the pipeline is single-threaded).
 */
const hist = new Uint32Array(256);

export function shannonEntropy(buf: Buffer, start: number, end: number): number {
  const n = end - start;
  if (n <= 0) return 0;
  hist.fill(0);
  for (let i = start; i < end; i++) hist[buf[i] ?? 0]! += 1;
  let h = 0;
  for (let i = 0; i < 256; i++) {
    const c = hist[i] ?? 0;
    if (c === 0) continue;
    const p = c / n;
    h -= p * Math.log2(p);
  }
  return h;
}
