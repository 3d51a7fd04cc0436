/**
 * `llmtap ingest zeek|eve` on public pairs of a capture and the logs Zeek or Suricata wrote for
 * it (Zeek's test suite, suricata-verify; test/ingest/fixtures/README.md): replaying the capture and ingesting its logs give
 * the same named flows, the same AI observations and the same alerts, under a rule file that
 * makes the pairs' hosts AI endpoints.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/corpus.js';
import { ensureBuilt } from '../helpers/build-once.js';

const FIX = join(repoRoot, 'test/ingest/fixtures');
const BIN = join(repoRoot, 'bin/llmtap.js');

/** The pairs' hosts as AI endpoints, so the comparison runs through classify and detect. */
const RULES = `format: llmtap-rules/1
rules:
  - id: test-upload
    category: api
    provider: TestUpload
    match: { hosts: [upload.wikimedia.org] }
    source: test
  - id: test-meta
    category: assistant
    provider: TestMeta
    match: { hosts: [meta.wikimedia.org] }
    source: test
  - id: test-google
    category: assistant
    provider: TestGoogle
    match: { hosts: [ipv4.google.com] }
    source: test
  - id: test-gstatic
    category: api
    provider: TestGstatic
    match: { hosts: [ssl.gstatic.com] }
    source: test
  - id: test-ech-front
    category: api
    provider: TestEchFront
    match: { hosts: [cloudflare-ech.com] }
    source: test
  - id: test-cirrus
    category: api
    provider: TestCirrus
    match: { hosts: [api.cirrus-ci.com] }
    source: test
`;

let tmp: string;
let config: string;

beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'llmtap-ingest-'));
  writeFileSync(join(tmp, 'rules.yaml'), RULES);
  config = join(tmp, 'config.yaml');
  // one connection is enough for a shadow-volume alert: every AI observation can raise one
  writeFileSync(config, `rules:\n  file: ${JSON.stringify(join(tmp, 'rules.yaml'))}\ntenants:\n  - id: default\n    shadow_volume: { connections: 1 }\n`);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Flow {
  proto: number;
  origAddr: string;
  origPort: number;
  respAddr: string;
  respPort: number;
  firstTsUs: number;
  host?: string;
  hostSource: string;
  communityId: string;
  handshake?: { transport: string; sni?: string; alpn?: string[]; quicVersion?: string };
}
interface Summary {
  flows: number;
  observations: number;
  aiObservations: number;
  providers: { provider: string; category: string; flows: number }[];
  alerts: { heuristic: string; severity: string; confidence?: { level: string }; clientAddr?: string; provider?: string; host?: string; count: number; firstSeenUs: number; evidence: { communityIds?: string[] } }[];
  malformed: Record<string, number>;
  logs?: { file: string; lines: number; used: Record<string, number>; ignored: number; bad: Record<string, number> }[];
}

function run(args: string[]): { code: number | null; summary: Summary; flows: Flow[]; stderr: string } {
  const flowsFile = join(tmp, `flows-${Math.random().toString(36).slice(2)}.ndjson`);
  const db = join(tmp, `db-${Math.random().toString(36).slice(2)}.sqlite`);
  const r = spawnSync(process.execPath, [BIN, ...args, '--config', config, '--db', db, '--flows', flowsFile, '--format', 'json'], { encoding: 'utf8' });
  const flows = readFileSync(flowsFile, 'utf8').trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Flow);
  return { code: r.status, summary: JSON.parse(r.stdout) as Summary, flows, stderr: r.stderr };
}

const tupleKey = (proto: number, a: string, ap: number | string, b: string, bp: number | string): string => `${proto}|${a}|${ap}|${b}|${bp}`;
const PROTO: Record<string, number> = { tcp: 6, udp: 17, icmp: 1 };

/**
 * Zeek's test suite masks every `ts` (XXXXXXXXXX.XXXXXX) in its baselines. The one thing taken
 * back from the capture: each record's connection start, the first packet of the replay's flow
 * with the same 5-tuple (either direction). Everything else is what Zeek wrote.
 */
function unmask(dir: string, files: string[], replayFlows: Flow[], protoOf: (file: string, fields: string[], cols: string[]) => number): string {
  const start = new Map<string, number>();
  for (const f of replayFlows) {
    for (const k of [tupleKey(f.proto, f.origAddr, f.origPort, f.respAddr, f.respPort), tupleKey(f.proto, f.respAddr, f.respPort, f.origAddr, f.origPort)]) {
      const t = start.get(k);
      if (t === undefined || f.firstTsUs < t) start.set(k, f.firstTsUs);
    }
  }
  const out = join(tmp, `unmasked-${Math.random().toString(36).slice(2)}`);
  mkdirSync(out);
  for (const file of files) {
    let fields: string[] = [];
    const lines = readFileSync(join(dir, file), 'utf8').split('\n').map((line) => {
      if (line.startsWith('#fields\t')) fields = line.split('\t').slice(1);
      if (line.startsWith('#') || line === '') return line;
      const cols = line.split('\t');
      const at = (name: string): string => cols[fields.indexOf(name)] ?? '';
      const t = start.get(tupleKey(protoOf(file, fields, cols), at('id.orig_h'), at('id.orig_p'), at('id.resp_h'), at('id.resp_p')));
      expect(t, `${file}: a connection of the log is in the capture: ${line}`).toBeDefined();
      expect(cols[0]).toBe('XXXXXXXXXX.XXXXXX');
      cols[0] = (t! / 1e6).toFixed(6);
      return cols.join('\t');
    });
    writeFileSync(join(out, file), lines.join('\n'));
  }
  return out;
}

/** The named flows, order-free: 5-tuple, name, where the name came from. */
const named = (flows: Flow[]): string[] =>
  flows.filter((f) => f.host !== undefined).map((f) => `${tupleKey(f.proto, f.origAddr, f.origPort, f.respAddr, f.respPort)} ${f.host} ${f.hostSource} ${f.communityId}`).sort();

const alertsOf = (s: Summary): string[] =>
  s.alerts.map((a) => `${a.heuristic} ${a.severity} ${a.confidence?.level ?? '-'} ${a.clientAddr ?? '-'} ${a.provider ?? '-'} ${a.host ?? '-'} ${a.count} ${(a.evidence.communityIds ?? []).slice().sort().join(',')}`).sort();

describe('llmtap ingest zeek: the same observations as replaying the capture', () => {
  it('wikipedia.pcap with its conn.log and dns.log: flows named by DNS answers, DNS-named AI observations and alerts', () => {
    const dir = join(FIX, 'zeek-wikipedia');
    const replay = run(['replay', join(dir, 'wikipedia.pcap')]);
    expect(replay.code).toBe(0);
    const protoOf = (file: string, fields: string[], cols: string[]): number => PROTO[cols[fields.indexOf('proto')] ?? '']!;
    const logs = unmask(dir, ['conn.log', 'dns.log'], replay.flows, protoOf);
    const ingest = run(['ingest', 'zeek', logs]);
    expect(ingest.stderr).toBe('');
    expect(ingest.code).toBe(0);
    // every record of both logs was read; nothing bad
    expect(ingest.summary.logs?.map((l) => [l.file.slice(logs.length + 1), l.lines, l.used, l.ignored, l.bad])).toEqual([
      ['conn.log', 34, { conn: 34 }, 0, {}],
      ['dns.log', 34, { dns: 16 }, 18, {}], // 18 queries without a response
    ]);

    // the same seven flows named from the same client's DNS answers (CNAME chain: the queried name)
    expect(named(replay.flows)).toHaveLength(7);
    expect(named(ingest.flows)).toEqual(named(replay.flows));
    expect(named(ingest.flows).filter((x) => x.includes(' upload.wikimedia.org dns-client '))).toHaveLength(6);
    // every connection of conn.log is a flow of the capture (the capture has no others Zeek left out)
    const tuples = (fs: Flow[]): string[] => fs.map((f) => tupleKey(f.proto, f.origAddr, f.origPort, f.respAddr, f.respPort)).sort();
    expect(ingest.flows).toHaveLength(34);
    expect(tuples(ingest.flows).filter((t) => !tuples(replay.flows).includes(t))).toEqual([]);

    // the same AI observations and alerts
    expect(ingest.summary.aiObservations).toBe(7);
    expect(ingest.summary.aiObservations).toBe(replay.summary.aiObservations);
    const prov = (s: Summary): string[] => s.providers.map((p) => `${p.provider} ${p.category} ${p.flows}`).sort();
    expect(prov(ingest.summary)).toEqual(['TestMeta assistant 1', 'TestUpload api 6']);
    expect(prov(ingest.summary)).toEqual(prov(replay.summary));
    expect(alertsOf(ingest.summary).map((a) => a.split(' ').slice(0, 7).join(' '))).toEqual([
      'shadow_volume medium low 141.142.220.118 TestMeta meta.wikimedia.org 1',
      'shadow_volume medium medium 141.142.220.118 TestUpload upload.wikimedia.org 6',
    ]);
    expect(alertsOf(ingest.summary)).toEqual(alertsOf(replay.summary));
  });

  it('a Chromium QUIC capture with its quic.log and ssl.log: the QUIC SNI, the AI observation and the alert', () => {
    const dir = join(FIX, 'zeek-quic-chromium');
    const replay = run(['replay', join(dir, 'chromium-115.0.5790.110-api-cirrus-com.pcap')]);
    expect(replay.code).toBe(0);
    const logs = unmask(dir, ['quic.log', 'ssl.log'], replay.flows, () => 17);
    const ingest = run(['ingest', 'zeek', join(logs, 'quic.log'), join(logs, 'ssl.log')]);
    expect(ingest.stderr).toBe('');
    expect(ingest.code).toBe(0);
    expect(ingest.summary.logs?.map((l) => [l.lines, l.used, l.bad])).toEqual([
      [1, { quic: 1 }, {}],
      [1, { ssl: 1 }, {}],
    ]);
    expect(named(ingest.flows)).toEqual(['17|82.239.54.117|53727|110.213.53.115|443 api.cirrus-ci.com quic-sni 1:' + replay.flows[0]!.communityId.slice(2)]);
    expect(named(ingest.flows)).toEqual(named(replay.flows));
    const hs = ingest.flows[0]!.handshake!;
    expect(hs).toMatchObject({ transport: 'quic', sni: 'api.cirrus-ci.com', alpn: ['h3'], quicVersion: '0x00000001' });
    // the capture's own hello agrees on what the log has
    const rhs = replay.flows.find((f) => f.handshake !== undefined)!.handshake!;
    expect([rhs.transport, rhs.sni, rhs.alpn?.[0], rhs.quicVersion]).toEqual([hs.transport, hs.sni, hs.alpn?.[0], hs.quicVersion]);
    expect(ingest.summary.aiObservations).toBe(1);
    expect(ingest.summary.aiObservations).toBe(replay.summary.aiObservations);
    expect(alertsOf(ingest.summary).map((a) => a.split(' ').slice(0, 7).join(' '))).toEqual(['shadow_volume medium low 82.239.54.117 TestCirrus api.cirrus-ci.com 1']);
    expect(alertsOf(ingest.summary)).toEqual(alertsOf(replay.summary));
  });
});

describe('llmtap ingest zeek: TLS over TCP, and what ssl.log lacks', () => {
  it('a TLS 1.0 capture with its ssl.log: the SNI over TCP, the AI observation and the alert', () => {
    const dir = join(FIX, 'zeek-tls-basic');
    const replay = run(['replay', join(dir, 'tls-conn-with-extensions.pcap')]);
    expect(replay.code).toBe(0);
    const logs = unmask(dir, ['ssl.log'], replay.flows, () => 6);
    const ingest = run(['ingest', 'zeek', join(logs, 'ssl.log')]);
    expect(ingest.stderr).toBe('');
    expect(ingest.code).toBe(0);
    expect(named(ingest.flows)).toHaveLength(1);
    expect(named(ingest.flows)[0]).toMatch(/^6\|192\.168\.1\.105\|62045\|74\.125\.224\.79\|443 ssl\.gstatic\.com sni 1:/);
    expect(named(ingest.flows)).toEqual(named(replay.flows));
    expect(ingest.summary.aiObservations).toBe(1);
    expect(ingest.summary.aiObservations).toBe(replay.summary.aiObservations);
    expect(alertsOf(ingest.summary).map((a) => a.split(' ').slice(0, 7).join(' '))).toEqual(['shadow_volume medium low 192.168.1.105 TestGstatic ssl.gstatic.com 1']);
    expect(alertsOf(ingest.summary)).toEqual(alertsOf(replay.summary));
  });

  it('an ECH capture with its ssl.log: the log has no ECH flag, so its outer (front) name names the flows the capture leaves unnamed', () => {
    const dir = join(FIX, 'zeek-tls-ech');
    const replay = run(['replay', join(dir, 'tls13-ech.pcap')]);
    expect(replay.code).toBe(0);
    const logs = unmask(dir, ['ssl.log'], replay.flows, () => 6);
    const ingest = run(['ingest', 'zeek', join(logs, 'ssl.log')]);
    expect(ingest.code).toBe(0);
    // the capture: a real ECH outer hello, whose server_name is the front, names nothing
    const ech = replay.flows.filter((f) => f.handshake?.sni === 'cloudflare-ech.com');
    expect(ech).toHaveLength(2);
    expect(ech.every((f) => f.host === undefined && (f.handshake as { ech?: string }).ech === 'real')).toBe(true);
    expect(named(replay.flows)).toEqual([]);
    expect(replay.summary.aiObservations).toBe(0);
    // the log: the same two connections, named by the front name (the documented difference)
    expect(named(ingest.flows).map((x) => x.split(' ').slice(0, 3).join(' '))).toEqual([
      '6|192.168.20.65|51066|162.159.138.85|443 cloudflare-ech.com sni',
      '6|192.168.20.65|51071|162.159.138.85|443 cloudflare-ech.com sni',
    ]);
    expect(ingest.summary.aiObservations).toBe(2);
  });
});

describe('llmtap ingest eve: the same observations as replaying the capture', () => {
  it("suricata-verify's community-id-ipv4 capture with the tls and flow events its checks pin: the SNI, the AI observation and the alert", () => {
    const dir = join(FIX, 'eve-community-id-ipv4');
    const replay = run(['replay', join(dir, 'input.pcap')]);
    expect(replay.code).toBe(0);
    const ingest = run(['ingest', 'eve', join(dir, 'eve.json')]);
    expect(ingest.stderr).toBe('');
    expect(ingest.code).toBe(0);
    expect(ingest.summary.logs?.map((l) => [l.lines, l.used, l.ignored, l.bad])).toEqual([[2, { tls: 1, flow: 1 }, 0, {}]]);
    // the events are the ones test.yaml checks Suricata writes for this capture
    const yaml = readFileSync(join(dir, 'test.yaml'), 'utf8');
    for (const line of readFileSync(join(dir, 'eve.json'), 'utf8').trim().split('\n')) {
      const e = JSON.parse(line) as Record<string, unknown>;
      for (const k of ['src_ip', 'src_port', 'dest_ip', 'dest_port', 'community_id', 'event_type']) expect(yaml).toContain(`${k}: ${String(e[k])}`);
    }
    expect(yaml).toContain('tls.sni: ipv4.google.com');
    expect(named(ingest.flows)).toEqual(['6|172.26.0.39|35958|172.217.14.206|443 ipv4.google.com sni 1:0rRFlkfZsYZ0l7PqLoMEAxHMqrI=']);
    expect(named(ingest.flows)).toEqual(named(replay.flows));
    // Suricata's community_id there is seeded 7 (the test's suricata.yaml): llmtap keeps its own, seed 0
    expect(ingest.flows[0]!.communityId).not.toBe('1:IwiTNfuO7aCaamMijl+7/X9uLx0=');
    expect(ingest.summary.aiObservations).toBe(1);
    expect(ingest.summary.aiObservations).toBe(replay.summary.aiObservations);
    expect(alertsOf(ingest.summary).map((a) => a.split(' ').slice(0, 7).join(' '))).toEqual(['shadow_volume medium low 172.26.0.39 TestGoogle ipv4.google.com 1']);
    expect(alertsOf(ingest.summary)).toEqual(alertsOf(replay.summary));
  });
});
