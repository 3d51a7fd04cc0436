/**
 * `llmtap replay` and `llmtap ingest` are one command over two inputs (src/cli/batch.ts): the
 * same options, the same EDR feed handling, the same storage-fault report — each naming
 * itself. Run on suricata-verify's community-id-ipv4 pair (test/ingest/fixtures): its capture
 * through replay, its eve.json through ingest, under a rule file that makes its host an AI
 * endpoint. An EDR feed whose gzip stream breaks half way counts what came before the break
 * in both (exit 1, the feed named); a database file that cannot be written is reported by the
 * command that ran.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/build-once.js';
import { repoRoot } from '../helpers/corpus.js';
import { faultsUnavailable, immutableCapableDir, setImmutable } from '../helpers/fs-faults.js';
import { Store } from '../../src/store/store.js';

const PAIR = join(repoRoot, 'test/ingest/fixtures/eve-community-id-ipv4');
const INPUT = { replay: [join(PAIR, 'input.pcap')], ingest: ['eve', join(PAIR, 'eve.json')] } as const;
type Cmd = keyof typeof INPUT;

let tmp: string;
let config: string;
let brokenFeed: string;
/** Records of the demo feed before the break (its first half, whole lines). */
let beforeBreak: number;

beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'llmtap-batch-'));
  writeFileSync(join(tmp, 'rules.yaml'), 'format: llmtap-rules/1\nrules:\n  - id: test-google\n    category: assistant\n    provider: TestGoogle\n    match: { hosts: [ipv4.google.com] }\n    source: test\n');
  config = join(tmp, 'config.yaml');
  writeFileSync(config, `rules:\n  file: ${JSON.stringify(join(tmp, 'rules.yaml'))}\ntenants:\n  - id: default\n    shadow_volume: { connections: 1 }\n`);
  // the demo's EDR feed, gzip-compressed and cut in the middle of its stream
  const text = readFileSync(join(repoRoot, 'pcaps/demo/edr/llmtap.ndjson'), 'utf8');
  const gz = gzipSync(text);
  brokenFeed = join(tmp, 'feed.ndjson.gz');
  writeFileSync(brokenFeed, gz.subarray(0, Math.floor(gz.length / 2)));
  beforeBreak = text.split('\n').filter((l) => l.trim() !== '').length;
});
afterAll(() => {
  if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
});

interface Summary {
  edr: { file: string; result: { accepted: number; rejected: Record<string, number> } }[];
  aiObservations: number;
  alerts: { heuristic: string; provider?: string }[];
}

function run(cmd: Cmd, args: string[], db: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/llmtap.js', cmd, ...INPUT[cmd], '--config', config, '--db', db, '--format', 'json', ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('replay and ingest: one command over two inputs', () => {
  it('an EDR feed broken half way: both count the records before the break, name the feed, exit 1', () => {
    const out: Record<string, Summary> = {};
    for (const cmd of ['replay', 'ingest'] as const) {
      const r = run(cmd, ['--edr', brokenFeed, '--edr-tenant', 'default'], join(tmp, `${cmd}-edr.db`));
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^llmtap ${cmd}: EDR feed ${brokenFeed.replace(/[.]/g, '\\.')}: gzip stream broken at compressed byte \\d+ \\(decompressed byte \\d+\\): unexpected end of file\\n$`));
      out[cmd] = JSON.parse(r.stdout) as Summary;
      // the pair's one AI connection and its alert, as without a feed
      expect(out[cmd]!.aiObservations).toBe(1);
      expect(out[cmd]!.alerts.map((a) => `${a.heuristic} ${a.provider}`)).toEqual(['shadow_volume TestGoogle']);
    }
    const edr = out['replay']!.edr;
    expect(edr).toHaveLength(1);
    expect(edr[0]!.file).toBe(brokenFeed);
    const got = edr[0]!.result.accepted + Object.values(edr[0]!.result.rejected).reduce((a, b) => a + b, 0);
    expect(edr[0]!.result.accepted).toBeGreaterThan(0);
    expect(got).toBeLessThan(beforeBreak);
    expect(out['ingest']!.edr).toEqual(edr);
  }, 120_000);

  const missing = faultsUnavailable();
  it.skipIf(missing !== undefined && process.env['CI'] !== 'true')('a read-only database file: each command names itself in the fault line and the loss report', () => {
    if (missing !== undefined) throw new Error(missing);
    const scratch = immutableCapableDir();
    try {
      for (const cmd of ['replay', 'ingest'] as const) {
        const db = join(scratch.dir, `${cmd}.db`);
        Store.open(db).close();
        setImmutable(db, true);
        try {
          const r = run(cmd, [], db);
          expect(r.status).toBe(1);
          const lines = r.stderr.trimEnd().split('\n');
          expect(lines[0]).toBe(`llmtap ${cmd}: ${db}: database not writable (read-only database, SQLITE_READONLY): writes are queued and retried`);
          expect(lines[1]).toMatch(new RegExp(`^llmtap ${cmd}: LLMTAP_ERR_STORE_FAULT: ${db.replace(/[.]/g, '\\.')}: not stored \\(read-only database: SQLITE_READONLY: attempt to write a readonly database\\): 1 alerts, 1 observations, \\d+ other writes$`));
          expect(lines[2]).toMatch(/^ {2}not stored: alert al_[0-9a-f]+ default shadow_volume /);
          expect(lines).toHaveLength(3);
        } finally {
          setImmutable(db, false);
        }
      }
    } finally {
      scratch.cleanup();
    }
  }, 120_000);
});
