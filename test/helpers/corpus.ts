/**
 * Where the public capture corpus lives: LLMTAP_CORPUS, else ../shared/corpus beside the repo.
 * Under CI=true a missing corpus is a failure, not a skip.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function corpusDir(): string | undefined {
  const dir = process.env['LLMTAP_CORPUS'] ?? join(repoRoot, '..', 'shared', 'corpus');
  if (existsSync(join(dir, 'pcaps'))) return dir;
  if (process.env['CI'] === 'true') throw new Error(`capture corpus not found at ${dir} (set LLMTAP_CORPUS)`);
  return undefined;
}

export interface CorpusEntry {
  name: string;
  pcap: string;
  expected: Record<string, unknown>;
}

export function corpusEntries(dir: string): CorpusEntry[] {
  return readdirSync(join(dir, 'pcaps'))
    .filter((f) => /\.(pcap|pcapng)$/.test(f))
    .sort()
    .map((f) => {
      const name = f.replace(/\.(pcap|pcapng)$/, '');
      return {
        name,
        pcap: join(dir, 'pcaps', f),
        expected: JSON.parse(readFileSync(join(dir, 'expected', `${name}.json`), 'utf8')) as Record<string, unknown>,
      };
    });
}

/** One conversation of an expected JSON (`flows`): tshark's `-z conv` row, bytes are frame bytes. */
export interface ExpectedFlow {
  proto: string;
  a: string;
  a_port: number;
  b: string;
  b_port: number;
  frames_a_to_b: number;
  bytes_a_to_b: number;
  frames_b_to_a: number;
  bytes_b_to_a: number;
  frames: number;
  bytes: number;
}
