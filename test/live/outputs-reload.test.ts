/**
 * `llmtap run` with push outputs, reloaded on SIGHUP: the demo capture is sent by tcpreplay onto
 * a veth pair; before it, a second file output is added to the config and the running sensor
 * gets SIGHUP. Both files then hold every alert change of the run (the one present from the
 * start and the one the reload added), and SIGTERM delivers them before exit.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNative } from '../../src/source/live.js';
import { repoRoot } from './child.js';
import { runCli } from './cli.js';
import { createVethNs, netnsUnavailable, parseTcpreplay, type VethNs } from './netns.js';

const ci = process.env['CI'] === 'true';
const missing = [netnsUnavailable(), loadNative() instanceof Error ? 'native binding not built (npm run build:native)' : undefined].filter((x): x is string => x !== undefined);
if (ci && missing.length > 0) it('live outputs prerequisites', () => { throw new Error(missing.join('; ')); });

describe.skipIf(missing.length > 0)('llmtap run: outputs reloaded on SIGHUP', () => {
  let env: VethNs;
  let dir: string;
  beforeAll(() => {
    env = createVethNs('lto');
    dir = mkdtempSync(join(tmpdir(), 'llmtap-outrun-'));
  });
  afterAll(() => {
    env?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('an output added by SIGHUP receives every alert change, as does the one there from the start', async () => {
    const demo = join(repoRoot, 'pcaps', 'demo');
    const pcap = join(dir, 'demo.pcap');
    writeFileSync(pcap, gunzipSync(readFileSync(join(demo, 'demo.pcap.gz'))));
    const cfg = YAML.parse(readFileSync(join(demo, 'llmtap.yaml'), 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    cfg['rules'].tenant_dir = join(demo, 'rules');
    cfg['store'] = { path: join(dir, 'run.db') };
    cfg['outputs'] = [{ type: 'file', path: join(dir, 'a.ndjson') }];
    const cfgFile = join(dir, 'llmtap.yaml');
    writeFileSync(cfgFile, YAML.stringify(cfg));

    const run = runCli(['run', '--iface', env.capIf, '--no-api', '--config', cfgFile], env);
    expect(await run.waitFor('"capturing"', 60_000)).toBe(true);
    cfg['outputs'] = [{ type: 'file', path: join(dir, 'a.ndjson') }, { type: 'file', path: join(dir, 'b.ndjson'), format: 'eve' }];
    writeFileSync(cfgFile, YAML.stringify(cfg));
    run.kill('SIGHUP');
    expect(await run.waitFor('SIGHUP: rules, tenants and allowlist reloaded', 10_000)).toBe(true);
    const sent = parseTcpreplay(env.run('tcpreplay', ['-i', env.peerIf, '--pps=500', pcap]));
    expect(sent.packets).toBeGreaterThan(1000);
    await new Promise((r) => setTimeout(r, 500));
    run.kill('SIGTERM');
    const r = await run.done;
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, 'a.ndjson'))).toBe(true);
    const a = readFileSync(join(dir, 'a.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { metadata: { uid: string }; finding_info: { types: string[] } });
    const b = readFileSync(join(dir, 'b.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { llmtap: { alert_id: string; seq: number } });
    // without the endpoint feed the demo still shows device-d's shadow AI volume (no EDR needed)
    expect(a.some((f) => f.finding_info.types[0] === 'shadow_volume')).toBe(true);
    expect(b.map((e) => `${e.llmtap.alert_id}:${e.llmtap.seq}`)).toEqual(a.map((f) => f.metadata.uid));
    expect(r.stderr).not.toContain('not delivered');
  }, 180_000);
});
