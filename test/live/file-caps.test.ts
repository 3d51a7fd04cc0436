/**
 * The Docker image's way to capture without root: a copy of the node binary with the file
 * capability `cap_net_raw+ep`, run by an unprivileged user (uid 65534) with no capabilities of
 * its own. `llmtap run` opens the interface in promiscuous mode with CAP_NET_RAW alone (no
 * CAP_NET_ADMIN), holds exactly that capability, captures what arrives, and stops cleanly on
 * SIGTERM.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNative } from '../../src/source/live.js';
import { repoRoot } from './child.js';
import { createVethNs, netnsUnavailable, parseTcpreplay, type VethNs } from './netns.js';
import { writeUdpPcap } from './udp-pcap.js';

const ci = process.env['CI'] === 'true';
function setcapMissing(): string | undefined {
  try {
    execFileSync('setcap', ['-h'], { stdio: 'ignore' });
  } catch (e) {
    // `setcap -h` exits non-zero after printing usage; only a missing binary matters
    if ((e as { code?: unknown }).code === 'ENOENT') return 'needs setcap (Debian package libcap2-bin)';
  }
  return undefined;
}
const missing = [
  netnsUnavailable(),
  setcapMissing(),
  loadNative() instanceof Error ? 'native binding not built (npm run build:native)' : undefined,
].filter((x): x is string => x !== undefined);
if (ci && missing.length > 0) it('file capability test prerequisites', () => { throw new Error(missing.join('; ')); });

const CAP_NET_RAW = 13n;

describe.skipIf(missing.length > 0)('non-root capture with a file capability on a dedicated node binary', () => {
  let env: VethNs;
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'llmtap-filecap-'));
    chmodSync(dir, 0o777); // the unprivileged user writes its database here
    env = createVethNs('ltf');
  });
  afterAll(() => {
    env?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('CAP_NET_RAW alone: promiscuous capture as uid 65534, then a clean stop', async () => {
    const node = join(dir, 'node');
    copyFileSync(process.execPath, node);
    chmodSync(node, 0o755);
    execFileSync('setcap', ['cap_net_raw+ep', node]);
    const pcap = join(dir, 'udp.pcap');
    writeUdpPcap(pcap, 50);

    const viteNode = join(repoRoot, 'node_modules', 'vite-node', 'vite-node.mjs');
    const cliChild = join(repoRoot, 'test', 'live', 'cli-child.ts');
    const p = env.spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all',
      node, viteNode, cliChild, 'run', '--iface', env.capIf, '--no-api', '--db', join(dir, 'run.db')],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    p.stdout?.on('data', () => undefined);
    const guard = setTimeout(() => p.kill('SIGKILL'), 90_000);
    const done = new Promise<number | null>((res) => p.on('exit', (code) => { clearTimeout(guard); res(code); }));
    try {
      for (let i = 0; i < 600 && !err.includes('"capturing"') && p.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
      expect(err).toContain('"capturing"');
      // the process: unprivileged, holding CAP_NET_RAW and nothing else
      const status = readFileSync(`/proc/${p.pid}/status`, 'utf8');
      expect(/^Uid:\s+65534\b/m.test(status)).toBe(true);
      const capEff = BigInt(`0x${/^CapEff:\s+([0-9a-f]+)/m.exec(status)?.[1] ?? '0'}`);
      expect(capEff).toBe(1n << CAP_NET_RAW);
      // promiscuous mode was granted without CAP_NET_ADMIN
      expect(env.run('ip', ['-d', 'link', 'show', env.capIf])).toMatch(/promiscuity [1-9]/);
      const sent = parseTcpreplay(await env.runAsync('tcpreplay', ['-i', env.peerIf, '--pps=500', pcap], 60_000));
      expect(sent.packets).toBe(50);
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      p.kill('SIGTERM');
    }
    expect(await done, err).toBe(0);
    const stopped = err.split('\n').find((l) => l.includes('"stopped"'));
    expect(stopped).toBeDefined();
    const stats = (JSON.parse(stopped!) as { capture: { packets: number } }).capture;
    expect(stats.packets).toBe(50);
  }, 120_000);
});
