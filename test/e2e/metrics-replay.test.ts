/**
 * Issue 7 — real metrics from real stages: a real Prometheus on loopback scrapes a running
 * llmtap API (`startApi`) whose Pipeline replays captures and EDR feeds while it scrapes. Then
 * every PromQL expression of the shipped Grafana dashboards must return at least one series,
 * and the scraped values must equal the stages' own counters (so a getter reading a key the
 * stage never writes shows up here, not on an operator's empty panel).
 *
 * Input: `pcaps/demo/` (captures and their EDR feed) when it exists; always a few corpus
 * captures chosen for what they exercise, and the shared EDR samples with the capture recorded
 * alongside them. The corpus and samples hold no AI service, so the shipped rules get one lab
 * rule that classifies the samples' processes as an AI agent (classification and alert panels
 * need some).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromObject } from '../../src/config.js';
import { MALFORMED } from '../../src/decode/reasons.js';
import { Pipeline } from '../../src/pipeline.js';
import { startApi } from '../../src/sensor/api.js';
import { readCaptureFile } from '../../src/source/file.js';
import { Store } from '../../src/store/store.js';
import { corpusDir, repoRoot } from '../helpers/corpus.js';
import { edrSampleFiles, edrSamplesDir, expectedIngest } from '../helpers/edr-needles.js';
import { Prometheus, dashboardExpressions, havePrometheus, substituteGrafana } from '../helpers/prometheus.js';

const TOKEN = 'metrics-replay-token-0123456789abcdef';
/** The operator token Prometheus scrapes with (the AI-traffic and alert series need one). */
const OPERATOR = 'metrics-replay-operator-token-0123456789';
/** Corpus captures and what each one feeds. */
const CORPUS = [
  'arkime-curl-tls13.pcap', // TLS ClientHello, DNS answers
  'zeek-quic-curl-http3.pcap', // QUIC Initial
  'ndpi-gquic-q046.pcap', // gQUIC
  'suri-dns-a-aaaa-mx.pcap', // DNS answers → passive DNS
  'ndpi-tls-invalid-reads.pcap', // decode.ipv4_length_exceeds_frame (a decode error)
  'tcpdump-quic-truncated.pcap', // quic.truncated (a dissect failure)
];
/** The shipped rules plus one lab rule for the samples' processes. */
function labRules(): string {
  const doc = YAML.parse(readFileSync(join(repoRoot, 'config', 'rules', 'default.yaml'), 'utf8')) as { rules: unknown[] };
  doc.rules.push({
    id: 'lab-processes',
    category: 'agent',
    provider: 'lab_agent',
    match: { processes: ['grunthttp', 'grunthttp2', 'svchost', 'system', 'wmiprvse', 'lsass', 'dns', 'dfsrs', 'msedge', 'w3wp', 'powershell', 'notepad', 'merlin-agent'] },
    source: 'metrics test (processes of the shared EDR samples)',
  });
  return YAML.stringify(doc);
}

const corpus = corpusDir();
const samples = edrSamplesDir();
const prom = havePrometheus();
const demoDir = join(repoRoot, 'pcaps', 'demo');
const list = (d: string, re: RegExp): string[] => (existsSync(d) ? readdirSync(d).filter((f) => re.test(f)).sort().map((f) => join(d, f)) : []);
const demoCaptures = list(demoDir, /\.(pcap|pcapng|cap)(\.gz)?$/);
/** The demo's feed in llmtap's own format (its Sysmon file is the same feed again). */
const demoEdr = list(join(demoDir, 'edr'), /^llmtap\.ndjson$/);

describe.skipIf(!prom || corpus === undefined || samples === undefined)('metrics: dashboards over a replaying pipeline, real Prometheus', () => {
  let tmp: string;
  let store: Store;
  let pipeline: Pipeline;
  let app: FastifyInstance | undefined;
  let p: Prometheus | undefined;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'llmtap-metrics-'));
    const rules = join(tmp, 'rules.yaml');
    writeFileSync(rules, labRules());
    const cfg = configFromObject({
      rules: { file: rules },
      api: {
        host: '127.0.0.1',
        port: 0,
        tokens: [{ tenant: 'default', token_sha256: createHash('sha256').update(TOKEN).digest('hex') }],
        operator_tokens: [{ name: 'prometheus', token_sha256: createHash('sha256').update(OPERATOR).digest('hex') }],
      },
    });
    store = Store.open(join(tmp, 'llmtap.db'), { flushIntervalMs: 0 });
    pipeline = new Pipeline(cfg, { store });
    const origErr = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write; // startApi's "listening" line
    try {
      app = await startApi(cfg, store, pipeline);
    } finally {
      process.stderr.write = origErr;
    }
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    const base = `http://127.0.0.1:${port}`;
    p = await Prometheus.start(join(tmp, 'prom'), `127.0.0.1:${port}`, { bearerToken: OPERATOR });

    // EDR first, through the API (records before flows is one of the join orders).
    for (const f of [...edrSampleFiles(samples ?? ''), ...demoEdr]) {
      const res = await fetch(`${base}/v1/edr/events`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TOKEN}`,
          'content-type': f.endsWith('.json') ? 'application/json' : 'application/x-ndjson',
          ...(f.endsWith('.gz') ? { 'content-encoding': 'gzip' } : {}),
        },
        body: readFileSync(f),
      });
      expect(res.status, f).toBe(expectedIngest(f).status);
    }
    // Then the captures, one a second, twice over, while Prometheus scrapes every second.
    // In capture-time order: EDR records wait for their flows in capture time, so the paired
    // capture (2020) comes before the corpus captures and the demo (newest) last.
    const captures = [join(samples ?? '', 'paired-network', 'sharpwmi.cap'), ...CORPUS.map((c) => join(corpus ?? '', 'pcaps', c)), ...demoCaptures];
    for (let round = 0; round < 2; round++) {
      for (const c of captures) {
        await readCaptureFile(c, (b) => pipeline.onBatch(b));
        pipeline.finish();
        await sleep(600);
      }
    }
    const doneS = Date.now() / 1000;
    await p.waitFor('three scrapes, the last after the replay', async () => {
      const up = await p!.value('sum_over_time(up{job="llmtap"}[2m])');
      const last = await p!.value('timestamp(llmtap_source_packets_total)');
      return up >= 3 && last >= doneS + 2;
    });
  });

  afterAll(async () => {
    await p?.stop();
    await app?.close();
    store?.close();
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  });

  it('every dashboard expression returns at least one series', async () => {
    const all = dashboardExpressions();
    expect(all.length).toBeGreaterThan(20);
    const empty: string[] = [];
    // live capture only: a replay has no kernel counters and no last-packet age, and only
    // `llmtap run --workers N` has live capture workers (no series, not zeros; the worker panels
    // are checked with two fed workers in test/api/prometheus.test.ts)
    const liveOnly = new Set(['Kernel-received packets /s by interface', 'Last packet age',
      'Capture workers: packets /s', 'Capture workers: kernel drops /s', 'Capture workers: busy ratio', 'Capture workers: restarts']);
    for (const { dashboard, panel, expr } of all) {
      const n = (await p!.query(substituteGrafana(expr))).length;
      if (liveOnly.has(panel)) expect(n, `${panel}: ${expr}`).toBe(0);
      else if (n === 0) empty.push(`${dashboard} / ${panel}: ${expr}`);
    }
    expect(empty).toEqual([]);
  });

  it('scraped values equal the stages\' own counters', async () => {
    const v = (e: string): Promise<number> => p!.value(e);
    const st = pipeline.stats();
    const packets = pipeline.packets.packets;
    expect(packets).toBeGreaterThan(500);
    expect(await v('llmtap_source_packets_total')).toBe(packets);
    expect(await v('llmtap_source_wire_bytes_total')).toBe(pipeline.packets.wireBytes);

    const ended = Object.values(pipeline.packets.flows.ended).reduce((a, b) => a + b, 0);
    expect(ended).toBe(pipeline.counters.flows);
    expect(await v('sum(llmtap_flow_ended_total)')).toBe(ended);
    expect(await v('sum(llmtap_attribute_flows_total)')).toBe(pipeline.counters.flows);

    // Decode errors are the malformed reasons only ('decode.ok' is not an error).
    const malformed = Object.entries(pipeline.packets.decodeStats()).filter(([k]) => MALFORMED.has(k));
    expect(malformed.length).toBeGreaterThan(0);
    const reasons = (await p!.query('llmtap_decode_errors_total')).map((s) => s.metric['reason']).sort();
    expect(reasons).toEqual(malformed.map(([k]) => k).sort());
    expect(await v('sum(llmtap_decode_errors_total)')).toBe(malformed.reduce((a, [, n]) => a + n, 0));

    expect(st['tls.hello_parsed'] ?? 0).toBeGreaterThan(0);
    expect(await v('sum(llmtap_dissect_handshakes_total{transport="tls"})')).toBe(st['tls.hello_parsed']);
    // Informational dissect counters are not failures; a real failure is.
    const failures = (await p!.query('llmtap_dissect_failures_total')).map((s) => s.metric['reason']);
    expect(failures).toContain('quic.truncated');
    for (const r of failures) expect(r).not.toMatch(/^dissect\.(quic_candidate|dns_udp|dns_tcp|bypass_other)$|^tls\.(hello_parsed|hello_multi_segment|hello_multi_record|retransmit|hello_duplicate)$/);

    expect(pipeline.counters.dnsAnswers).toBeGreaterThan(0);
    expect(await v('llmtap_dns_answers_total')).toBe(pipeline.counters.dnsAnswers);
    const pdns = (st['names.entries_client'] ?? 0) + (st['names.entries_addr'] ?? 0);
    expect(pdns).toBeGreaterThan(0);
    expect(await v('llmtap_names_passive_dns_entries')).toBe(pdns);

    const hits = st['join.hit'] ?? 0;
    expect(hits).toBeGreaterThan(0);
    expect(await v('llmtap_attribute_joined_flows_total')).toBe(hits);
    const edrAccepted = Object.entries(st).filter(([k]) => /^records\.(sysmon|wfp|mde|osquery|fdr|elastic_defend|tetragon|falco|auditd|llmtap)$/.test(k));
    expect(edrAccepted.length).toBeGreaterThanOrEqual(2);
    for (const [k, n] of edrAccepted) expect(await v(`llmtap_edr_records_total{format="${k.slice(8)}",outcome="accepted"}`), k).toBe(n);

    expect(pipeline.counters.aiObservations).toBeGreaterThan(0);
    expect(await v('sum(llmtap_classify_classifications_total)')).toBe(pipeline.counters.aiObservations);
    const alerts = Object.entries(st).filter(([k]) => /^alerts\.[a-z0-9_]+\.[a-z]+$/.test(k));
    expect(alerts.length).toBeGreaterThan(0);
    expect(await v('sum(llmtap_detect_alerts_total)')).toBe(alerts.reduce((a, [, n]) => a + n, 0));
    if (demoCaptures.length > 0) {
      // The demo talks to real AI service names: the shipped rules classify them.
      const providers = (await p!.query('sum by (provider) (llmtap_classify_ai_bytes_total)')).map((x) => x.metric['provider']);
      expect(providers.filter((x) => x !== 'lab_agent').length, providers.join(',')).toBeGreaterThan(0);
    }
    // The API's own requests were counted by route template, never by raw URL.
    const routes = (await p!.query('llmtap_api_requests_total')).map((s) => s.metric['route']);
    expect(routes).toContain('/v1/edr/events');
    expect(routes).toContain('/metrics');
  });
});
