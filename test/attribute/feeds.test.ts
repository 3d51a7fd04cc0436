/**
 * Formats without a public sample, built from the fields the vendors document (summarized in docs/edr-join.md), plus the
 * canonical spellings and the HTTP ingest bounds.
 */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createIngestState, EdrIngestError, ingestBody, parseEdrText } from '../../src/attribute/ingest.js';
import { canonIp, canonPath, canonTransport, parseTimeMs } from '../../src/attribute/normalize.js';
import { lineageHash } from '../../src/attribute/lineage.js';
import type { EdrConnection } from '../../src/records.js';

const opts = () => ({ tenant: 't1', lineageKey: 'secret', state: createIngestState(), receivedAtMs: 1 });
function parse(text: string) {
  const recs: EdrConnection[] = [];
  const res = parseEdrText(text, opts(), (r) => recs.push(r));
  return { recs, res };
}

describe('normalize', () => {
  it.each([
    ['0:0:0:0:0:0:0:1', '::1'],
    ['::ffff:172.18.39.6', '172.18.39.6'],
    ['FE80:0:0:0:3816:B2EE:1B9B:324B%12', 'fe80::3816:b2ee:1b9b:324b'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['[2001:0db8::0001]', '2001:db8::1'],
    ['10.0.0.1', '10.0.0.1'],
    ['-', undefined],
    ['0:0:0:0:0:0:0:0', '::'],
    ['1.2.3.256', undefined],
  ])('canonIp(%s) = %s', (a, b) => expect(canonIp(a)).toBe(b));
  it('transport, path, time', () => {
    expect(['tcp', 'Tcp', 'TcpV6', '6', 'TCP'].map(canonTransport)).toEqual(['tcp', 'tcp', 'tcp', 'tcp', 'tcp']);
    expect(['Udp', '17'].map(canonTransport)).toEqual(['udp', 'udp']);
    expect(canonPath('C:\\Users\\alice\\AppData\\Local\\app.exe')).toBe('C:\\Users\\*\\AppData\\Local\\app.exe');
    expect(canonPath('/home/bob/.local/bin/agent')).toBe('/home/*/.local/bin/agent');
    expect(canonPath('&lt;unknown process&gt;')).toBeUndefined();
    expect(parseTimeMs('2023-07-19T12:16:55.9520799Z')).toBeCloseTo(Date.UTC(2023, 6, 19, 12, 16, 55) + 952.0799, 3);
    expect(parseTimeMs('2020-08-06 07:56:20.207')).toBe(Date.UTC(2020, 7, 6, 7, 56, 20, 207));
    expect(parseTimeMs('2020-08-06T03:56:20-04:00')).toBe(Date.UTC(2020, 7, 6, 7, 56, 20));
  });
  it('lineage hash is keyed per tenant and order-sensitive', () => {
    const a = lineageHash('t1', 'k1', ['explorer.exe', 'userinit.exe']);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(lineageHash('t1', 'k2', ['explorer.exe', 'userinit.exe'])).not.toBe(a);
    expect(lineageHash('t2', 'k1', ['explorer.exe', 'userinit.exe'])).not.toBe(a);
    expect(lineageHash('t1', 'k1', ['userinit.exe', 'explorer.exe'])).not.toBe(a);
    expect(lineageHash('t1', 'k1', ['EXPLORER.EXE', 'userinit.exe'])).toBe(a);
    expect(lineageHash('t1', 'k1', ['a', 'b', 'c', 'd', 'e'])).toBe(lineageHash('t1', 'k1', ['a', 'b', 'c', 'd', 'zz']));
  });
});

describe('adapters for formats without a sample', () => {
  it('Sysmon raw event XML: EID 1 then EID 3 with inbound TCP orientation', () => {
    const ev = (id: number, data: string) => `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Sysmon'/><EventID>${id}</EventID><TimeCreated SystemTime='2024-01-10T12:00:01.000Z'/><EventRecordID>77</EventRecordID><Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>PC1.corp.local</Computer></System><EventData>${data}</EventData></Event>`;
    const xml = [
      ev(3, `<Data Name='UtcTime'>2024-01-10 12:00:00.500</Data><Data Name='ProcessGuid'>{AA}</Data><Data Name='ProcessId'>900</Data><Data Name='Image'>C:\\srv\\api.exe</Data><Data Name='User'>CORP\\carol</Data><Data Name='Protocol'>tcp</Data><Data Name='Initiated'>false</Data><Data Name='SourceIp'>10.0.0.9</Data><Data Name='SourcePort'>50123</Data><Data Name='DestinationIp'>10.0.0.5</Data><Data Name='DestinationPort'>8080</Data>`),
      ev(1, `<Data Name='UtcTime'>2024-01-10 11:00:00.000</Data><Data Name='ProcessGuid'>{AA}</Data><Data Name='Image'>C:\\srv\\api.exe</Data><Data Name='CommandLine'>api.exe --token s3cr3t</Data><Data Name='Hashes'>SHA1=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,SHA256=BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB</Data><Data Name='ParentImage'>C:\\Windows\\services.exe</Data><Data Name='ParentProcessGuid'>{PP}</Data>`),
    ].join('\n');
    const { recs, res } = parse(xml);
    expect(res.rejected).toEqual({ 'sysmon.process_create': 1 });
    const r = recs[0]!;
    expect([r.localAddr, r.localPort, r.remoteAddr, r.remotePort, r.direction]).toEqual(['10.0.0.5', 8080, '10.0.0.9', 50123, 'inbound']);
    expect(r.sha256).toBe('b'.repeat(64));
    expect(r.sha1).toBe('a'.repeat(40));
    expect(r.parentName).toBe('services.exe');
    expect(r.deviceId).toBe('pc1.corp.local');
    expect(r.sourceEventId).toBe('pc1.corp.local:77');
    expect(JSON.stringify(recs)).not.toMatch(/s3cr3t|carol/);
  });

  it('Sysmon via Winlogbeat ECS', () => {
    const doc = { '@timestamp': '2024-01-10T12:00:00.500Z', winlog: { event_id: 3, channel: 'Microsoft-Windows-Sysmon/Operational', computer_name: 'PC2', record_id: 5, event_data: { UtcTime: '2024-01-10 12:00:00.500' } }, process: { entity_id: '{B}', pid: 77, executable: 'C:\\Users\\dave\\claude.exe', name: 'claude.exe', command_line: 'claude.exe --x' }, network: { transport: 'tcp', direction: 'egress' }, source: { ip: '10.0.0.7', port: 51000 }, destination: { ip: '160.79.104.10', port: 443, domain: 'api.anthropic.com' }, user: { name: 'dave' } };
    const { recs } = parse(JSON.stringify(doc));
    const r = recs[0]!;
    expect([r.source, r.localAddr, r.remoteAddr, r.direction, r.processName, r.remoteNameHint]).toEqual(['sysmon', '10.0.0.7', '160.79.104.10', 'outbound', 'claude.exe', 'api.anthropic.com']);
    expect(r.processPath).toBe('C:\\Users\\*\\claude.exe');
  });

  it('MDE export row (no envelope) and tenant from the feed, not the record', () => {
    const row = { Timestamp: '2024-01-10T12:00:00.1234567Z', DeviceId: 'ABCDEF0123456789ABCDEF0123456789ABCDEF01', DeviceName: 'Laptop.corp', ActionType: 'InboundConnectionAccepted', LocalIP: '::ffff:10.0.0.8', LocalPort: 3389, RemoteIP: '10.0.0.99', RemotePort: 50000, Protocol: 'TcpV4', InitiatingProcessFileName: 'svchost.exe', InitiatingProcessId: 1200, InitiatingProcessSHA256: '', InitiatingProcessSHA1: 'C'.repeat(40), InitiatingProcessAccountName: 'erin', InitiatingProcessCommandLine: 'svchost -k x' };
    const { recs } = parse(JSON.stringify(row));
    const r = recs[0]!;
    expect([r.direction, r.tsKind, r.localAddr, r.transport, r.sha256, r.sha1, r.hashUnknown, r.deviceId]).toEqual(['inbound', 'accept', '10.0.0.8', 'tcp', undefined, 'c'.repeat(40), false, 'abcdef0123456789abcdef0123456789abcdef01']);
    expect(r.tenant).toBe('t1');
  });

  it('osquery differential, batch and socket_events rows', () => {
    const diff = { name: 'socks', hostIdentifier: 'host-a', unixTime: 1704888000, decorations: { host_uuid: 'UUID-1' }, action: 'added', columns: { pid: '321', family: '2', protocol: '6', local_address: '10.0.0.3', local_port: '50505', remote_address: '104.18.7.192', remote_port: '443', state: 'ESTABLISHED', path: '/usr/bin/python3', name: 'python3', sha256: 'D'.repeat(64), cmdline: 'python3 secret.py' } };
    const batch = { name: 'socks', hostIdentifier: 'host-a', unixTime: 1704888000, diffResults: { added: [{ ...diff.columns, local_port: '50506' }, { ...diff.columns, state: 'LISTEN', remote_port: '0' }], removed: [] } };
    const ev = { name: 'se', hostIdentifier: 'host-b', unixTime: 1, action: 'added', columns: { action: 'connect', pid: '9', family: '10', protocol: '6', local_address: '::ffff:10.0.0.4', local_port: '40000', remote_address: '2606:4700:0:0:0:0:6812:7c0', remote_port: '443', path: '/opt/agent', time: '1704888001' } };
    const { recs, res } = parse([diff, batch, ev].map((x) => JSON.stringify(x)).join('\n'));
    expect(res.accepted).toBe(3);
    expect(res.rejected).toEqual({ 'osquery.listening': 1 });
    expect(recs[0]!.deviceId).toBe('uuid-1');
    expect(recs[0]!.tsKind).toBe('observed');
    expect(recs[0]!.sha256).toBe('d'.repeat(64));
    expect(recs[2]!.remoteAddr).toBe('2606:4700::6812:7c0');
    expect(recs[2]!.tsMs).toBe(1704888001000);
    expect(JSON.stringify(recs)).not.toContain('secret.py');
  });

  it('CrowdStrike FDR: ProcessRollup2 after the network event in the same batch still enriches it', () => {
    const net = { event_simpleName: 'NetworkConnectIP4', aid: 'AID1', cid: 'c', ContextProcessId: '777', LocalAddressIP4: '10.0.0.2', LocalPort: '50001', RemoteAddressIP4: '104.18.6.192', RemotePort: '443', Protocol: '6', ConnectionDirection: '0', ContextTimeStamp: '1682707777.731', timestamp: '1682707778681', id: 'ev-1' };
    const pr2 = { event_simpleName: 'ProcessRollup2', aid: 'AID1', TargetProcessId: '777', RawProcessId: '4040', ParentProcessId: '666', ImageFileName: '\\Device\\HarddiskVolume3\\Users\\frank\\node.exe', SHA256HashData: 'E'.repeat(64), ParentBaseFileName: 'cmd.exe', CommandLine: 'node leak.js', UserName: 'frank', ProcessStartTime: '1682707700.000' };
    const { recs, res } = parse(`${JSON.stringify(net)}\n${JSON.stringify(pr2)}`);
    expect(res.rejected).toEqual({ 'fdr.process_rollup': 1 });
    const r = recs[0]!;
    expect([r.tsMs, r.pid, r.sha256, r.parentName, r.processName, r.processKey]).toEqual([1682707777731, 4040, 'e'.repeat(64), 'cmd.exe', 'node.exe', '777']);
    expect(r.processPath).toBe('\\Device\\HarddiskVolume3\\Users\\*\\node.exe');
    expect(JSON.stringify(recs)).not.toMatch(/frank|leak\.js/);
  });

  it('Elastic Defend: process event gives the hash, host.ip decides the local side', () => {
    const proc = { '@timestamp': '2024-01-10T11:00:00Z', event: { dataset: 'endpoint.events.process', action: 'start' }, host: { id: 'H1', name: 'mac1' }, process: { entity_id: 'E1', executable: '/Applications/Cursor.app/Contents/MacOS/Cursor', hash: { sha256: 'F'.repeat(64) }, parent: { entity_id: 'E0', name: 'launchd' }, command_line: 'Cursor --secret' } };
    const net = { '@timestamp': '2024-01-10T12:00:00Z', event: { dataset: 'endpoint.events.network', action: 'connection_attempted', id: 'n1' }, host: { id: 'H1', name: 'mac1', ip: ['10.0.0.20'] }, network: { transport: 'tcp', direction: 'egress' }, source: { ip: '10.0.0.20', port: 52000 }, destination: { ip: '34.117.0.1', port: 443 }, process: { entity_id: 'E1', pid: 501, name: 'Cursor', executable: '/Applications/Cursor.app/Contents/MacOS/Cursor' } };
    const { recs } = parse(`${JSON.stringify(net)}\n${JSON.stringify(proc)}`);
    const r = recs[0]!;
    expect([r.source, r.deviceId, r.localAddr, r.sha256, r.parentName]).toEqual(['elastic_defend', 'h1', '10.0.0.20', 'f'.repeat(64), 'launchd']);
  });

  it('Tetragon process_kprobe tcp_connect', () => {
    const ev = { process_kprobe: { process: { exec_id: 'X1', pid: 55, binary: '/usr/local/bin/ollama', arguments: 'serve --key abc', start_time: '2024-01-10T11:59:00Z', parent_exec_id: 'X0' }, parent: { binary: '/usr/bin/bash' }, function_name: 'tcp_connect', args: [{ sock_arg: { family: 'AF_INET', type: 'SOCK_STREAM', protocol: 'IPPROTO_TCP', saddr: '10.0.0.30', daddr: '140.82.112.3', sport: 41000, dport: 443 } }] }, node_name: 'node-a', time: '2024-01-10T12:00:00Z' };
    const { recs } = parse(JSON.stringify(ev));
    expect([recs[0]!.localAddr, recs[0]!.remoteAddr, recs[0]!.processName, recs[0]!.parentName, recs[0]!.transport]).toEqual(['10.0.0.30', '140.82.112.3', 'ollama', 'bash', 'tcp']);
  });

  it('llmtap NDJSON: loopback kept, link-local dropped, bad records counted, batch survives', () => {
    const good = { v: 1, tenant: 'someone-else', tsMs: 1704888000000, tsKind: 'connect', deviceId: 'dev-9', localAddr: '127.0.0.1', localPort: 50000, remoteAddr: '127.0.0.1', remotePort: 11434, transport: 'tcp', direction: 'outbound', processName: 'node', lineage: ['bash', 'sshd'] };
    const text = [
      JSON.stringify(good),
      JSON.stringify({ ...good, localAddr: 'fe80::1', remoteAddr: 'fe80::2' }),
      JSON.stringify({ ...good, transport: 'sctp' }),
      JSON.stringify({ ...good, deviceId: '' }),
      '{"v":1, broken',
      JSON.stringify({ ...good, tsKind: 'whenever' }),
      '42',
      JSON.stringify({ hello: 'world' }),
    ].join('\n');
    const { recs, res } = parse(text);
    expect(res.accepted).toBe(1);
    expect(res.rejected).toEqual({ 'edr.link_local': 1, 'edr.not_tcp_udp': 1, 'llmtap.no_device': 1, 'ingest.bad_json': 1, 'llmtap.bad_ts_kind': 1, 'ingest.not_an_object': 1, 'ingest.unknown_format': 1 });
    expect(recs[0]!.tenant).toBe('t1');
    expect(recs[0]!.lineageHash).toBe(lineageHash('t1', 'secret', ['bash', 'sshd']));
  });

  it('MDE streaming envelope inside a JSON array', () => {
    const row = { Timestamp: '2024-01-10T12:00:00Z', DeviceId: 'd1', ActionType: 'ConnectionSuccess', LocalIP: '10.0.0.8', LocalPort: 50000, RemoteIP: '1.1.1.1', RemotePort: 443, Protocol: 'Tcp', InitiatingProcessFileName: 'a.exe', InitiatingProcessId: 1 };
    const text = JSON.stringify([{ records: [{ category: 'AdvancedHunting-DeviceNetworkEvents', time: '2024-01-10T12:05:00Z', properties: row }, { category: 'AdvancedHunting-DeviceProcessEvents', properties: { ...row, ActionType: 'ProcessCreated' } }] }]);
    const { recs, res } = parse(text);
    expect(res.rejected).toEqual({ 'mde.unsupported_table': 1 });
    expect(recs[0]!.tsMs).toBe(Date.UTC(2024, 0, 10, 12));
  });
});

describe('ingestBody', () => {
  const line = JSON.stringify({ v: 1, tsMs: 1, deviceId: 'd', localAddr: '10.0.0.1', localPort: 1000, remoteAddr: '10.0.0.2', remotePort: 443, transport: 'tcp', direction: 'outbound' });
  it('gzip NDJSON and plain JSON array', async () => {
    const n: EdrConnection[] = [];
    const r1 = await ingestBody(gzipSync(`${line}\n${line}\n`), 'gzip', opts(), (r) => n.push(r));
    const r2 = await ingestBody(Buffer.from(`[${line},${line},${line}]`), undefined, opts(), (r) => n.push(r));
    expect([r1.accepted, r2.accepted, n.length]).toEqual([2, 3, 5]);
  });
  it('refuses oversize, gzip bombs, bad gzip and unknown encodings with coded errors', async () => {
    const big = Buffer.alloc(2048, 0x20);
    await expect(ingestBody(big, undefined, { ...opts(), maxBodyBytes: 1024 }, () => {})).rejects.toMatchObject({ code: 'LLMTAP_ERR_EDR_TOO_LARGE' });
    const bomb = gzipSync(Buffer.alloc(1 << 20, 0x20));
    await expect(ingestBody(bomb, 'gzip', { ...opts(), maxDecodedBytes: 64 << 10 }, () => {})).rejects.toMatchObject({ code: 'LLMTAP_ERR_EDR_TOO_LARGE' });
    await expect(ingestBody(Buffer.from('nope'), 'gzip', opts(), () => {})).rejects.toBeInstanceOf(EdrIngestError);
    await expect(ingestBody(Buffer.from(line), 'br', opts(), () => {})).rejects.toMatchObject({ code: 'LLMTAP_ERR_EDR_ENCODING' });
  });
});
