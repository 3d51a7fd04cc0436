/** Prometheus exposition text as the tests read it. */

/** `name{labels} value` lines of an exposition text → value by series (`name{labels}`). */
export function series(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}
