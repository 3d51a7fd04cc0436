/**
 * End-to-end acceptance on the demo scenario (pcaps/demo: real clients in network namespaces,
 * with the endpoint feed recorded in the same run). The whole pipeline — reader, decode, flows,
 * TLS/QUIC/DNS, passive DNS, EDR join, classification, detection, SQLite — must produce exactly
 * the alerts the scenario was built to show, from either feed format, in either arrival order,
 * with the endpoint clocks skewed, and idempotently on re-replay.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readEdrFile } from '../../src/attribute/ingest.js';
import { currentAlerts } from '../../src/sensor/index.js';
import { loadConfig } from '../../src/config.js';
import { Pipeline } from '../../src/pipeline.js';
import type { Alert, EdrConnection, FlowRecord, Observation } from '../../src/records.js';
import { readCaptureFile } from '../../src/source/file.js';
import { Store } from '../../src/store/store.js';
import { repoRoot } from '../helpers/corpus.js';

const demo = join(repoRoot, 'pcaps', 'demo');
const tmp = mkdtempSync(join(tmpdir(), 'llmtap-demo-'));
let dbN = 0;

interface Facts {
  steps: { step: number; flows: { client: string; clientPort: number; server: string; serverPort: number; device: string; onTap: boolean; host: string; edr?: { processName: string; sha256: string } }[] }[];
}
const facts = JSON.parse(readFileSync(join(demo, 'expected.json'), 'utf8')) as Facts;

/** The alerts the scenario was built to produce (README "Expected findings"), and no others. */
const EXPECTED_ALERTS = [
  'beacon|device-b|httpd-worker|Anthropic', // step 3: worker polling every 2 s
  'h1|device-b|httpd-worker|Anthropic', // step 3: a web-server worker is not on the allowlist (critical)
  'h1|device-a|quickprompt|OpenAI', // step 4: the new binary on each of three devices …
  'h1|device-b|quickprompt|OpenAI',
  'h1|device-c|quickprompt|OpenAI',
  'h7|-|quickprompt|OpenAI', // … and the spread itself (critical)
  'h1|device-c|openssl|Anthropic', // step 6: no SNI, named by the client's own DNS answer
  'upload|device-c|python3.11|OpenAI', // step 5: 13.9 MB out (python3.11 is allowlisted: no H1)
  'shadow_volume|10.77.0.104|-|Google', // step 7: device-d without EDR, 6 calls
].sort();

/**
 * Every AI observation of the run: category|provider|device (or client address without EDR)|
 * process|host|host source|sanctioned → connections. From the scenario's facts
 * (pcaps/demo/expected.json steps) and the endpoint facts in llm-endpoints.md.
 */
const EXPECTED_AI_OBSERVATIONS: Record<string, number> = {
  'api|Anthropic|device-b|httpd-worker|api.anthropic.com|sni|': 10, // step 3
  'api|Anthropic|device-c|openssl|api.anthropic.com|dns-client|': 1, // step 6: no SNI
  'api|Google|10.77.0.104|-|generativelanguage.googleapis.com|sni|': 6, // step 7: no EDR
  'api|OpenAI|device-a|curl|api.openai.com|sni|': 2, // step 2
  'api|OpenAI|device-a|quickprompt|api.openai.com|sni|': 1, // step 4
  'api|OpenAI|device-b|quickprompt|api.openai.com|sni|': 1,
  'api|OpenAI|device-c|quickprompt|api.openai.com|sni|': 1,
  'api|OpenAI|device-c|python3.11|api.openai.com|sni|': 1, // step 5: the upload
  'assistant|OpenAI|device-a|chromium|chatgpt.com|quic-sni|sanctioned': 1, // step 1, QUIC
  'assistant|OpenAI|device-a|chromium|chatgpt.com|sni|sanctioned': 1, // step 1, TCP
  'local_llm|Ollama|device-a|curl|-|none|': 3, // step 8: loopback, EDR only
};

function obsKey(o: Observation): string {
  const v = o.verdict!;
  return `${v.category}|${v.provider}|${o.client?.deviceId ?? o.clientAddr}|${o.client?.processName ?? '-'}|${o.host ?? '-'}|${o.hostSource}|${v.sanctioned ? 'sanctioned' : ''}`;
}

function alertKey(a: Alert): string {
  return `${a.heuristic}|${a.deviceId ?? a.clientAddr ?? '-'}|${a.processName ?? '-'}|${a.provider ?? '-'}`;
}

interface Run {
  alerts: Alert[];
  flows: FlowRecord[];
  observations: Observation[];
  store: Store;
  pipeline: Pipeline;
}

/** Replay the demo; EDR records first (`edrFirst`) or after all packets, shifted by `skewMs`. */
async function run(opts: { feed: string; edrFirst: boolean; skewMs?: number; dbPath?: string }): Promise<Run> {
  const cfg = loadConfig(join(demo, 'llmtap.yaml'));
  const store = Store.open(opts.dbPath ?? join(tmp, `demo-${dbN++}.db`));
  const { applyConfigAllowlist } = await import('../../src/sensor/allowlist.js');
  applyConfigAllowlist(cfg, store);
  const flows: FlowRecord[] = [];
  const observations: Observation[] = [];
  const pipeline = new Pipeline(cfg, { store, onFlow: (f) => flows.push(f), onObservation: (o) => observations.push(o) });
  const records: EdrConnection[] = [];
  await readEdrFile(join(demo, 'edr', opts.feed), { tenant: 'demo', lineageKey: cfg.attribute.lineage_key }, (r) => records.push(r));
  const k = opts.skewMs ?? 0;
  const shifted = records.map((r) => {
    const s: EdrConnection = { ...r, tsMs: r.tsMs + k, receivedAtMs: r.receivedAtMs + k };
    if (r.processStartMs !== undefined) s.processStartMs = r.processStartMs + k; // the whole endpoint clock is off
    return s;
  });
  if (opts.edrFirst) for (const r of shifted) pipeline.addEdr(r);
  await readCaptureFile(join(demo, 'demo.pcap.gz'), (b) => pipeline.onBatch(b));
  if (!opts.edrFirst) {
    // the feed arrives late: flows are already emitted (unattributed); late joins re-emit them
    pipeline.packets.finish();
    for (const r of shifted) pipeline.addEdr(r);
  }
  pipeline.finish();
  return { alerts: currentAlerts(store, ['demo', 'default']), flows, observations, store, pipeline };
}

/** The last observation of each obsId (late joins re-emit with update: true). */
function finalObservations(obs: Observation[]): Observation[] {
  const m = new Map<string, Observation>();
  for (const o of obs) m.set(o.obsId, o);
  return [...m.values()];
}

describe('demo scenario, end to end', () => {
  it('produces exactly the expected alerts (llmtap NDJSON feed), and every covered flow is attributed to its process', async () => {
    const r = await run({ feed: 'llmtap.ndjson', edrFirst: true });
    expect(r.alerts.map(alertKey).sort()).toEqual(EXPECTED_ALERTS);
    // severities that make the point of each finding
    const sev = Object.fromEntries(r.alerts.map((a) => [alertKey(a), a.severity]));
    expect(sev['h1|device-b|httpd-worker|Anthropic']).toBe('critical');
    expect(sev['h7|-|quickprompt|OpenAI']).toBe('critical');
    // every alert carries its confidence: the EDR-attributed ones have SNI (or the client's
    // DNS answer), the endpoint record and a programmatic process agreeing; device-d has no EDR
    const conf = Object.fromEntries(r.alerts.map((a) => [alertKey(a), a.confidence?.level]));
    expect(conf).toEqual(Object.fromEntries(EXPECTED_ALERTS.map((k) => [k, k.startsWith('shadow_volume|') ? 'medium' : 'high'])));
    expect(r.alerts.find((a) => a.heuristic === 'shadow_volume')?.confidence?.reasons.map((x) => x.signal)).toEqual(['sni_dns_agree', 'repeated']);
    // H7 names its spread: each device and what it called
    const h7 = r.alerts.find((a) => a.heuristic === 'h7');
    expect(h7?.providers).toEqual(['OpenAI']);
    expect(h7?.evidence.spread?.map((d) => `${d.deviceId}:${d.providers.join('+')}:${d.hosts.join('+')}`).sort()).toEqual([
      'device-a:OpenAI:api.openai.com', 'device-b:OpenAI:api.openai.com', 'device-c:OpenAI:api.openai.com',
    ]);
    // exactly the AI observations of the scenario, each with how its host was named
    const ai: Record<string, number> = {};
    for (const o of finalObservations(r.observations)) if (o.verdict !== undefined) ai[obsKey(o)] = (ai[obsKey(o)] ?? 0) + 1;
    expect(ai).toEqual(EXPECTED_AI_OBSERVATIONS);
    // attribution: each on-tap flow of a covered device names the process the feed recorded
    const obs = finalObservations(r.observations).filter((o) => o.kind === 'flow');
    let checked = 0;
    for (const step of facts.steps) {
      for (const f of step.flows) {
        if (!f.onTap || f.edr === undefined || f.edr === null) continue;
        const o = obs.find((x) => x.clientAddr === f.client && x.flow?.origPort === f.clientPort && x.serverPort === f.serverPort);
        expect(o, `step ${step.step}: ${f.client}:${f.clientPort}`).toBeDefined();
        expect(o!.client?.processName).toBe(f.edr.processName);
        expect(o!.client?.sha256).toBe(f.edr.sha256);
        expect(o!.client?.deviceId).toBe(f.device);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(20);
    // the loopback runtime is seen only in the feed, and classified local_llm
    const local = finalObservations(r.observations).filter((o) => o.kind === 'edr-only' && o.verdict?.category === 'local_llm');
    expect(local.length).toBe(3);
    expect(local.every((o) => o.serverPort === 11434 && o.client?.processName === 'curl')).toBe(true);
    // the sanctioned assistant is classified and marked, and fires nothing
    const chat = obs.filter((o) => o.verdict?.category === 'assistant');
    expect(chat.length).toBeGreaterThanOrEqual(2);
    expect(chat.every((o) => o.verdict?.sanctioned === true && o.client?.processName === 'chromium')).toBe(true);
    expect(new Set(chat.map((o) => o.hostSource))).toEqual(new Set(['sni', 'quic-sni']));
    // the connection without SNI was named by passive DNS
    const noSni = obs.find((o) => o.client?.processName === 'openssl');
    expect(noSni?.hostSource).toBe('dns-client');
    expect(noSni?.host).toBe('api.anthropic.com');
    r.store.close();
  });

  it('the Sysmon (NXLog JSON) feed of the same run gives the same alerts', async () => {
    const r = await run({ feed: 'sysmon-nxlog.jsonl', edrFirst: true });
    expect(r.alerts.map(alertKey).sort()).toEqual(EXPECTED_ALERTS);
    r.store.close();
  });

  for (const [label, skewMs] of [
    ['+60 s', 60_000],
    ['-60 s', -60_000],
    ['+11 h', 11 * 3600_000],
  ] as const) {
    it(`endpoint clocks ${label} off, feed arriving after the flows: the same alerts (skew learned, late joins)`, async () => {
      const r = await run({ feed: 'llmtap.ndjson', edrFirst: false, skewMs });
      expect(r.alerts.map(alertKey).sort()).toEqual(EXPECTED_ALERTS);
      const late = r.pipeline.attributor.stats();
      expect((late['join.late'] ?? 0) + (late['join.late_held'] ?? 0)).toBeGreaterThan(0);
      r.store.close();
    });
  }

  it('re-replaying the same input into the same database adds no duplicate alert', async () => {
    const dbPath = join(tmp, 'twice.db');
    const a = await run({ feed: 'llmtap.ndjson', edrFirst: true, dbPath });
    const first = a.alerts.map((x) => `${x.id}|${x.count}`).sort();
    a.store.close();
    const b = await run({ feed: 'llmtap.ndjson', edrFirst: true, dbPath });
    expect(b.alerts.map((x) => `${x.id}|${x.count}`).sort()).toEqual(first);
    b.store.close();
  });
});
