/** Deterministic replay input for the crash test (shared by the writer child and the test). */
import type { Observation } from '../../src/records.js';
import { obs } from '../detect/helpers.js';

const PROCS = ['agent.exe', 'python.exe', 'node', 'w3wp.exe', 'curl', 'java', 'ruby', 'go-tool'];

export function crashInput(n: number): Observation[] {
  const out: Observation[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 5 === 4) {
      out.push(obs({ id: `c${i}`, atS: i, noEdr: true, clientAddr: `10.5.${(i >> 8) & 3}.${i % 97}`, provider: i % 2 ? 'openai' : 'anthropic' }));
    } else {
      out.push(obs({ id: `c${i}`, atS: i, device: `dev-${i % 211}`, proc: PROCS[i % PROCS.length] ?? 'x', bytesOut: 1000 + (i % 13) * 100 }));
    }
  }
  return out;
}
