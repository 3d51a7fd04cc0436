// pcaps/demo (issue 9): the committed capture is what expected.json's tshark section says, the
// endpoint feed of the same run agrees with the capture (5-tuples, times), both feed formats
// carry the same connections and nothing private, and every scenario step is really there.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { EdrConnection } from '../../src/records.js';
import type { OracleExpected } from '../../scripts/captures/oracle.mjs';
import { comparable, derive, readCapture, tsharkAvailable } from '../../scripts/captures/oracle.mjs';

const DEMO = resolve(dirname(fileURLToPath(import.meta.url)), '../../pcaps/demo');
const CI = process.env['CI'] === 'true';

interface StepFlow {
  proto: string; device: string; client: string; clientPort: number; server: string; serverPort: number;
  host: string; onTap: boolean; sni?: string | null; bytesOut?: number; firstFrame?: number;
  edr: { pid: number; processName: string; sha256: string; parentName: string | null } | null;
}
interface Step { step: number; title: string; devices: string[]; hosts: string[]; startMs: number; untilMs: number; flows: StepFlow[] }
interface DemoExpected {
  scenario: { tenant: string; t0Ms: number; endMs: number };
  devices: { id: string; addrs: string[]; edr: boolean }[];
  hosts: Record<string, string[]>;
  processes: { device: string; pid: number; name: string; path: string; sha256: string; parentName?: string }[];
  steps: Step[];
  oracle: OracleExpected;
}

const exp = JSON.parse(readFileSync(join(DEMO, 'expected.json'), 'utf8')) as DemoExpected;
const lines = (f: string): unknown[] => readFileSync(join(DEMO, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);
const feed = lines('edr/llmtap.ndjson') as EdrConnection[];
const sysmon = lines('edr/sysmon-nxlog.jsonl') as Record<string, string | number>[];
const steps = (n: number): Step[] => exp.steps.filter((s) => s.step === n);
const flowsOf = (n: number): StepFlow[] => steps(n).flatMap((s) => s.flows);

// Every field name of EdrConnection (src/records.ts); a record may carry nothing else.
const EDR_FIELDS = new Set(['v', 'tenant', 'source', 'sourceEventId', 'tsMs', 'tsKind', 'receivedAtMs', 'deviceId',
  'deviceName', 'localAddr', 'localPort', 'remoteAddr', 'remotePort', 'transport', 'direction', 'pid', 'processKey',
  'processStartMs', 'processName', 'processPath', 'sha256', 'sha1', 'fileId', 'hashUnknown', 'parentName',
  'lineageHash', 'remoteNameHint']);
const PRIVATE_SYSMON = ['User', 'CommandLine', 'ParentCommandLine', 'CurrentDirectory', 'LogonGuid', 'LogonId', 'ParentUser'];

// Sysmon prints IPv6 uncompressed; the WHATWG URL parser gives the RFC 5952 form.
const canon = (ip: string): string => (ip.includes(':') ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip);

describe('demo capture', () => {
  it('is the capture expected.json describes', () => {
    const sha = createHash('sha256').update(readCapture(join(DEMO, 'demo.pcap.gz'))).digest('hex');
    expect(sha).toBe(exp.oracle.sha256);
  });

  it('tshark re-derives the oracle section exactly', () => {
    if (!tsharkAvailable()) {
      if (CI) throw new Error('tshark is required under CI=true (install the tshark package)');
      return;
    }
    expect(comparable(derive(join(DEMO, 'demo.pcap.gz'), exp.oracle.capture))).toEqual(comparable(exp.oracle));
  });

  it('never shows loopback traffic (the tap cannot see it)', () => {
    expect(exp.oracle.flows.some((f) => f.a.startsWith('127.') || f.b.startsWith('127.') || f.a === '::1')).toBe(false);
  });
});

describe('endpoint feed', () => {
  it('llmtap NDJSON: EdrConnection v1 fields only, tenant demo, real hashes', () => {
    expect(feed.length).toBeGreaterThan(20);
    for (const r of feed) {
      for (const k of Object.keys(r)) expect(EDR_FIELDS.has(k), k).toBe(true);
      expect(r.v).toBe(1);
      expect(r.tenant).toBe('demo');
      expect(r.source).toBe('llmtap');
      expect(r.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(r.hashUnknown).toBe(false);
      expect(r.receivedAtMs).toBeGreaterThan(r.tsMs);
    }
  });

  it('has no record for the uncovered device-d', () => {
    const d = exp.devices.find((x) => x.id === 'device-d');
    expect(d?.edr).toBe(false);
    expect(feed.some((r) => r.deviceId === 'device-d' || d?.addrs.includes(r.localAddr))).toBe(false);
    expect(sysmon.some((e) => e['Hostname'] === 'device-d')).toBe(false);
  });

  it('every non-loopback outbound record is a flow on the tap with the same 5-tuple, within 1 s', () => {
    const onTap = feed.filter((r) => r.direction === 'outbound' && r.localAddr !== '127.0.0.1');
    expect(onTap.length).toBeGreaterThan(15);
    for (const r of onTap) {
      const f = exp.oracle.flows.find((x) => x.proto === r.transport && x.a === r.localAddr && x.a_port === r.localPort
        && x.b === r.remoteAddr && x.b_port === r.remotePort);
      expect(f, `${r.localAddr}:${r.localPort} → ${r.remoteAddr}:${r.remotePort}`).toBeDefined();
      expect(Math.abs(Number(f?.first_time_epoch) * 1000 - r.tsMs)).toBeLessThan(1000);
    }
  });

  it('Sysmon NXLog: the same connections, EID 1 before each process\'s EID 3, nothing private', () => {
    const eid3 = sysmon.filter((e) => e['EventID'] === 3);
    const eid1 = sysmon.filter((e) => e['EventID'] === 1);
    expect(eid3).toHaveLength(feed.length);
    const started = new Set<string>();
    for (const e of sysmon) {
      for (const k of PRIVATE_SYSMON) expect(e[k], k).toBeUndefined();
      expect(String(e['Message'])).not.toMatch(/CommandLine|User:/);
      const key = `${String(e['Hostname'])} ${String(e['ProcessGuid'])}`;
      if (e['EventID'] === 1) started.add(key);
      else expect(started.has(key), key).toBe(true);
    }
    for (const e of eid1) expect(String(e['Hashes'])).toMatch(/^SHA256=[0-9A-F]{64}$/);
    const tuples = (xs: string[]): string[] => [...xs].sort();
    expect(tuples(eid3.map((e) => {
      const out = e['Initiated'] === 'true';
      const [l, lp, r, rp] = out
        ? [e['SourceIp'], e['SourcePort'], e['DestinationIp'], e['DestinationPort']]
        : [e['DestinationIp'], e['DestinationPort'], e['SourceIp'], e['SourcePort']];
      return `${String(e['Hostname'])} ${canon(String(l))} ${String(lp)} ${canon(String(r))} ${String(rp)}`;
    }))).toEqual(tuples(feed.map((r) => `${r.deviceId} ${r.localAddr} ${r.localPort} ${r.remoteAddr} ${r.remotePort}`)));
  });
});

describe('scenario steps', () => {
  it('every flow of a covered device is attributed by the feed', () => {
    const covered = new Set(exp.devices.filter((d) => d.edr).map((d) => d.id));
    for (const s of exp.steps) for (const f of s.flows) if (covered.has(f.device)) expect(f.edr, `${s.title} ${f.clientPort}`).not.toBeNull();
  });

  it('1: chromium to chatgpt.com over QUIC and over TCP', () => {
    const f = flowsOf(1);
    expect(f.some((x) => x.proto === 'udp' && x.sni === 'chatgpt.com' && x.edr?.processName === 'chromium')).toBe(true);
    expect(f.some((x) => x.proto === 'tcp' && x.sni === 'chatgpt.com' && x.edr?.processName === 'chromium')).toBe(true);
  });

  it('2: curl calls api.openai.com', () => {
    expect(flowsOf(2).filter((x) => x.sni === 'api.openai.com' && x.edr?.processName === 'curl').length).toBeGreaterThan(0);
  });

  it('3: httpd-worker (parent httpd) polls api.anthropic.com at least 8 times about every 2 s', () => {
    const f = flowsOf(3).filter((x) => x.edr?.processName === 'httpd-worker' && x.edr.parentName === 'httpd');
    expect(f.length).toBeGreaterThanOrEqual(8);
    const starts = f.map((x) => feed.find((r) => r.localPort === x.clientPort && r.localAddr === x.client)?.tsMs ?? 0).sort((a, b) => a - b);
    const gaps = starts.slice(1).map((t, i) => t - (starts[i] ?? 0)).sort((a, b) => a - b);
    const median = gaps[Math.floor(gaps.length / 2)] ?? 0;
    expect(median).toBeGreaterThan(1500);
    expect(median).toBeLessThan(2500);
  });

  it('4: one new binary hash calls api.openai.com from three devices within two minutes', () => {
    const f = flowsOf(4).filter((x) => x.edr?.processName === 'quickprompt');
    expect(new Set(f.map((x) => x.device)).size).toBe(3);
    const hashes = new Set(f.map((x) => x.edr?.sha256));
    expect(hashes.size).toBe(1);
    const others = exp.processes.filter((p) => p.name !== 'quickprompt').map((p) => p.sha256);
    expect(others).not.toContain([...hashes][0]);
    const s = steps(4)[0];
    expect((s?.untilMs ?? 0) - (s?.startMs ?? 0)).toBeLessThan(120_000);
  });

  it('5: one upload of more than 10,000,000 bytes to an API host', () => {
    const big = flowsOf(5).filter((x) => (x.bytesOut ?? 0) > 10_000_000);
    expect(big).toHaveLength(1);
    expect(big[0]?.host).toBe('api.openai.com');
  });

  it('6: a ClientHello without SNI whose address the same client resolved just before', () => {
    const [f] = flowsOf(6);
    expect(f?.sni).toBeNull();
    expect(f?.edr?.processName).toBe('openssl');
    const answer = exp.oracle.dns.find((d) => d.dst === f?.client && d.qname === 'api.anthropic.com'
      && d.answers.some((a) => a.data === f?.server));
    expect(answer).toBeDefined();
    expect(answer?.frame).toBeLessThan(f?.firstFrame ?? 0);
  });

  it('7: device-d (no endpoint sensor) calls an API at least 6 times', () => {
    const f = flowsOf(7).filter((x) => x.device === 'device-d');
    expect(f.length).toBeGreaterThanOrEqual(6);
    expect(f.every((x) => x.edr === null && x.sni === 'generativelanguage.googleapis.com')).toBe(true);
  });

  it('8: loopback calls to 127.0.0.1:11434 exist only in the feed', () => {
    const f = flowsOf(8);
    expect(f.length).toBeGreaterThanOrEqual(3);
    for (const x of f) {
      expect(x.onTap).toBe(false);
      expect(x.serverPort).toBe(11434);
    }
    expect(feed.some((r) => r.localPort === 11434 && r.direction === 'inbound' && r.processName === 'ollama')).toBe(true);
  });

  it('9: ordinary non-AI traffic and DNS', () => {
    const hosts = new Set(flowsOf(9).map((x) => x.sni));
    expect(hosts.has('www.example.org')).toBe(true);
    expect(exp.oracle.counts.dns_responses).toBeGreaterThan(5);
  });
});
