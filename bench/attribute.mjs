// Join throughput: EDR records parsed and indexed per second, flows joined per second.
// Synthetic but shaped like the real feeds: Sysmon EID 3 in NXLog JSON (the parse path the
// samples exercise), 200 devices with their own clock offsets, flows that match half the
// records. Run after `npm run build`: `node bench/attribute.mjs`.
import { parseEdrText, createIngestState } from '../dist/attribute/ingest.js';
import { Attributor, defaultAttributeOptions } from '../dist/attribute/join.js';

const DEVICES = 200;
const RECORDS = 100_000;
const T0 = Date.UTC(2024, 0, 10, 12);

function sysmonLine(i) {
  const dev = i % DEVICES;
  const skew = (dev - 100) * 1000;
  const ts = new Date(T0 + i * 10 + skew).toISOString().replace('T', ' ').replace('Z', '');
  return JSON.stringify({
    EventID: 3, SourceName: 'Microsoft-Windows-Sysmon', Channel: 'Microsoft-Windows-Sysmon/Operational',
    Hostname: `ws${dev}.corp.local`, RecordNumber: i, UtcTime: ts, ProcessGuid: `{${dev}-${i % 50}}`,
    ProcessId: String(1000 + (i % 50)), Image: 'C:\\Program Files\\App\\app.exe', User: 'CORP\\someone',
    Protocol: 'tcp', Initiated: 'true', SourceIp: `10.0.${dev >> 8}.${dev & 255}`, SourcePort: String(10000 + (i % 50000)),
    DestinationIp: '104.18.7.192', DestinationPort: '443', Message: 'Network connection detected: ...',
  });
}

function flowOf(i) {
  const dev = i % DEVICES;
  return {
    flowId: i, communityId: '', proto: 6, vlan: [], origAddr: `10.0.${dev >> 8}.${dev & 255}`, origPort: 10000 + (i % 50000),
    respAddr: '104.18.7.192', respPort: 443, origBy: 'syn', origPkts: 10, respPkts: 10, origWireBytes: 1000, respWireBytes: 9000,
    origCapBytes: 0, respCapBytes: 0, origIpBytes: 0, respIpBytes: 0, origPayloadBytes: 0, respPayloadBytes: 0,
    firstTsUs: (T0 + i * 10) * 1000 + 300, lastTsUs: (T0 + i * 10) * 1000 + 900_000, origTcpFlags: 0, respTcpFlags: 0,
    endReason: 'fin', ifIndex: 0, hostSource: 'none',
  };
}

export async function benchAttribute() {
  const text = Array.from({ length: RECORDS }, (_, i) => sysmonLine(i)).join('\n');
  const recs = [];
  let t = process.hrtime.bigint();
  const res = parseEdrText(text, { tenant: 'b', lineageKey: 'k', state: createIngestState() }, (r) => recs.push(r));
  let emitted = 0;
  const at = new Attributor({ ...defaultAttributeOptions, maxRecords: RECORDS * 2 }, { emit: () => { emitted++; } });
  for (const r of recs) at.addEdr(r);
  const recSec = Number(process.hrtime.bigint() - t) / 1e9;
  const flows = Array.from({ length: RECORDS / 2 }, (_, i) => flowOf(i * 2));
  t = process.hrtime.bigint();
  for (const f of flows) at.addFlow(f, 'b');
  const flowSec = Number(process.hrtime.bigint() - t) / 1e9;
  at.flush();
  const s = at.stats();
  if (res.accepted !== RECORDS || emitted < flows.length) throw new Error(`bench sanity: ${res.accepted} records, ${emitted} emitted`);
  return {
    recordsPerSec: Math.round(RECORDS / recSec),
    flowsPerSec: Math.round(flows.length / flowSec),
    joinedWithProcess: s['join.hit'] ?? 0,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  benchAttribute().then((r) => console.log(JSON.stringify(r)));
}
