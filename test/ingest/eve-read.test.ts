/**
 * The EVE reader on its own: flow events with their counters, tls and quic events joined by
 * flow_id, DNS answers in the three EVE forms (v1 one record per event, v2 grouped `answers`,
 * v3 `type: response`), timestamps with offsets, and bad lines counted by reason.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EveReader } from '../../src/source/eve.js';
import { isoToUs } from '../../src/source/logs.js';
import { repoRoot } from '../helpers/corpus.js';
import { ensureBuilt } from '../helpers/build-once.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'llmtap-eve-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const tuple = { src_ip: '10.1.1.5', src_port: 52000, dest_ip: '192.0.2.30', dest_port: 443 };

describe('isoToUs', () => {
  it('reads EVE timestamps to the microsecond, with and without offsets', () => {
    expect(isoToUs('2023-08-23T21:20:48.335892+0000')).toBe(1692825648335892);
    expect(isoToUs('2023-08-23T23:20:48.335892+0200')).toBe(1692825648335892);
    expect(isoToUs('2023-08-23T16:50:48.335892-04:30')).toBe(1692825648335892);
    expect(isoToUs('2023-08-23T21:20:48Z')).toBe(1692825648000000);
    expect(isoToUs('2023-08-23 21:20:48.5')).toBe(1692825648500000);
    for (const bad of ['yesterday', '2023-08-23', 1692825648, undefined]) expect(isoToUs(bad)).toBeUndefined();
  });
});

describe('EveReader', () => {
  it('joins flow, tls and quic events by flow_id; the flow event gives start, end, counters and the end reason', async () => {
    const f = join(tmp, 'eve.json');
    writeFileSync(f, [
      { timestamp: '2024-01-15T10:00:00.100000+0000', flow_id: 11, event_type: 'tls', ...tuple, proto: 'TCP', tls: { sni: 'api.openai.com', version: 'TLS 1.3', ja4: 't13d1516h2_8daaf6152771_02713d6af862', client_alpns: ['h2', 'http/1.1'] } },
      { timestamp: '2024-01-15T10:00:09.000000+0000', flow_id: 11, event_type: 'flow', ...tuple, proto: 'TCP', app_proto: 'tls', vlan: [20], flow: { pkts_toserver: 12, pkts_toclient: 10, bytes_toserver: 3100, bytes_toclient: 9800, start: '2024-01-15T10:00:00.050000+0000', end: '2024-01-15T10:00:04.050000+0000', state: 'closed', reason: 'timeout' } },
      { timestamp: '2024-01-15T10:00:01.000000+0000', flow_id: '22', event_type: 'quic', src_ip: '10.1.1.5', src_port: 60000, dest_ip: '2001:db8::30', dest_port: 443, proto: 'UDP', quic: { version: '1', sni: 'gemini.google.com' } },
      { timestamp: '2024-01-15T10:00:02.000000+0000', flow_id: 33, event_type: 'alert', ...tuple, proto: 'TCP', alert: { signature_id: 1 } },
      { timestamp: '2024-01-15T10:00:02.000000+0000', event_type: 'stats', stats: {} },
    ].map((e) => JSON.stringify(e)).join('\n'));
    const r = new EveReader();
    const res = await r.add(f);
    expect([res.lines, res.used, res.ignored, res.bad]).toEqual([5, { tls: 1, flow: 1, quic: 1 }, 2, {}]);
    const out = r.result();
    expect(out.flows).toEqual([
      {
        key: '11', proto: 6, origAddr: '10.1.1.5', origPort: 52000, respAddr: '192.0.2.30', respPort: 443,
        firstTsUs: 1705312800050000, lastTsUs: 1705312804050000, counted: true,
        origPkts: 12, respPkts: 10, origIpBytes: 3100, respIpBytes: 9800, origWireBytes: 3100, respWireBytes: 9800,
        origPayloadBytes: 0, respPayloadBytes: 0, endReason: 'fin', vlan: [20],
        handshake: { transport: 'tls', hellos: 1, sni: 'api.openai.com', alpn: ['h2', 'http/1.1'], ja4: 't13d1516h2_8daaf6152771_02713d6af862' },
      },
      {
        key: '22', proto: 17, origAddr: '10.1.1.5', origPort: 60000, respAddr: '2001:db8::30', respPort: 443,
        firstTsUs: 1705312801000000, lastTsUs: 1705312801000000, counted: false,
        origPkts: 0, respPkts: 0, origIpBytes: 0, respIpBytes: 0, origWireBytes: 0, respWireBytes: 0,
        origPayloadBytes: 0, respPayloadBytes: 0, endReason: 'eof', vlan: [],
        handshake: { transport: 'quic', hellos: 1, sni: 'gemini.google.com', quicVersion: '0x00000001' },
      },
    ]);
  });

  it('reads DNS answers in the v1, v2 and v3 forms, the client being the side that is not port 53', async () => {
    const f = join(tmp, 'dns.json');
    const dns = { src_ip: '10.0.0.53', src_port: 53, dest_ip: '10.1.1.5', dest_port: 40000, proto: 'UDP' };
    writeFileSync(f, [
      // v1: one record per event (a CNAME, then the address)
      { timestamp: '2024-01-15T10:00:00.000000+0000', flow_id: 5, event_type: 'dns', ...dns, dns: { type: 'answer', id: 9, rcode: 'NOERROR', rrname: 'api.openai.com', rrtype: 'CNAME', ttl: 60, rdata: 'edge.openai.example' } },
      { timestamp: '2024-01-15T10:00:00.000000+0000', flow_id: 5, event_type: 'dns', ...dns, dns: { type: 'answer', id: 9, rcode: 'NOERROR', rrname: 'edge.openai.example', rrtype: 'A', ttl: 60, rdata: '192.0.2.30' } },
      // v2: grouped answers
      { timestamp: '2024-01-15T10:00:01.000000+0000', flow_id: 6, event_type: 'dns', ...dns, dns: { version: 2, type: 'answer', id: 10, rcode: 'NOERROR', rrname: 'claude.ai', rrtype: 'AAAA', answers: [{ rrname: 'claude.ai', rrtype: 'AAAA', ttl: 300, rdata: '2001:db8::40' }] } },
      // v3: type response with queries, written client → server
      { timestamp: '2024-01-15T10:00:02.000000+0000', flow_id: 7, event_type: 'dns', src_ip: '10.1.1.5', src_port: 40001, dest_ip: '10.0.0.53', dest_port: 53, proto: 'UDP', dns: { version: 3, type: 'response', id: 11, rcode: 'NXDOMAIN', queries: [{ rrname: 'nope.example', rrtype: 'A' }] } },
      // a query names nothing
      { timestamp: '2024-01-15T10:00:02.000000+0000', flow_id: 8, event_type: 'dns', ...dns, dns: { type: 'query', id: 12, rrname: 'x.example', rrtype: 'A' } },
      { timestamp: 'not a time', flow_id: 9, event_type: 'dns', ...dns, dns: {} },
      { timestamp: '2024-01-15T10:00:02.000000+0000', flow_id: 9, event_type: 'dns', ...dns, dns: 'x' },
      { timestamp: '2024-01-15T10:00:02.000000+0000', event_type: 'tls', ...tuple, proto: 'TCP', tls: {} },
      { timestamp: '2024-01-15T10:00:02.000000+0000', flow_id: 9, event_type: 'tls', src_ip: '10.1.1.5', dest_ip: '192.0.2.1', proto: 'XYZ', tls: {} },
    ].map((e) => JSON.stringify(e)).concat(['{"event_type": "flow"', '"a string"', '']).join('\n'));
    const r = new EveReader();
    const res = await r.add(f);
    expect([res.lines, res.used, res.ignored]).toEqual([11, { dns: 4 }, 1]);
    expect(res.bad).toEqual({ 'eve.bad_timestamp': 1, 'eve.bad_dns': 1, 'eve.no_flow_id': 1, 'eve.bad_tuple': 1, 'eve.bad_json': 1, 'eve.not_an_object': 1 });
    const out = r.result();
    expect(out.flows).toEqual([]);
    expect(out.dns).toEqual([
      { tsUs: 1705312800000000, client: '10.1.1.5', server: '10.0.0.53', proto: 'udp', id: 9, rcode: 0, qname: 'api.openai.com', qtype: 'CNAME', vlan: [],
        answers: [{ name: 'api.openai.com', type: 'CNAME', data: 'edge.openai.example', ttl: 60 }, { name: 'edge.openai.example', type: 'A', data: '192.0.2.30', ttl: 60 }] },
      { tsUs: 1705312801000000, client: '10.1.1.5', server: '10.0.0.53', proto: 'udp', id: 10, rcode: 0, qname: 'claude.ai', qtype: 'AAAA', vlan: [],
        answers: [{ name: 'claude.ai', type: 'AAAA', data: '2001:db8::40', ttl: 300 }] },
      { tsUs: 1705312802000000, client: '10.1.1.5', server: '10.0.0.53', proto: 'udp', id: 11, rcode: 3, qname: 'nope.example', qtype: 'A', vlan: [], answers: [] },
    ]);
  });
});

describe('llmtap ingest eve: DNS answers name later flows, as on the wire', () => {
  it('a v1 CNAME chain names a TLS flow without SNI by the queried name (dns-client), classified by the default rules', () => {
    ensureBuilt();
    const f = join(tmp, 'eve-dns-flow.json');
    const dns = { src_ip: '10.0.0.53', src_port: 53, dest_ip: '10.1.1.5', dest_port: 40000, proto: 'UDP' };
    writeFileSync(f, [
      { timestamp: '2024-01-15T10:00:00.000000+0000', flow_id: 5, event_type: 'dns', ...dns, dns: { type: 'answer', id: 9, rcode: 'NOERROR', rrname: 'api.openai.com', rrtype: 'CNAME', ttl: 60, rdata: 'edge.openai.example' } },
      { timestamp: '2024-01-15T10:00:00.000000+0000', flow_id: 5, event_type: 'dns', ...dns, dns: { type: 'answer', id: 9, rcode: 'NOERROR', rrname: 'edge.openai.example', rrtype: 'A', ttl: 60, rdata: '192.0.2.30' } },
      { timestamp: '2024-01-15T10:00:09.000000+0000', flow_id: 11, event_type: 'flow', ...tuple, proto: 'TCP', flow: { pkts_toserver: 12, pkts_toclient: 10, bytes_toserver: 3100, bytes_toclient: 9800, start: '2024-01-15T10:00:00.050000+0000', end: '2024-01-15T10:00:04.050000+0000', state: 'closed', reason: 'timeout' } },
    ].map((e) => JSON.stringify(e)).join('\n'));
    const flows = join(tmp, 'flows.ndjson');
    const r = spawnSync(process.execPath, [join(repoRoot, 'bin/llmtap.js'), 'ingest', 'eve', f, '--db', join(tmp, 'db.sqlite'), '--flows', flows, '--format', 'json'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout) as { flows: number; aiObservations: number; providers: { provider: string; category: string; flows: number; bytesOut: number }[] };
    expect([s.flows, s.aiObservations]).toEqual([1, 1]);
    expect(s.providers).toEqual([{ provider: 'OpenAI', category: 'api', flows: 1, bytesOut: 3100, bytesIn: 9800 }]);
    const rec = JSON.parse(readFileSync(flows, 'utf8').trim()) as Record<string, unknown>;
    expect(rec).toMatchObject({ origAddr: '10.1.1.5', origPort: 52000, respAddr: '192.0.2.30', respPort: 443, host: 'api.openai.com', hostSource: 'dns-client', origWireBytes: 3100, origPkts: 12, endReason: 'fin', firstTsUs: 1705312800050000, lastTsUs: 1705312804050000 });
  });
});
