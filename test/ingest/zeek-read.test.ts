/**
 * The Zeek log reader on its own: TSV headers (#separator, #set_separator, #empty_field,
 * #unset_field, #fields, #types), JSON lines (flat and nested id fields, epoch and ISO times),
 * the join by uid, and bad lines counted by reason, never thrown. And the command's conventions.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZeekReader } from '../../src/source/zeek.js';
import { repoRoot } from '../helpers/corpus.js';
import { ensureBuilt } from '../helpers/build-once.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'llmtap-zeek-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const TSV_HEAD = (path: string, fields: string[], types: string[], sep = '\t'): string =>
  [`#separator ${sep === '\t' ? '\\x09' : `\\x${sep.charCodeAt(0).toString(16)}`}`, `#set_separator${sep},`, `#empty_field${sep}(empty)`, `#unset_field${sep}-`, `#path${sep}${path}`, `#fields${sep}${fields.join(sep)}`, `#types${sep}${types.join(sep)}`].join('\n');

const CONN_F = ['ts', 'uid', 'id.orig_h', 'id.orig_p', 'id.resp_h', 'id.resp_p', 'proto', 'duration', 'orig_bytes', 'resp_bytes', 'conn_state', 'orig_pkts', 'orig_ip_bytes', 'resp_pkts', 'resp_ip_bytes', 'community_id'];
const CONN_T = ['time', 'string', 'addr', 'port', 'addr', 'port', 'enum', 'interval', 'count', 'count', 'string', 'count', 'count', 'count', 'count', 'string'];

describe('ZeekReader', () => {
  it('reads TSV with its headers, unset and empty values, and joins conn and ssl by uid', async () => {
    const conn = join(tmp, 'conn.log');
    writeFileSync(conn, `${TSV_HEAD('conn', CONN_F, CONN_T)}
1700000000.250000\tCa1\t10.0.0.5\t50000\t2001:db8::1\t443\ttcp\t2.500000\t1200\t5400\tSF\t10\t1720\t9\t5868\t1:abc=
1700000001.000000\tCb2\t10.0.0.5\t50001\t192.0.2.9\t443\ttcp\t-\t-\t-\tS0\t1\t60\t0\t0\t-
only\tthree\tcolumns
1700000002.000000\tCc3\t10.0.0.5\t99999\t192.0.2.9\t443\ttcp\t-\t-\t-\tS0\t1\t60\t0\t0\t-
#close\t2023-11-14-22-13-20
`);
    const ssl = join(tmp, 'ssl.log.gz');
    writeFileSync(ssl, gzipSync(`${TSV_HEAD('ssl', ['ts', 'uid', 'id.orig_h', 'id.orig_p', 'id.resp_h', 'id.resp_p', 'server_name', 'next_protocol', 'cert_chain_fps'], ['time', 'string', 'addr', 'port', 'addr', 'port', 'string', 'string', 'vector[string]'])}
1700000000.300000\tCa1\t10.0.0.5\t50000\t2001:db8::1\t443\tapi.openai.com\th2\t(empty)
1700000001.100000\tCb2\t10.0.0.5\t50001\t192.0.2.9\t443\t-\t-\t-
`));
    const z = new ZeekReader();
    const c = await z.add(conn);
    const s = await z.add(ssl);
    expect([c.lines, c.used, c.ignored, c.bad]).toEqual([4, { conn: 2 }, 0, { 'zeek.field_count': 1, 'zeek.bad_tuple': 1 }]);
    expect([s.lines, s.used, s.bad]).toEqual([2, { ssl: 2 }, {}]);
    const r = z.result();
    expect(r.flows).toEqual([
      {
        key: 'Ca1', proto: 6, origAddr: '10.0.0.5', origPort: 50000, respAddr: '2001:db8::1', respPort: 443,
        firstTsUs: 1700000000250000, lastTsUs: 1700000002750000, counted: true,
        origPkts: 10, respPkts: 9, origIpBytes: 1720, respIpBytes: 5868, origWireBytes: 1720, respWireBytes: 5868,
        origPayloadBytes: 1200, respPayloadBytes: 5400, endReason: 'fin', vlan: [], communityId: '1:abc=',
        handshake: { transport: 'tls', hellos: 1, sni: 'api.openai.com', alpn: ['h2'] },
      },
      {
        key: 'Cb2', proto: 6, origAddr: '10.0.0.5', origPort: 50001, respAddr: '192.0.2.9', respPort: 443,
        firstTsUs: 1700000001000000, lastTsUs: 1700000001000000, counted: true,
        origPkts: 1, respPkts: 0, origIpBytes: 60, respIpBytes: 0, origWireBytes: 60, respWireBytes: 0,
        origPayloadBytes: 0, respPayloadBytes: 0, endReason: 'idle', vlan: [],
        handshake: { transport: 'tls', hellos: 1 },
      },
    ]);
  });

  it('reads JSON lines (flat and nested ids, epoch and ISO times), quic before ssl, DNS answers with their CNAME chain; bad lines counted', async () => {
    const f = join(tmp, 'mixed.json');
    writeFileSync(f, [
      JSON.stringify({ _path: 'quic', ts: 1700000000.5, uid: 'Cq', 'id.orig_h': '10.0.0.7', 'id.orig_p': 51000, 'id.resp_h': '192.0.2.20', 'id.resp_p': 443, version: '1', server_name: 'gemini.google.com', client_protocol: 'h3' }),
      JSON.stringify({ _path: 'ssl', ts: '2023-11-14T22:13:20.500000Z', uid: 'Cq', id: { orig_h: '10.0.0.7', orig_p: 51000, resp_h: '192.0.2.20', resp_p: 443 }, server_name: 'other.example', ja4: 'q13d0310h3_55b375c5d22e_cd85d2d88918' }),
      JSON.stringify({ _path: 'dns', ts: 1700000000.1, uid: 'Cd', 'id.orig_h': '10.0.0.7', 'id.orig_p': 5353, 'id.resp_h': '10.0.0.1', 'id.resp_p': 53, proto: 'udp', trans_id: 77, rtt: 0.002, query: 'api.anthropic.com', qtype_name: 'A', rcode: 0, answers: ['edge.example.net', '160.79.104.10'], TTLs: [60.0, 300.0] }),
      JSON.stringify({ _path: 'dns', ts: 1700000000.2, uid: 'Ce', 'id.orig_h': '10.0.0.7', 'id.orig_p': 5354, 'id.resp_h': '10.0.0.1', 'id.resp_p': 53, query: 'nothing.example' }),
      JSON.stringify({ _path: 'http', ts: 1700000000.2, uid: 'Ch' }),
      '{"_path": "conn", "ts": 1700000000',
      '[1, 2]',
      JSON.stringify({ _path: 'conn', ts: 'yesterday', uid: 'Cx', 'id.orig_h': '10.0.0.7', 'id.orig_p': 1, 'id.resp_h': '10.0.0.1', 'id.resp_p': 2, proto: 'tcp' }),
      JSON.stringify({ _path: 'conn', ts: 1700000000, uid: 'Cy', 'id.orig_h': '10.0.0.7', 'id.orig_p': 1, 'id.resp_h': '10.0.0.1', 'id.resp_p': 2, proto: 'ipx' }),
    ].join('\n'));
    const z = new ZeekReader();
    const r1 = await z.add(f);
    expect([r1.lines, r1.used, r1.ignored, r1.bad]).toEqual([9, { quic: 1, ssl: 1, dns: 1 }, 2, { 'zeek.bad_json': 1, 'zeek.not_an_object': 1, 'zeek.bad_ts': 1, 'zeek.bad_proto': 1 }]);
    const r = z.result();
    expect(r.flows).toHaveLength(1);
    expect(r.flows[0]).toMatchObject({ key: 'Cq', proto: 17, counted: false, endReason: 'eof', firstTsUs: 1700000000500000 });
    // quic.log names the transport and wins for SNI and ALPN; ssl.log's JA4 is kept
    expect(r.flows[0]!.handshake).toEqual({ transport: 'quic', hellos: 1, sni: 'gemini.google.com', alpn: ['h3'], ja4: 'q13d0310h3_55b375c5d22e_cd85d2d88918', quicVersion: '0x00000001' });
    expect(r.dns).toEqual([{
      tsUs: 1700000000102000, client: '10.0.0.7', server: '10.0.0.1', proto: 'udp', id: 77, rcode: 0, qname: 'api.anthropic.com', qtype: 'A', vlan: [],
      answers: [
        { name: 'api.anthropic.com', type: 'CNAME', data: 'edge.example.net', ttl: 60 },
        { name: 'edge.example.net', type: 'A', data: '160.79.104.10', ttl: 300 },
      ],
    }]);
  });

  it('a missing file is an error of that file, not a crash', async () => {
    const z = new ZeekReader();
    const r = await z.add(join(tmp, 'conn.nope.log'));
    expect(r.error).toMatch(/conn\.nope\.log: ENOENT/);
  });
});

describe('llmtap ingest: command conventions', () => {
  beforeAll(() => ensureBuilt());
  const cli = (args: string[]) => spawnSync(process.execPath, [join(repoRoot, 'bin/llmtap.js'), 'ingest', ...args], { encoding: 'utf8' });

  it('-h prints the usage and exits 0; usage errors exit 2; a missing path exits 1', () => {
    for (const a of [['-h'], ['--help'], ['zeek', '--help'], ['eve', '-h']]) {
      const r = cli(a);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^usage: llmtap ingest zeek\|eve PATH\.\.\./);
    }
    const noKind = cli([]);
    expect([noKind.status, noKind.stderr]).toEqual([2, 'llmtap ingest: give the log kind: zeek or eve (llmtap ingest --help shows the usage)\n']);
    expect(cli(['pcap', 'x']).status).toBe(2);
    expect(cli(['zeek']).status).toBe(2);
    expect(cli(['zeek', 'x', '--format', 'xml']).status).toBe(2);
    expect(cli(['zeek', 'x', '--bogus']).status).toBe(2);
    const missing = cli(['zeek', join(tmp, 'none.log'), '--db', join(tmp, 'db.sqlite')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('none.log: no such file or directory');
  });
});
