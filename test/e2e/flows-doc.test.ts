/**
 * The `--flows` record format is documented and stable (docs/flows.md, version 1): the records
 * a CLI replay of the demo writes have exactly the documented fields and types; every field
 * not marked optional is in every record.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/build-once.js';
import { repoRoot } from '../helpers/corpus.js';

interface Field { type: string; optional: boolean }
const documented = new Map<string, Field>();
for (const m of readFileSync(join(repoRoot, 'docs', 'flows.md'), 'utf8').matchAll(/^\| `([A-Za-z0-9.]+)` \| (\w+)( \(optional\))? \|/gm)) {
  documented.set(m[1]!, { type: m[2]!, optional: m[3] !== undefined });
}

describe('--flows records match docs/flows.md', () => {
  let records: Record<string, unknown>[];

  beforeAll(() => {
    ensureBuilt();
    const dir = mkdtempSync(join(tmpdir(), 'llmtap-flows-'));
    const out = join(dir, 'flows.ndjson');
    execFileSync(process.execPath, [join(repoRoot, 'bin', 'llmtap.js'), 'replay', join(repoRoot, 'pcaps', 'demo'), '--config', join(repoRoot, 'pcaps', 'demo', 'llmtap.yaml'),
      '--edr', join(repoRoot, 'pcaps', 'demo', 'edr', 'llmtap.ndjson'), '--db', join(dir, 'demo.db'), '--quiet', '--flows', out], { encoding: 'utf8' });
    records = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  }, 120_000);

  it('every field written is documented with its type', () => {
    expect(documented.size).toBeGreaterThan(30);
    expect(records.length).toBeGreaterThan(100);
    const typeOf = (v: unknown): string => (Array.isArray(v) ? 'array' : typeof v);
    const seen = new Set<string>();
    for (const r of records) {
      const check = (o: Record<string, unknown>, prefix: string): void => {
        for (const [k, v] of Object.entries(o)) {
          const p = `${prefix}${k}`;
          seen.add(p);
          expect({ p, type: documented.get(p)?.type }).toEqual({ p, type: typeOf(v) });
          if (typeOf(v) === 'object') check(v as Record<string, unknown>, `${p}.`);
        }
      };
      check(r, '');
    }
    // the demo exercises the handshake fields TLS and QUIC clients send
    for (const p of ['handshake', 'handshake.sni', 'handshake.ja4', 'handshake.alpn', 'handshake.quicVersion', 'host', 'hostAgrees']) expect(seen.has(p)).toBe(true);
  });

  it('every field not marked optional is in every record (and in every handshake)', () => {
    for (const r of records) {
      for (const [p, f] of documented) {
        if (f.optional) continue;
        const [head, sub] = p.split('.') as [string, string | undefined];
        if (sub === undefined) expect({ p, present: head in r }).toEqual({ p, present: true });
        else if (r[head] !== undefined) expect({ p, present: sub in (r[head] as Record<string, unknown>) }).toEqual({ p, present: true });
      }
    }
  });
});
