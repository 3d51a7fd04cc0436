/**
 * The Dockerfile, built and run. No image registry is reachable here, so the base image is
 * made locally: a Debian 12 root filesystem from Debian's packages (mmdebstrap) with the
 * running Node.js (binary, headers, npm) in /usr/local, as in the official node image, imported
 * with `podman import` and passed as BASE_IMAGE. podman (Debian's 4.3) builds the image with the
 * `runc` runtime and runs it, as uid 10001 with only CAP_NET_RAW, in a network namespace made
 * for the test, capturing on one end of a veth pair while tcpreplay sends a capture into the
 * other. It must report healthy (/readyz), count exactly the packets sent, and stop cleanly on
 * SIGTERM (exit 0, the flush logged). Slow (image build with npm ci and native builds): once.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from './child.js';
import { createVethNs, netnsUnavailable, parseTcpreplay, type VethNs } from './netns.js';
import { writeUdpPcap } from './udp-pcap.js';

const ci = process.env['CI'] === 'true';
const has = (cmd: string, arg = '--version'): boolean => spawnSync(cmd, [arg], { stdio: 'ignore' }).status === 0;
const nodeHome = resolve(dirname(process.execPath), '..');
const missing = [
  netnsUnavailable(),
  has('podman') ? undefined : 'needs podman (Debian package podman)',
  has('runc', '--version') ? undefined : 'needs runc (Debian package runc)',
  has('mmdebstrap') ? undefined : 'needs mmdebstrap (Debian package mmdebstrap)',
  existsSync(join(nodeHome, 'include', 'node', 'node_version.h')) ? undefined : `no Node.js headers beside ${process.execPath}`,
  existsSync(join(nodeHome, 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js')) ? undefined : `no npm beside ${process.execPath}`,
].filter((x): x is string => x !== undefined);
if (ci && missing.length > 0) it('container test prerequisites', () => { throw new Error(missing.join('; ')); });

/** A long command, asynchronously: a blocking spawn would starve the test worker's RPC for minutes. */
function runAsync(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { env, timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (d: Buffer): void => { out = (out + d.toString()).slice(-20_000); };
    c.stdout.on('data', keep);
    c.stderr.on('data', keep);
    c.on('close', (status) => resolve({ status, out }));
  });
}

const TAG = `localhost/llmtap-test:${process.pid}`;
const BASE = `localhost/llmtap-test-base:${process.pid}`;
const NAME = `llmtap-test-${process.pid}`;

describe.skipIf(missing.length > 0)('the container image, built and run', () => {
  let dir: string;
  let env: VethNs;
  let podmanEnv: NodeJS.ProcessEnv;
  const podman = (args: string[], timeoutMs = 120_000): string =>
    execFileSync('podman', ['--runtime', 'runc', ...args], { env: podmanEnv, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'pipe'] });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'llmtap-ctr-'));
    // this machine refuses the default ulimits podman sets (setrlimit): none by default
    writeFileSync(join(dir, 'containers.conf'), '[containers]\ndefault_ulimits = []\n');
    podmanEnv = { ...process.env, CONTAINERS_CONF: join(dir, 'containers.conf') };
  });
  afterAll(() => {
    for (const args of [['rm', '-f', NAME], ['rmi', '-f', TAG], ['rmi', '-f', BASE]]) {
      spawnSync('podman', ['--runtime', 'runc', ...args], { env: podmanEnv, stdio: 'ignore', timeout: 120_000 });
    }
    env?.destroy();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('builds on a local Debian base, runs non-root with NET_RAW only, captures a veth pair, is healthy, stops cleanly', async () => {
    // 1. the base: Debian 12 minbase + this Node.js in /usr/local (like node:24-bookworm-slim).
    // Where this machine reaches the npm registry through a TLS-inspecting proxy, node trusts its
    // CA through NODE_EXTRA_CA_CERTS: the base carries the same file and setting.
    const rootfs = join(dir, 'rootfs.tar');
    // (the system bundle when the variable is unset: it is what npm's cafile names on such machines)
    const hostCa = process.env['NODE_EXTRA_CA_CERTS'] ?? (existsSync('/etc/ssl/certs/ca-certificates.crt') ? '/etc/ssl/certs/ca-certificates.crt' : undefined);
    const caHooks = hostCa !== undefined && existsSync(hostCa)
      ? ['--customize-hook=mkdir -p "$1/usr/local/share/llmtap"', `--customize-hook=copy-in ${hostCa} /usr/local/share/llmtap`]
      : [];
    const mm = await runAsync('mmdebstrap', ['--variant=minbase', '--include=ca-certificates', 'bookworm', rootfs,
      '--customize-hook=mkdir -p "$1/usr/local/bin" "$1/usr/local/include" "$1/usr/local/lib/node_modules"',
      `--customize-hook=copy-in ${process.execPath} /usr/local/bin`,
      `--customize-hook=copy-in ${join(nodeHome, 'include', 'node')} /usr/local/include`,
      `--customize-hook=copy-in ${join(nodeHome, 'lib', 'node_modules', 'npm')} /usr/local/lib/node_modules`,
      '--customize-hook=ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm"',
      '--customize-hook=ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"', ...caHooks],
    process.env, 15 * 60_000);
    expect(mm.status, mm.out.slice(-2000)).toBe(0);
    const change = caHooks.length > 0 ? ['--change', `ENV NODE_EXTRA_CA_CERTS=/usr/local/share/llmtap/${basename(hostCa!)}`] : [];
    const imp = await runAsync('podman', ['--runtime', 'runc', 'import', ...change, rootfs, BASE], podmanEnv, 10 * 60_000);
    expect(imp.status, imp.out).toBe(0);
    rmSync(rootfs);

    // 2. the image, from the repository's Dockerfile (its default base is the pinned public one)
    const b = await runAsync('podman', ['--runtime', 'runc', 'build', '--format', 'docker', '--network', 'host',
      '--build-arg', `BASE_IMAGE=${BASE}`, '-t', TAG, repoRoot], podmanEnv, 40 * 60_000);
    expect(b.status, b.out.slice(-4000)).toBe(0);
    const img = JSON.parse(podman(['image', 'inspect', TAG]))[0] as { Config: { User: string; Entrypoint: string[]; Env: string[] }; Healthcheck?: { Test: string[] } };
    const cfg = img.Config;
    expect(cfg.User).toBe('llmtap');
    expect(img.Healthcheck?.Test.join(' ')).toContain('fetch(process.env.LLMTAP_HEALTH_URL)');
    expect(cfg.Env).toContain('LLMTAP_HEALTH_URL=http://127.0.0.1:8787/readyz');
    expect(cfg.Entrypoint).toEqual(['/opt/llmtap/node', '--max-semi-space-size=16', '--no-allocation-site-pretenuring', '/opt/llmtap/bin/llmtap.js']);
    // the Dockerfile's default base is pinned by digest
    expect(execFileSync('grep', ['-E', '^ARG BASE_IMAGE=node:24-bookworm-slim@sha256:[0-9a-f]{64}$', join(repoRoot, 'Dockerfile')], { encoding: 'utf8' })).not.toBe('');

    // 3. run: the test's network namespace, CAP_NET_RAW only, data and config mounted
    env = createVethNs('ltc');
    const data = join(dir, 'data');
    const etc = join(dir, 'etc');
    mkdirSync(data);
    mkdirSync(etc);
    chownSync(data, 10001, 10001);
    chmodSync(data, 0o700);
    writeFileSync(join(etc, 'llmtap.yaml'), `capture:\n  iface: ${env.capIf}\nstore:\n  path: /var/lib/llmtap/llmtap.db\n`);
    podman(['run', '-d', '--name', NAME, '--ulimit', 'host', '--network', `ns:/run/netns/${env.ns}`,
      '--cap-drop', 'ALL', '--cap-add', 'NET_RAW', '-v', `${data}:/var/lib/llmtap`, '-v', `${etc}:/etc/llmtap:ro`, TAG]);
    const logs = (): string => { const r = spawnSync('podman', ['--runtime', 'runc', 'logs', NAME], { env: podmanEnv, encoding: 'utf8' }); return `${r.stdout}${r.stderr}`; };
    const waitFor = async (what: string, ok: () => boolean, ms = 120_000): Promise<void> => {
      const deadline = Date.now() + ms;
      while (!ok()) {
        if (Date.now() > deadline) throw new Error(`${what} not seen; container log:\n${logs()}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    };
    await waitFor('capturing', () => logs().includes('"msg":"capturing"'));
    await waitFor('healthy', () => spawnSync('podman', ['--runtime', 'runc', 'healthcheck', 'run', NAME], { env: podmanEnv, stdio: 'ignore' }).status === 0, 60_000);

    // the process: uid 10001, CAP_NET_RAW alone in its effective set
    const status = podman(['exec', NAME, 'cat', '/proc/1/status']);
    expect(status).toMatch(/^Uid:\s+10001\s/m);
    expect(/^CapEff:\s+([0-9a-f]+)/m.exec(status)?.[1]).toBe('0000000000002000');
    expect(/^CapBnd:\s+([0-9a-f]+)/m.exec(status)?.[1]).toBe('0000000000002000');

    // 4. traffic into the other end of the veth pair; llmtap counts exactly what was sent
    const pcap = join(dir, 'udp.pcap');
    writeUdpPcap(pcap, 40);
    const sent = parseTcpreplay(await env.runAsync('tcpreplay', ['-i', env.peerIf, '--pps=200', pcap], 60_000));
    expect(sent.packets).toBe(40);
    const metrics = (): string => podman(['exec', NAME, 'node', '-e', "fetch('http://127.0.0.1:8787/metrics').then(r=>r.text()).then((t)=>process.stdout.write(t))"]);
    await waitFor('40 packets counted', () => /^llmtap_source_packets_total 40$/m.test(metrics()), 60_000);
    expect(metrics()).toMatch(new RegExp(`^llmtap_source_kernel_received_packets_total\\{interface="${env.capIf}"\\} 40$`, 'm'));
    // the generated token went to the data volume, readable by the service user only
    expect(podman(['exec', NAME, 'stat', '-c', '%a %U', '/var/lib/llmtap/api-token']).trim()).toBe('600 llmtap');

    // 5. SIGTERM: flush, close, exit 0
    const stop = await runAsync('podman', ['--runtime', 'runc', 'stop', '-t', '60', NAME], podmanEnv, 120_000);
    expect(stop.status, stop.out).toBe(0);
    const state = JSON.parse(podman(['inspect', NAME]))[0].State as { ExitCode: number };
    expect(state.ExitCode).toBe(0);
    const stopped = logs().split('\n').find((l) => l.includes('"msg":"stopped"'));
    expect(stopped, logs()).toBeDefined();
    expect((JSON.parse(stopped!) as { capture: { packets: number } }).capture.packets).toBe(40);
    expect(existsSync(join(data, 'llmtap.db'))).toBe(true);
  }, 60 * 60_000);
});
