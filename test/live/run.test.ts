/**
 * `llmtap run` on one end of a veth pair while tcpreplay sends corpus captures onto the other:
 * the flows and SNIs it records equal those of the replay pipeline on the same files (with a SIGHUP reload in between), SIGTERM
 * flushes open flows and closes the database (exit 0), and a missing interface is one clear
 * line with its own exit code.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { Pipeline } from '../../src/pipeline.js';
import type { FlowRecord } from '../../src/records.js';
import { readCaptureFile } from '../../src/source/file.js';
import { Store } from '../../src/store/store.js';
import { runCli } from './cli.js';
import { createVethNs, parseTcpreplay, type VethNs } from './netns.js';
import { corpus, prerequisites, vethCaptureMissing } from './prerequisites.js';

const missing = prerequisites('live run', vethCaptureMissing());

/** What must match between live and file: everything but times, ids and end reasons. */
function norm(r: FlowRecord): string {
  return JSON.stringify([r.communityId, r.vlan, r.origAddr, r.origPort, r.respAddr, r.respPort, r.origPkts, r.respPkts,
    r.origWireBytes, r.respWireBytes, r.origPayloadBytes, r.respPayloadBytes, r.handshake?.sni ?? null,
    r.handshake?.ja4 ?? null, r.host ?? null, r.hostSource]);
}

describe('llmtap run errors', () => {
  it('missing interface: clear message, exit code 1', async () => {
    const r = await runCli(['run', '--iface', 'lt-no-such0', '--no-api']).done;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('LLMTAP_ERR_CAPTURE_NO_IFACE');
    expect(r.stderr).toContain('lt-no-such0');
  });
  it('no interface given: usage, exit code 2', async () => {
    const r = await runCli(['run', '--no-api']).done;
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--iface');
  });
});

describe.skipIf(missing.length > 0)('llmtap run on a veth pair equals replay', () => {
  let env: VethNs;
  let dir: string;
  beforeAll(() => {
    env = createVethNs('ltr');
    dir = mkdtempSync(join(tmpdir(), 'llmtap-run-'));
  });
  afterAll(() => {
    env?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('flows and SNIs of a live run equal the replay of the same files; SIGTERM flushes and exits 0', async () => {
    const files = ['ndpi-reddit-ipv6.pcap', 'arkime-curl-tls13.pcap', 'ndpi-smtp-starttls-vlan.pcap'].map((f) => resolve(corpus, 'pcaps', f));
    const flowsFile = join(dir, 'run.ndjson');
    const run = runCli(['run', '--iface', env.capIf, '--no-api', '--db', join(dir, 'run.db'), '--flows', flowsFile], env);
    for (let i = 0; i < 600 && !run.stderr().includes('"capturing"'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(run.stderr()).toContain('"capturing"');
    run.kill('SIGHUP'); // reload without stopping capture
    for (let i = 0; i < 100 && !run.stderr().includes('SIGHUP:'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(run.stderr()).toContain('SIGHUP: rules, tenants and allowlist reloaded');
    const sent = parseTcpreplay(env.run('tcpreplay', ['-i', env.peerIf, '--pps=2000', ...files]));
    await new Promise((r) => setTimeout(r, 500));
    run.kill('SIGTERM');
    const r = await run.done;
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('"stopped"');
    const live = readFileSync(flowsFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as FlowRecord);

    // the same files through the replay pipeline
    const store = Store.open(join(dir, 'replay.db'));
    const replayed: FlowRecord[] = [];
    const pipeline = new Pipeline(loadConfig(), { store, onFlow: (rec) => replayed.push(structuredClone(rec)) });
    let packets = 0;
    for (const f of files) packets += (await readCaptureFile(f, (b) => pipeline.onBatch(b))).stats.packets;
    pipeline.finish();
    store.close();

    expect(sent.packets).toBe(packets);
    expect(live.length).toBeGreaterThan(50);
    expect(live.map(norm).sort()).toEqual(replayed.map(norm).sort());
    const snis = (rs: FlowRecord[]): string[] => rs.map((x) => x.handshake?.sni).filter((x): x is string => x !== undefined).sort();
    expect(snis(live).length).toBeGreaterThan(40);
    expect(snis(live)).toEqual(snis(replayed));
    // the database was closed cleanly: it opens and holds the same observations count
    const db = Store.open(join(dir, 'run.db'));
    db.close();
  });
});
