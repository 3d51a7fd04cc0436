/**
 * The README's first command, verbatim, as a new user runs it: in a fresh clone of the
 * committed repository, from the README's quick-start block. It installs (npm ci builds
 * the TypeScript and the native binding) and replays the demo; the output must show the demo's
 * findings. Slow (a full npm install), so it runs once.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/corpus.js';

/** The first command of the README's quick start: the first ```sh block after the heading. */
export function readmeCommands(): string[] {
  const md = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const start = md.indexOf('## Quick start');
  expect(start).toBeGreaterThan(0);
  const blocks = [...md.slice(start).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());
  return blocks.slice(0, 2);
}

const isGitCheckout = spawnSync('git', ['-C', repoRoot, 'rev-parse', '--is-inside-work-tree']).status === 0;

describe.skipIf(!isGitCheckout)('README', () => {
  it('gives two commands: the demo replay and the tests (the latter is what CI runs)', () => {
    const [demo, tests] = readmeCommands();
    expect(demo).toMatch(/llmtap replay pcaps\/demo/);
    expect(tests).toMatch(/npm test$/);
    expect(readFileSync(join(repoRoot, '.ci', 'run'), 'utf8')).toContain(tests!);
  });

  it('first command, verbatim, in a fresh clone: the demo findings are printed', async () => {
    const [demo] = readmeCommands();
    const dir = join(mkdtempSync(join(tmpdir(), 'llmtap-readme-')), 'llmtap');
    execFileSync('git', ['clone', '--quiet', repoRoot, dir]);
    // Under a node older than 22, scripts/setup-debian.sh installs Node.js 24: a test does so
    // into its own directory (put first on PATH), never over the machine's node.
    const env: NodeJS.ProcessEnv = { ...process.env, CI: 'true' };
    if (Number(process.versions.node.split('.')[0]) < 22) {
      const home = join(dir, '..', 'node');
      Object.assign(env, { LLMTAP_NODE_HOME: join(home, 'lib', 'nodejs'), LLMTAP_NODE_BIN: join(home, 'bin'), PATH: `${join(home, 'bin')}:${process.env['PATH'] ?? ''}` });
    }
    // asynchronous: a blocking spawn would starve the test worker's RPC for minutes
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const c = spawn('bash', ['-c', demo!], { cwd: dir, env, timeout: 15 * 60_000 });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      c.on('close', (status) => resolve({ status, stdout, stderr }));
    });
    expect(r.status, r.stderr.slice(-3000)).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/llmtap replay: 1 file\(s\), 10,616 packets/);
    expect(out).toMatch(/AI observations: 28 of/);
    expect(out).toMatch(/alerts: 9\b/);
    for (const re of [
      /h1\s+critical\s+device-b\s+httpd-worker\s+Anthropic/,
      /h7\s+critical\s+3 devices\s+quickprompt\s+OpenAI/,
      /beacon\s+high\s+device-b\s+httpd-worker\s+Anthropic/,
      /h1\s+high\s+device-c\s+openssl\s+Anthropic\s+api\.anthropic\.com.*via dns-client/,
      /upload\s+high\s+device-c\s+python3\.11\s+OpenAI/,
      /shadow_volume\s+medium\s+10\.77\.0\.104\s+-\s+Google/,
      /not alarming: 2 connection\(s\) to sanctioned endpoints, 3 from allowlisted processes/,
    ]) {
      expect(out).toMatch(re);
    }
    expect(out).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/); // no stack trace
  }, 20 * 60_000);
});
