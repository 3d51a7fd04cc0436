/**
 * Clear errors from LiveSource.open: missing interface, bad filter, options out of range, and
 * permission — as an unprivileged user without capabilities it fails with the permission
 * error; the same user with ambient CAP_NET_RAW (what the systemd unit grants) opens the
 * interface in promiscuous mode, with or without CAP_NET_ADMIN; CAP_NET_ADMIN alone does not.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LiveSource, loadNative, type LiveOptions } from '../../src/source/live.js';
import { repoRoot } from './child.js';

const base: LiveOptions = {
  iface: 'lo', snaplen: 256, promisc: false, bufferBytes: 0, batchPackets: 16, timeoutMs: 10, backend: 'native',
};
const noNative = loadNative() instanceof Error;
const ci = process.env['CI'] === 'true';

function openError(opts: LiveOptions): { code: unknown; message: string } {
  try {
    const s = LiveSource.open(opts);
    void s.close();
  } catch (e) {
    return { code: (e as { code?: unknown }).code, message: e instanceof Error ? e.message : String(e) };
  }
  throw new Error('open succeeded');
}

describe('option validation', () => {
  it.each([
    ['snaplen', { snaplen: 10 }],
    ['batchPackets', { batchPackets: 0 }],
    ['timeoutMs', { timeoutMs: 0 }],
    ['iface', { iface: '' }],
    ['backend', { backend: 'pf_ring' }],
  ])('names the key %s', (key, patch) => {
    const e = openError({ ...base, ...patch } as LiveOptions);
    expect(e.code).toBe('LLMTAP_ERR_CAPTURE_CONFIG');
    expect(e.message).toContain(key);
  });
});

describe.skipIf(noNative && !ci)('native open errors', () => {
  it('missing interface', () => {
    const e = openError({ ...base, iface: 'lt-no-such0' });
    expect(e.code).toBe('LLMTAP_ERR_CAPTURE_NO_IFACE');
    expect(e.message).toContain('lt-no-such0');
    expect(e.message).toContain('does not exist');
  });
  it('invalid BPF filter', () => {
    const e = openError({ ...base, bpf: 'tcp port' });
    expect(e.code).toBe('LLMTAP_ERR_CAPTURE_BPF');
    expect(e.message).toMatch(/filter/);
  });
  it('a valid filter opens and closes', async () => {
    const s = LiveSource.open({ ...base, bpf: 'tcp port 443' });
    expect(s.linkType()).toBe(1);
    await s.close();
    await s.close(); // idempotent
  });
});

describe('cap backend errors', () => {
  it('missing interface', () => {
    const e = openError({ ...base, iface: 'lt-no-such0', backend: 'cap' });
    expect(e.code).toBe('LLMTAP_ERR_CAPTURE_NO_IFACE');
  });
});

const asRoot = process.getuid?.() === 0;
describe.skipIf(!asRoot || (noNative && !ci))('permissions (unprivileged user 65534)', () => {
  const viteNode = join(repoRoot, 'node_modules', '.bin', 'vite-node');
  const child = join(repoRoot, 'test', 'live', 'open-child.ts');
  const runAs = (caps: string[], extra: string[] = []): { ok: boolean; code?: string; message?: string } => {
    const capArgs = caps.length > 0 ? [`--inh-caps=${caps.map((c) => `+${c}`).join(',')}`, `--ambient-caps=${caps.map((c) => `+${c}`).join(',')}`] : [];
    const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...extra, ...capArgs,
      viteNode, child, JSON.stringify({ ...base, promisc: true })], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
    const line = out.split('\n').find((l) => l.startsWith('{'));
    if (!line) throw new Error(`no result: ${out}`);
    return JSON.parse(line) as { ok: boolean; code?: string; message?: string };
  };
  it('without capabilities: a permission error that says what to grant', () => {
    const r = runAs([]);
    expect(r.ok).toBe(false);
    expect(r.code).toBe('LLMTAP_ERR_CAPTURE_PERM');
    expect(r.message).toContain('CAP_NET_RAW');
  });
  it('with ambient CAP_NET_RAW and CAP_NET_ADMIN: opens', () => {
    expect(runAs(['net_raw', 'net_admin'])).toEqual({ ok: true });
  });
  it('with ambient CAP_NET_RAW alone, bounding set CAP_NET_RAW, no_new_privs (the systemd unit): opens in promiscuous mode', () => {
    expect(runAs(['net_raw'], ['--no-new-privs', '--bounding-set=-all,+net_raw'])).toEqual({ ok: true });
  });
  it('with ambient CAP_NET_ADMIN alone: still the permission error', () => {
    expect(runAs(['net_admin'])).toMatchObject({ ok: false, code: 'LLMTAP_ERR_CAPTURE_PERM' });
  });
});
