/**
 * Acceptance of issue 15 on the fleet set (pcaps/fleet: real clients on four lab devices, one
 * of them IPv6-only, local runtimes on 127.0.0.1:11434 and [::1]:11434 captured on the devices'
 * lo, and the endpoint feed of the same run as llmtap NDJSON, as Sysmon from clocks 11 h ahead
 * and as Defender streaming events with SHA-1 only). All captures are replayed at once — the
 * three capture files together, or the one pcapng holding all three interfaces — with each feed
 * format: no loopback "device", every local connection counted once and attributed (client and
 * runtime), the same observations at the same times whatever the feed, and H7 alerts that name
 * every provider their spread reached and link their H1 alerts in every format.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readEdrFile } from '../../src/attribute/ingest.js';
import { addrScope } from '../../src/attribute/normalize.js';
import { expandInputs } from '../../src/cli/replay.js';
import { currentAlerts } from '../../src/sensor/index.js';
import { loadConfig } from '../../src/config.js';
import { Pipeline } from '../../src/pipeline.js';
import type { Alert, Observation } from '../../src/records.js';
import { readCaptureFile } from '../../src/source/file.js';
import { Store } from '../../src/store/store.js';
import { repoRoot } from '../helpers/corpus.js';

const fleet = join(repoRoot, 'pcaps', 'fleet');
const tmp = mkdtempSync(join(tmpdir(), 'llmtap-fleet-'));
let dbN = 0;

interface Facts {
  devices: { id: string; addrs: string[]; ipv6Only: boolean; mdeDeviceId: string }[];
  processes: { device: string; pid: number; name: string; sha256: string; sha1: string }[];
  steps: {
    step: number;
    flows: { device: string; client: string; clientPort: number; server: string; serverPort: number; host: string; capture: string; captured: boolean; edr: { processName: string; sha256: string; sha1: string } }[];
  }[];
}
const facts = JSON.parse(readFileSync(join(fleet, 'expected.json'), 'utf8')) as Facts;

const FEEDS = [
  { feed: 'llmtap.ndjson', hash: 'sha256' },
  { feed: 'sysmon-nxlog-11h-ahead.jsonl', hash: 'sha256' },
  { feed: 'mde-streaming.jsonl', hash: 'sha1' },
] as const;
type Feed = (typeof FEEDS)[number];

const CAPTURES = {
  /** the three capture files at once, as `llmtap replay pcaps/fleet` reads them */
  files: expandInputs([fleet]).files,
  /** one pcapng with the bridge and both loopback interfaces */
  pcapng: [join(fleet, 'merged', 'fleet.pcapng.gz')],
};

/** The lab device a feed's device id stands for (Defender names devices by a hex id). */
function labDevice(id: string | undefined): string | undefined {
  return facts.devices.find((d) => d.id === id || d.mdeDeviceId === id)?.id;
}

interface Run {
  alerts: Alert[];
  obs: Observation[];
  stats: Record<string, number>;
}

/** Replay; the feed before the packets, or (`edrLate`) after all of them (late joins). */
async function run(feed: Feed, captures: string[], edrLate = false): Promise<Run> {
  const cfg = loadConfig(join(fleet, 'llmtap.yaml'));
  const store = Store.open(join(tmp, `fleet-${dbN++}.db`));
  const seen: Observation[] = [];
  const pipeline = new Pipeline(cfg, { store, onObservation: (o) => seen.push(o) });
  const readFeed = async () => {
    const r = await readEdrFile(join(fleet, 'edr', feed.feed), { tenant: cfg.edr.tenant, lineageKey: cfg.attribute.lineage_key }, (rec) => pipeline.addEdr(rec));
    expect(r.accepted, feed.feed).toBeGreaterThan(0);
  };
  if (!edrLate) await readFeed();
  for (const f of captures) await readCaptureFile(f, (b) => pipeline.onBatch(b));
  if (edrLate) {
    pipeline.packets.finish();
    await readFeed();
  }
  pipeline.finish();
  const last = new Map<string, Observation>();
  for (const o of seen) last.set(o.obsId, o);
  const out = { alerts: currentAlerts(store, ['fleet', 'default']), obs: [...last.values()], stats: pipeline.stats() };
  store.close();
  return out;
}

const loopbackFlows = facts.steps.flatMap((s) => s.flows).filter((f) => f.host === 'localhost');
const tapFlows = facts.steps.flatMap((s) => s.flows).filter((f) => f.host !== 'localhost' && f.host !== 'www.example.org');

function alertKey(a: Alert): string {
  return `${a.heuristic}|${labDevice(a.deviceId) ?? a.clientAddr ?? '-'}|${a.processName ?? '-'}|${a.provider ?? '-'}`;
}

const EXPECTED_ALERTS = [
  'h1|device-a|quickprompt|OpenAI', // step 4: the new binary on each device …
  'h1|device-b|quickprompt|OpenAI',
  'h1|device-e|quickprompt|Anthropic', // … the IPv6-only device calls another provider
  'h7|-|quickprompt|OpenAI, Anthropic', // … and the spread names both
  'h1|device-c|curl|Google', // step 5
  'h1|device-e|curl|Anthropic',
  'h7|-|curl|Ollama, Google, Anthropic', // curl on 4 devices: the loopback runtime calls of a and b count once each
].sort();

describe('the fleet set (issue 15 acceptance)', () => {
  it('the facts: every connection of the feed is in its capture; loopback calls on lo of device-a and device-b over 127.0.0.1 and ::1; device-e has IPv6 only', () => {
    expect(CAPTURES.files.map((f) => f.slice(fleet.length + 1))).toEqual(['lo-device-a.pcap.gz', 'lo-device-b.pcap.gz', 'tap.pcap.gz']);
    expect(loopbackFlows.map((f) => `${f.device}|${f.server}|${f.capture}`).sort()).toEqual([
      'device-a|127.0.0.1|lo-device-a.pcap.gz', 'device-a|127.0.0.1|lo-device-a.pcap.gz', 'device-a|::1|lo-device-a.pcap.gz', 'device-a|::1|lo-device-a.pcap.gz',
      'device-b|127.0.0.1|lo-device-b.pcap.gz', 'device-b|::1|lo-device-b.pcap.gz',
    ]);
    expect(facts.steps.flatMap((s) => s.flows).every((f) => f.captured)).toBe(true);
    const e = facts.devices.find((d) => d.id === 'device-e')!;
    expect(e.ipv6Only).toBe(true);
    expect(tapFlows.filter((f) => f.device === 'device-e').every((f) => f.client.includes(':') && f.server.includes(':'))).toBe(true);
    expect(tapFlows.filter((f) => f.device === 'device-e').length).toBe(2);
  });

  const baseline = new Map<string, string[]>();
  for (const feed of FEEDS) {
    for (const [arrangement, captures, edrLate] of [['files', CAPTURES.files, false], ['pcapng', CAPTURES.pcapng, false], ['files', CAPTURES.files, true]] as const) {
      const what = `${arrangement === 'files' ? 'the three captures at once' : 'one pcapng with all interfaces'}${edrLate ? ', the feed after the packets' : ''}`;
      it(`${feed.feed}, ${what}: no loopback device, each local connection once and attributed, H7 names its spread and links its H1 alerts`, async () => {
        const r = await run(feed, [...captures], edrLate);
        // no alert (of any kind) whose device is a loopback address, no shadow-volume at all
        expect(r.alerts.filter((a) => a.deviceId === undefined && a.clientAddr !== undefined && addrScope(a.clientAddr) === 'loopback')).toEqual([]);
        expect(r.alerts.filter((a) => a.heuristic === 'shadow_volume')).toEqual([]);
        expect(r.alerts.map(alertKey).sort()).toEqual(EXPECTED_ALERTS);

        // each local connection: one observation, the captured flow, with client and runtime
        expect(r.obs.filter((o) => o.kind === 'edr-only')).toEqual([]);
        expect(r.stats['edr_only.loopback'] ?? 0).toBe(0);
        const local = r.obs.filter((o) => addrScope(o.clientAddr) === 'loopback');
        expect(local.length).toBe(loopbackFlows.length);
        for (const f of loopbackFlows) {
          const m = local.filter((o) => o.clientAddr === f.client && o.flow?.origPort === f.clientPort && o.serverPort === f.serverPort);
          expect(m.length, `${f.device} ${f.client}:${f.clientPort}`).toBe(1);
          const o = m[0]!;
          expect(o.kind).toBe('flow');
          expect(labDevice(o.client?.deviceId)).toBe(f.device);
          expect(o.client?.processName).toBe('curl');
          expect(o.client?.method).toBe('edr');
          expect(o.client?.[feed.hash]).toBe(f.edr[feed.hash]);
          expect(labDevice(o.server?.deviceId)).toBe(f.device);
          expect(o.server?.processName).toBe('ollama');
          expect(`${o.verdict?.category}|${o.verdict?.provider}`).toBe('local_llm|Ollama');
        }

        // every cloud call attributed to its process and binary, IPv6-only device included
        for (const f of tapFlows) {
          const o = r.obs.find((x) => x.clientAddr === f.client && x.flow?.origPort === f.clientPort && x.serverAddr === f.server);
          expect(o, `${f.device} ${f.client}:${f.clientPort}`).toBeDefined();
          expect(labDevice(o!.client?.deviceId)).toBe(f.device);
          expect(o!.client?.processName).toBe(f.edr.processName);
          expect(o!.client?.[feed.hash]).toBe(f.edr[feed.hash]);
          expect(o!.host).toBe(f.host);
        }

        // the binary identity every alert carries, typed: SHA-256 from NDJSON and Sysmon, SHA-1 from Defender
        const other = feed.hash === 'sha1' ? 'sha256' : 'sha1';
        for (const a of r.alerts) {
          const p = facts.processes.find((x) => x.name === a.processName)!;
          expect(a[feed.hash], alertKey(a)).toBe(p[feed.hash]);
          expect(a[other], alertKey(a)).toBeUndefined();
        }

        // H7: every provider and host of the spread, per device, and the H1 alerts of the same binary
        const h7 = r.alerts.filter((a) => a.heuristic === 'h7');
        const spreadOf = (a: Alert) => (a.evidence.spread ?? []).map((d) => `${labDevice(d.deviceId)}:${d.providers.join('+')}`).sort();
        const qp = h7.find((a) => a.processName === 'quickprompt')!;
        expect(qp.providers).toEqual(['OpenAI', 'Anthropic']);
        expect([...(qp.hosts ?? [])].sort()).toEqual(['api.anthropic.com', 'api.openai.com']);
        expect(spreadOf(qp)).toEqual(['device-a:OpenAI', 'device-b:OpenAI', 'device-e:Anthropic']);
        const curl = h7.find((a) => a.processName === 'curl')!;
        expect(curl.providers).toEqual(['Ollama', 'Google', 'Anthropic']);
        expect(spreadOf(curl)).toEqual(['device-a:Ollama', 'device-b:Ollama', 'device-c:Google', 'device-e:Anthropic']);
        for (const a of h7) {
          const h1 = r.alerts.filter((x) => x.heuristic === 'h1' && x.processName === a.processName).map((x) => x.id).sort();
          expect(h1.length).toBeGreaterThan(0);
          expect([...(a.related ?? [])].sort(), a.processName).toEqual(h1);
        }

        // the same connections at the same capture times whatever the feed and the arrangement
        const times = r.obs.filter((o) => o.verdict !== undefined).map((o) => `${o.obsId}@${o.tsUs}`).sort();
        const first = baseline.get('times');
        if (first === undefined) baseline.set('times', times);
        else expect(times).toEqual(first);
      });
    }
  }
});
