/**
 * A finished command does not linger: when something still holds the event loop after the
 * command closed what it opened (a client library's timer left behind), the process names it on
 * stderr and exits with the command's code after a grace period; a clean command exits at once.
 * Real `llmtap replay` runs of the demo, with and without a planted leftover timer.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/corpus.js';

const tmp = mkdtempSync(join(tmpdir(), 'llmtap-exit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** `llmtap replay` of the demo through main(), with `before` run first in the same process. */
function replay(before: string, db: string): { status: number | null; stderr: string; ms: number } {
  const demo = join(repoRoot, 'pcaps', 'demo', 'demo.pcap.gz');
  const script = `${before}; import('./dist/cli/main.js').then((m) => m.main(['replay', ${JSON.stringify(demo)}, '--db', ${JSON.stringify(db)}, '--quiet']))`;
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['-e', script], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stderr: r.stderr, ms: Date.now() - t0 };
}

describe('a finished command exits', () => {
  it('a timer left running: named on stderr, the command\'s exit code, no hang', () => {
    const r = replay('setInterval(() => {}, 1000)', join(tmp, 'leak.db'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('llmtap replay: finished, but Timeout x1 still held the process; exiting with 0');
    expect(r.ms).toBeLessThan(60_000);
  });

  it('a failing command keeps its code', () => {
    const r = replay('setInterval(() => {}, 1000)', join(tmp, 'no-such-dir', 'x.db'));
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain('still held the process; exiting with 1');
  });

  it('a fleet sensor whose NATS servers were never reachable ends at its drain bound, held by nothing', async () => {
    // a port nothing listens on: taken, then given back
    const port = await new Promise<number>((res) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => res(p));
      });
    });
    const cfg = join(tmp, 'fleet-down.yaml');
    writeFileSync(cfg, `fleet:\n  servers: ["nats://127.0.0.1:${port}"]\n  tenant: acme\n  sensor: s1\n  drain_s: 2\n  publish: all\n`);
    const demo = join(repoRoot, 'pcaps', 'demo', 'demo.pcap.gz');
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'llmtap.js'), 'replay', demo, '--config', cfg, '--db', join(tmp, 'fleet-down.db'), '--quiet'], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
    const ms = Date.now() - t0;
    // the records could not be delivered: said, and the run fails; the connect's retries did not hold it
    expect(r.stderr).toMatch(/not delivered|undelivered|could not be delivered/i);
    expect(r.stderr).not.toContain('still held the process');
    expect(r.status).not.toBe(0);
    expect(r.status).not.toBeNull();
    // the drain bound (2 s) and the replay itself, not the exit guard's 5 s on top
    expect(ms).toBeLessThan(2_000 + 4_000);
  }, 60_000);

  it('nothing left: no message', () => {
    const r = replay('void 0', join(tmp, 'clean.db'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('still held the process');
  });
});
