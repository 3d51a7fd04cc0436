/**
 * Client/server orientation is decided once, by the flow table, and every later stage uses the
 * record's: a capture that starts mid-flow, whose first packet is the server's reply, gives a
 * flow record, an observation and an alert that name the same client and server. Real
 * packets through the whole pipeline (decode → flow → dissect → attribute → classify → detect
 * → store) with an endpoint record of the client; the server is in Anthropic's published
 * range, so the connection is classified without a name.
 */
import { describe, expect, it } from 'vitest';
import { parseAddr } from '../../src/decode/addr.js';
import { configFromObject } from '../../src/config.js';
import { Pipeline } from '../../src/pipeline.js';
import type { Alert, EdrConnection, FlowRecord, Observation } from '../../src/records.js';
import { allocBatch } from '../../src/source/batch.js';
import { Store } from '../../src/store/store.js';

const CLIENT = '10.1.0.5';
const SERVER = '160.79.104.10';
const T0_US = Date.UTC(2026, 0, 5, 10, 0, 0) * 1000;

/** An Ethernet/IPv4/TCP frame with `payload` zero bytes of data (ACK, or `flags`). */
function tcp(src: string, sport: number, dst: string, dport: number, payload: number, flags = 0x18): Buffer {
  const ip = Buffer.alloc(40 + payload);
  ip[0] = 0x45;
  ip.writeUInt16BE(ip.length, 2);
  ip[8] = 64;
  ip[9] = 6;
  Buffer.from(parseAddr(src)!).copy(ip, 12);
  Buffer.from(parseAddr(dst)!).copy(ip, 16);
  ip.writeUInt16BE(sport, 20);
  ip.writeUInt16BE(dport, 22);
  ip[32] = 0x50;
  ip[33] = flags;
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(0x0800, 12);
  const f = Buffer.concat([eth, ip]);
  return f.length < 60 ? Buffer.concat([f, Buffer.alloc(60 - f.length)]) : f;
}

function run(serverPort: number): { flows: FlowRecord[]; obs: Observation[]; alerts: Alert[]; stats: Record<string, number> } {
  const store = Store.open(':memory:', { flushIntervalMs: 0 });
  const flows: FlowRecord[] = [];
  const obs: Observation[] = [];
  const cfg = configFromObject({ tenants: [{ id: 'default', warmup_days: 0 }] });
  const p = new Pipeline(cfg, { store, onFlow: (r) => flows.push(r), onObservation: (o) => obs.push({ ...o }) });
  const edr: EdrConnection = {
    v: 1, tenant: 'default', source: 'sysmon', tsMs: T0_US / 1000 - 2000, tsKind: 'connect', receivedAtMs: 0,
    deviceId: 'laptop-7', localAddr: CLIENT, localPort: 50123, remoteAddr: SERVER, remotePort: serverPort,
    transport: 'tcp', direction: 'outbound', pid: 4242, processName: 'python.exe', sha256: 'ab'.repeat(32), hashUnknown: false,
  };
  p.addEdr(edr);
  // The capture starts mid-flow: the server's reply is the first packet seen.
  const frames = [
    tcp(SERVER, serverPort, CLIENT, 50123, 900),
    tcp(CLIENT, 50123, SERVER, serverPort, 0, 0x10),
    tcp(CLIENT, 50123, SERVER, serverPort, 300),
    tcp(SERVER, serverPort, CLIENT, 50123, 1200),
  ];
  const b = allocBatch(frames.length);
  b.buf = Buffer.concat(frames);
  let off = 0;
  frames.forEach((f, i) => {
    b.offset[i] = off;
    b.capLen[i] = f.length;
    b.wireLen[i] = f.length;
    b.tsUs[i] = T0_US + i * 10_000;
    b.linkType[i] = 1;
    off += f.length;
  });
  b.count = frames.length;
  p.onBatch(b);
  p.finish();
  const alerts = store.listAlertChanges('default', { afterSeq: 0, limit: 100 });
  const stats = p.stats();
  store.close();
  return { flows, obs, alerts, stats };
}

describe('orientation: decided by the flow table, used by the join, the observation and the alert', () => {
  it('mid-stream pickup from a service port: the receiver of the first packet is the client everywhere', () => {
    const { flows, obs, alerts, stats } = run(443);
    expect(flows).toHaveLength(1);
    const f = flows[0]!;
    expect(f).toMatchObject({ origAddr: CLIENT, origPort: 50123, respAddr: SERVER, respPort: 443, origBy: 'port', origWireBytes: 60 + 354, respWireBytes: 954 + 1254 });
    expect(obs).toHaveLength(1);
    expect(obs[0]).toMatchObject({ clientAddr: CLIENT, serverAddr: SERVER, serverPort: 443, bytesOut: f.origWireBytes, bytesIn: f.respWireBytes });
    expect(obs[0]?.client).toMatchObject({ side: 'orig', deviceId: 'laptop-7', processName: 'python.exe' });
    expect(obs[0]?.verdict?.provider).toBe('Anthropic');
    expect(alerts.map((a) => [a.heuristic, a.clientAddr, a.deviceId, a.processName, a.server])).toEqual([
      ['h1', CLIENT, 'laptop-7', 'python.exe', { addr: SERVER, port: 443, proto: 6 }],
    ]);
    expect(stats['join.orientation_disputed']).toBeUndefined();
  });

  it('mid-stream pickup between two unlisted ports: the first sender stays the client everywhere; the endpoint\'s other view is counted', () => {
    const { flows, obs, alerts, stats } = run(40443);
    expect(flows).toHaveLength(1);
    const f = flows[0]!;
    expect(f).toMatchObject({ origAddr: SERVER, origPort: 40443, respAddr: CLIENT, respPort: 50123, origBy: 'first' });
    expect(obs).toHaveLength(1);
    expect(obs[0]).toMatchObject({ clientAddr: f.origAddr, serverAddr: f.respAddr, serverPort: f.respPort, bytesOut: f.origWireBytes, bytesIn: f.respWireBytes });
    // the endpoint's record is the attribution of the side it reported from: the record's resp
    expect(obs[0]?.client).toBeUndefined();
    expect(obs[0]?.server).toMatchObject({ side: 'resp', deviceId: 'laptop-7' });
    for (const a of alerts) expect(a.clientAddr).toBe(f.origAddr);
    expect(stats['join.orientation_disputed']).toBe(1);
  });
});
