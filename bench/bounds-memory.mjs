// Memory per entry of every bounded structure, measured: each structure is filled through its
// own API with realistic entries (distinct keys, as a scan or a busy network makes them) to N
// entries, and the heap + array-buffer growth after a full GC is divided by N. Writes
// scripts/bounds-memory.json, which scripts/gen-config-doc.mjs turns into the memory column of
// docs/configuration.md (bytes per entry × the default bound).
//   npm run build && node --expose-gc bench/bounds-memory.mjs [N=20000]
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

if (typeof global.gc !== 'function') {
  console.error('run with node --expose-gc');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const dist = (p) => import(join(here, '..', 'dist', p));
const N = Number(process.argv[2] ?? 20_000);

const { FlowTable } = await dist('flow/table.js');
const { PacketView } = await dist('decode/view.js');
const { Decoder } = await dist('decode/decoder.js');
const { PassiveDns, defaultPassiveDnsOptions } = await dist('names/passive-dns.js');
const { Attributor, defaultAttributeOptions } = await dist('attribute/join.js');
const { createIngestState } = await dist('attribute/feeds/context.js');
const { Classifier } = await dist('classify/index.js');
const { configFromObject, configPath } = await dist('config.js');
const { Beacon } = await dist('detect/beacon.js');
const { RefWindow } = await dist('detect/rule.js');
const { LruMap } = await dist('bounded/lru.js');

function used() {
  global.gc();
  global.gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Bytes per entry of what `fill(n)` builds (kept alive until measured). */
function measure(make, fill) {
  const before = used();
  const s = make();
  fill(s, N);
  const after = used();
  globalThis.keep = s; // not collected before the measurement
  globalThis.keep = undefined;
  return Math.max(0, Math.round((after - before) / N));
}

// ── packets for the flow table: TCP SYNs to distinct targets ──
function synFrame(i) {
  const b = Buffer.alloc(54);
  b.writeUInt16BE(0x0800, 12);
  b[14] = 0x45; b.writeUInt16BE(40, 16); b[22] = 64; b[23] = 6;
  b.writeUInt32BE(0x0a000005, 26); b.writeUInt32BE((0xac100000 + (i >>> 6)) >>> 0, 30);
  b.writeUInt16BE(40000, 34); b.writeUInt16BE(1 + (i & 63), 36); b[46] = 0x50; b[47] = 0x02;
  return b;
}
const T0 = 1_767_225_600_000_000;

const flowRec = (i) => ({
  flowId: i, communityId: `1:${String(i).padStart(27, 'x')}=`, proto: 6, vlan: [], origAddr: '10.0.0.5', origPort: 40000,
  respAddr: `172.16.${(i >> 8) & 255}.${i & 255}`, respPort: 443, origBy: 'syn', origPkts: 1, respPkts: 0, origWireBytes: 54, respWireBytes: 0,
  origCapBytes: 54, respCapBytes: 0, origIpBytes: 40, respIpBytes: 0, origPayloadBytes: 0, respPayloadBytes: 0, firstTsUs: T0 + i * 10,
  lastTsUs: T0 + i * 10, origTcpFlags: 2, respTcpFlags: 0, endReason: 'evicted', ifIndex: 0, hostSource: 'none',
});
const edrRec = (i) => ({
  v: 1, tenant: 'default', source: 'sysmon', tsKind: 'connect', receivedAtMs: 0, tsMs: T0 / 1000 + i, deviceId: `ws${i}`,
  localAddr: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, localPort: 50000 + (i % 10000), remoteAddr: '104.18.7.192', remotePort: 443,
  transport: 'tcp', direction: 'outbound', pid: 4242, processKey: `{${i}}`, processName: 'python.exe', sha256: 'ab'.repeat(32), hashUnknown: false,
});
const ref = (i) => ({ obsId: `f${i.toString(36)}.${String(i).padStart(27, 'x')}`, tsUs: T0 + i, bytesOut: 1000, bytesIn: 5000, flowId: i, communityId: `1:${String(i).padStart(27, 'x')}=` });

const cfg = configFromObject({});
const out = {};
const big = 1 << 30;

out['flow.max_flows'] = measure(() => new FlowTable({ maxFlows: N }, () => {}), (t, n) => {
  // the table's typed arrays are sized by the bound; the meta objects by the flows held
  const v = new PacketView();
  const d = new Decoder();
  for (let i = 0; i < n; i++) {
    const f = synFrame(i);
    d.decode(v, f, 0, f.length, f.length, 1, T0 + i, 0);
    t.update(v);
  }
});
out['names.max_entries'] = measure(() => new PassiveDns({ ...defaultPassiveDnsOptions, maxEntries: big }), (p, n) => {
  for (let i = 0; i < n; i++) {
    p.addAnswer({ tsUs: T0 + i, client: `10.1.${(i >> 8) & 255}.${i & 255}`, vlan: [], qname: `t${i}.scan.example`, qtype: 1, rcode: 0,
      answers: [{ name: `t${i}.scan.example`, type: 'A', ttl: 300, data: `172.16.${(i >> 8) & 255}.${i & 255}` }] });
  }
});
out['attribute.max_flows'] = measure(() => new Attributor({ ...defaultAttributeOptions, maxFlows: big }, { emit: () => {} }), (a, n) => {
  for (let i = 0; i < n; i++) a.addFlow(flowRec(i), 'default');
});
// records need the flow side cleared: measure the join with records only
out['attribute.max_records'] = measure(() => new Attributor({ ...defaultAttributeOptions, maxRecords: big, maxDevices: 16 }, { emit: () => {} }), (a, n) => {
  for (let i = 0; i < n; i++) a.addEdr({ ...edrRec(i), deviceId: 'ws1', localAddr: '10.0.0.1' });
});
out['attribute.max_devices'] = measure(() => new Attributor({ ...defaultAttributeOptions, maxRecords: 16, maxDevices: big }, { emit: () => {} }), (a, n) => {
  // one record per device: a device-map address and a skew entry each (records capped at 16)
  for (let i = 0; i < n; i++) a.addEdr(edrRec(i));
});
out['attribute.max_edr_only_dedup'] = measure(() => new LruMap('x', big), (m, n) => {
  for (let i = 0; i < n; i++) m.set(`default|6|10.0.${(i >> 8) & 255}.${i & 255}#${50000 + (i % 10000)}|104.18.7.192#443\u0000ws${i}`, true);
});
out['edr.max_processes'] = measure(() => createIngestState(big, 16), (s, n) => {
  for (let i = 0; i < n; i++) s.procs.set(`ws${i % 200}`, `{${i}-0000-0000-0000-000000000000}`, { pid: i, image: 'c:\\program files\\app\\app.exe', name: 'app.exe', sha256: 'ab'.repeat(32), startMs: T0 / 1000 + i, parentKey: `{${i + 1}}`, parentImage: 'c:\\windows\\explorer.exe' });
});
out['edr.max_dns_hints'] = measure(() => createIngestState(16, big), (s, n) => {
  for (let i = 0; i < n; i++) s.dns.set(`ws${i % 200}`, `104.18.${(i >> 8) & 255}.${i & 255}`, `host${i}.example.com`);
});
out['classify.max_memo'] = measure(() => Classifier.fromFiles({ rules: configPath(cfg, cfg.rules.file) }, { memoMax: big }), (c, n) => {
  for (let i = 0; i < n; i++) c.classify({ host: `h${i}.cdn.example.net`, port: 443, loopback: false, tenant: 'default' });
});
out['detect.max_beacon_series'] = measure(() => new Beacon(big), (b, n) => {
  const tenant = { id: 'default', beacon: { max_samples: 64, min_connections: 1000, score_threshold: 1, min_interval_s: 1, max_interval_s: 3600 } };
  for (let i = 0; i < n; i++) {
    const obs = { obsId: ref(i).obsId, tsUs: T0 + i, bytesOut: 1000, bytesIn: 5000, clientAddr: `10.0.${(i >> 8) & 255}.${i & 255}`, serverAddr: '104.18.7.192', host: 'api.openai.com', verdict: { provider: 'OpenAI' } };
    b.observe({ obs, tenant, emit: () => undefined });
  }
});
out['detect.max_window_keys'] = measure(() => new RefWindow(1024, big), (w, n) => {
  for (let i = 0; i < n; i++) w.add(`10.0.${(i >> 8) & 255}.${i & 255}\u0000OpenAI`, ref(i), 0);
});
out['detect.max_upload_seen'] = measure(() => new LruMap('x', big), (m, n) => {
  for (let i = 0; i < n; i++) m.set(`default\u0000${ref(i).obsId}`, true);
});
out['detect.max_lineage_names'] = measure(() => new LruMap('x', big), (m, n) => {
  for (let i = 0; i < n; i++) m.set(`default\u0000proc${i}.exe`, new Map([[`${'cd'.repeat(16)}${i}`, T0 + i]]));
});
out['detect.max_inventory'] = measure(() => new LruMap('x', big), (m, n) => {
  for (let i = 0; i < n; i++) m.set(`default\u0000${(i.toString(16) + 'ab'.repeat(32)).slice(0, 64)}`, T0 + i);
});
out['flow.max_fragments'] = measure(() => new LruMap('x', big), (m, n) => {
  for (let i = 0; i < n; i++) m.set(`4|${167772165}|${2886729728 + i}|${i & 0xffff}|17|0`, { slot: i, flowId: i });
});

const res = { entries: N, node: process.version, bytesPerEntry: out };
writeFileSync(join(here, '..', 'scripts', 'bounds-memory.json'), `${JSON.stringify(res, null, 2)}\n`);
console.log(JSON.stringify(res, null, 2));
