/**
 * The service log of `llmtap run` as systemd or a container runtime sees it (stderr not a
 * terminal): JSON lines only, each with pid, hostname and stage; the generated API token in a
 * 0600 file whose path is logged, and the token in no log line; one audit line per change
 * (allowlist add/remove, inventory, alert status, rule reload, SIGHUP config reload) naming who
 * made it; a warning for the default lineage key. The metrics this run serves include the
 * build, per-interface kernel counter, last-packet age and API latency series.
 * Captures on `lo` (root; nothing is sent but the API requests on loopback).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/build-once.js';
import { repoRoot } from '../helpers/corpus.js';

const isRoot = process.getuid?.() === 0;
const OPERATOR = 'operator-token-for-the-log-test-0123456789';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!isRoot)('llmtap run: service log, token file and audit lines', () => {
  let dir: string;
  let child: ChildProcess;
  let err = '';
  let out = '';
  let exited: Promise<number | null>;

  beforeAll(() => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'llmtap-logs-'));
  });
  afterAll(() => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  async function until(what: string, test: () => boolean, ms = 60_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!test()) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${what}: not seen; stderr:\n${err}`);
      await sleep(100);
    }
  }

  it('JSON lines with pid, hostname and stage; token only in its 0600 file; an audit line per change', async () => {
    const cfg = join(dir, 'llmtap.yaml');
    const opHash = createHash('sha256').update(OPERATOR).digest('hex');
    writeFileSync(cfg, `api:\n  port: 0\n  operator_tokens:\n    - name: ops\n      token_sha256: ${opHash}\n`);
    child = spawn(process.execPath, ['bin/llmtap.js', 'run', '--iface', 'lo', '--config', cfg, '--db', join(dir, 'llmtap.db')], {
      cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'],
    });
    exited = new Promise((res) => child.once('exit', (code) => res(code)));
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    await until('API listening', () => /API listening on http:\/\/127\.0\.0\.1:\d+/.test(err));
    const base = /API listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(err)![1]!;

    const tokenFile = join(dir, 'api-token');
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    const token = readFileSync(tokenFile, 'utf8').trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const tenant = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const operator = { authorization: `Bearer ${OPERATOR}` };

    // the generated token works, and every kind of change is made once
    const bearer = { authorization: `Bearer ${token}` };
    expect((await fetch(`${base}/v1/alerts`, { headers: bearer })).status).toBe(200);
    const add = await fetch(`${base}/v1/allowlist`, { method: 'POST', headers: tenant, body: JSON.stringify({ process_name: 'curl', justification: 'build scripts' }) });
    expect(add.status).toBe(201);
    const id = String(((await add.json()) as { id: string | number }).id);
    expect((await fetch(`${base}/v1/allowlist/${id}`, { method: 'DELETE', headers: bearer })).status).toBe(200);
    const inv = await fetch(`${base}/v1/inventory`, { method: 'POST', headers: tenant, body: JSON.stringify({ hashes: ['a'.repeat(64)] }) });
    expect(inv.status).toBe(200);
    const st = await fetch(`${base}/v1/alerts/no-such-alert/status`, { method: 'POST', headers: tenant, body: JSON.stringify({ status: 'closed' }) });
    expect(st.status).toBe(404);
    expect((await fetch(`${base}/v1/rules/reload`, { method: 'POST', headers: operator })).status).toBe(200);
    // a refused request (no valid token) changes nothing and is not an audit line
    expect((await fetch(`${base}/v1/allowlist`, { method: 'POST', headers: { authorization: 'Bearer nope', 'content-type': 'application/json' }, body: '{}' })).status).toBe(401);

    // the metrics of this run
    const metrics = await (await fetch(`${base}/metrics`, { headers: operator })).text();
    expect(metrics).toMatch(new RegExp(`^llmtap_build_info\\{version="\\d+\\.\\d+\\.\\d+[^"]*",node="${process.versions.node.replace(/\./g, '\\.')}"\\} 1$`, 'm'));
    expect(metrics).toMatch(/^llmtap_source_kernel_received_packets_total\{interface="lo"\} \d+$/m);
    expect(metrics).toMatch(/^llmtap_source_last_packet_age_seconds\{interface="lo"\} \d+(\.\d+)?$/m);
    expect(metrics).toMatch(/^llmtap_api_request_duration_seconds_count\{route="\/v1\/allowlist"\} [1-9]\d*$/m);

    child.kill('SIGHUP');
    await until('config reload audit', () => err.includes('"config.reload"'));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    // JSON lines only, pid/hostname/stage on each, the token on none
    expect(out).toBe('');
    const lines = err.split('\n').filter((l) => l !== '');
    expect(lines.length).toBeGreaterThan(5);
    const recs = lines.map((l) => {
      let r: Record<string, unknown>;
      try {
        r = JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON line: ${l}`);
      }
      expect(r['pid'], l).toBe(child.pid);
      expect(r['hostname'], l).toBe(hostname());
      expect(typeof r['stage'], l).toBe('string');
      expect(typeof r['level'], l).toBe('number');
      expect(typeof r['time'], l).toBe('number');
      return r;
    });
    for (const l of lines) expect(l.includes(token), 'a log line holds the token').toBe(false);
    expect(err.includes(OPERATOR)).toBe(false);
    const tokenLine = recs.find((r) => r['token_file'] !== undefined);
    expect(tokenLine?.['token_file']).toBe(tokenFile);
    expect(String(tokenLine?.['msg'])).toContain(tokenFile);
    expect(recs.some((r) => r['level'] === 40 && String(r['msg']).includes('attribute.lineage_key is the built-in default'))).toBe(true);

    const audits = recs.filter((r) => r['stage'] === 'audit');
    expect(audits.map((a) => [a['action'], a['who'], a['ok']])).toEqual([
      ['allowlist.add', 'tenant:default', true],
      ['allowlist.remove', 'tenant:default', true],
      ['inventory.import', 'tenant:default', true],
      ['alert.status', 'tenant:default', false],
      ['rules.reload', 'operator:ops', true],
      ['config.reload', 'signal:SIGHUP', true],
    ]);
    expect(audits[0]).toMatchObject({ tenant: 'default', target: id, detail: { process_name: 'curl', justification: 'build scripts' }, status: 201 });
    expect(audits[1]).toMatchObject({ target: id });
    expect(audits[2]).toMatchObject({ detail: { hashes: 1, imported: 1 } });
    expect(audits[3]).toMatchObject({ target: 'no-such-alert', status: 404, detail: { status: 'closed' } });
    expect(String((audits[4]?.['detail'] as Record<string, unknown>)['rules_version'])).toMatch(/^sha256-/);
    expect(audits[5]).toMatchObject({ detail: { file: cfg } });
    for (const s of ['run', 'api', 'audit']) expect(recs.some((r) => r['stage'] === s), s).toBe(true);
  });

  it('on a terminal: readable lines, not JSON', () => {
    // `script` gives the child a pseudo-terminal as stderr
    const r = spawnSync('script', ['-qefc', `${process.execPath} bin/llmtap.js run --iface lt-no-such0 --no-api`, '/dev/null'], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(1);
    const text = r.stdout.replace(/\x1b\[[0-9;]*m/g, '');
    expect(text).toMatch(/ERROR.*LLMTAP_ERR_CAPTURE_NO_IFACE/);
    expect(text).toContain('stage: "run"');
    expect(text.split(/\r?\n/).some((l) => l.trimStart().startsWith('{'))).toBe(false);
  });
});
