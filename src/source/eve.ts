/**
 * Suricata's eve.json as input: `flow` events (the 5-tuple, start/end, packet and byte counters,
 * state), `tls` and `quic` events (SNI, ALPN, JA4 when logged, QUIC version) and `dns` events
 * (answers: the EVE v1 one-record-per-event form, the v2 grouped `answers` list, and v3
 * `type: response` events). Events of one connection share `flow_id`; other event types
 * (alert, http, fileinfo, stats …) are counted as ignored.
 */
import type { DnsRecord, FlowEndReason, Handshake } from '../records.js';
import {
  countBad, countUsed, counter, forEachLine, isoToUs, newFileResult, portNumber, protoNumber, quicVersionHex,
  type LogDns, type LogFileResult, type LogFlow, type LogReadResult,
} from './logs.js';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Pieces of one flow_id over every file. */
interface Parts {
  flow?: Obj;
  tls?: Obj;
  quic?: Obj;
  /** The first app-layer event, for the 5-tuple when there is no flow event. */
  first?: Obj;
}

/** flow.state / flow.reason → why the flow ended. */
function endReason(flow: Obj | undefined): FlowEndReason {
  if (flow === undefined) return 'eof';
  const reason = str(flow['reason']);
  const state = str(flow['state']);
  if (reason === 'shutdown') return 'eof';
  if (state === 'closed') return 'fin';
  if (reason === 'forced') return 'evicted';
  return 'idle';
}

function tuple(e: Obj): { sa: string; sp: number; da: string; dp: number; proto: number } | undefined {
  const sa = str(e['src_ip']);
  const da = str(e['dest_ip']);
  const proto = protoNumber(e['proto']);
  if (sa === undefined || da === undefined || proto === undefined) return undefined;
  const sp = portNumber(e['src_port']) ?? 0;
  const dp = portNumber(e['dest_port']) ?? 0;
  return { sa, sp, da, dp, proto };
}

export class EveReader {
  private readonly byFlow = new Map<string, Parts>();
  private readonly dns: LogDns[] = [];
  /** v1 answers come one record per event: grouped by (flow, dns id) into one response. */
  private readonly v1 = new Map<string, LogDns>();
  private readonly files: LogFileResult[] = [];

  async add(file: string): Promise<LogFileResult> {
    const r = newFileResult(file);
    this.files.push(r);
    try {
      await forEachLine(file, (line) => {
        if (line.trim() === '') return;
        r.lines++;
        let e: unknown;
        try {
          e = JSON.parse(line);
        } catch {
          return countBad(r, 'eve.bad_json');
        }
        if (!isObj(e)) return countBad(r, 'eve.not_an_object');
        this.event(e, r);
      });
    } catch (err) {
      r.error = `${file}: ${(err as Error).message}`;
    }
    return r;
  }

  private event(e: Obj, r: LogFileResult): void {
    const type = str(e['event_type']);
    if (type !== 'flow' && type !== 'tls' && type !== 'quic' && type !== 'dns') {
      r.ignored++;
      return;
    }
    const ts = isoToUs(e['timestamp']);
    if (ts === undefined) return countBad(r, 'eve.bad_timestamp');
    if (tuple(e) === undefined) return countBad(r, 'eve.bad_tuple');
    const fid = e['flow_id'];
    const key = typeof fid === 'number' || typeof fid === 'string' ? String(fid) : undefined;
    if (type === 'dns') {
      if (!isObj(e['dns'])) return countBad(r, 'eve.bad_dns');
      if (this.dnsEvent(e, ts, key)) countUsed(r, type);
      else r.ignored++; // a query, or a response without answers of use
      return;
    }
    if (key === undefined) return countBad(r, 'eve.no_flow_id');
    if (type === 'flow' && e['flow'] !== undefined && !isObj(e['flow'])) return countBad(r, 'eve.bad_flow');
    const p = this.byFlow.get(key) ?? {};
    if (p[type] === undefined) p[type] = e;
    p.first ??= e;
    this.byFlow.set(key, p);
    countUsed(r, type);
  }

  /** The client of a DNS event: the side that is not port 53 (EVE writes responses either way round). */
  private dnsEvent(e: Obj, ts: number, key: string | undefined): boolean {
    const t = tuple(e)!;
    const d = e['dns'] as Obj;
    const serverIsDest = t.dp === 53 || (t.sp !== 53 && t.dp < t.sp);
    const client = serverIsDest ? t.sa : t.da;
    const server = serverIsDest ? t.da : t.sa;
    const proto: 'udp' | 'tcp' = t.proto === 6 ? 'tcp' : 'udp';
    const id = counter(d['id']);
    const rcode = str(d['rcode']) ?? 'NOERROR';
    const rcodeNum = rcode === 'NOERROR' ? 0 : rcode === 'NXDOMAIN' ? 3 : rcode === 'SERVFAIL' ? 2 : 1;
    const type = str(d['type']);
    const vlan = Array.isArray(e['vlan']) ? (e['vlan'] as unknown[]).map(counter) : [];
    if (type === 'answer' && d['answers'] === undefined && d['rrname'] !== undefined) {
      // v1: one answer record per event
      // the records of one response share flow and DNS id; the first names the query (its owner)
      const k = `${key ?? `${client}|${server}`}|${id}`;
      let resp = this.v1.get(k);
      if (resp === undefined) {
        resp = { tsUs: ts, client, server, proto, id, rcode: rcodeNum, qname: str(d['rrname']) ?? '', qtype: str(d['rrtype']) ?? '', answers: [], vlan };
        this.v1.set(k, resp);
        this.dns.push(resp);
      }
      const rr = record(d);
      if (rr !== undefined) resp.answers.push(rr);
      return true;
    }
    if (type !== 'answer' && type !== 'response') return false;
    const queries = Array.isArray(d['queries']) ? (d['queries'] as unknown[]).filter(isObj) : [];
    const qname = str(d['rrname']) ?? str(queries[0]?.['rrname']) ?? '';
    const qtype = str(d['rrtype']) ?? str(queries[0]?.['rrtype']) ?? '';
    const answers: DnsRecord[] = [];
    if (Array.isArray(d['answers'])) for (const a of d['answers']) if (isObj(a)) {
      const rr = record(a);
      if (rr !== undefined) answers.push(rr);
    }
    this.dns.push({ tsUs: ts, client, server, proto, id, rcode: rcodeNum, qname, qtype, answers, vlan });
    return true;
  }

  result(): LogReadResult {
    const flows: LogFlow[] = [];
    for (const [key, p] of this.byFlow) {
      const f = flowOf(key, p);
      if (f !== undefined) flows.push(f);
    }
    return { flows, dns: this.dns, files: this.files };
  }
}

/** One EVE answer record → a DNS record (A, AAAA, CNAME with their rdata; others kept by type). */
function record(a: Obj): DnsRecord | undefined {
  const name = str(a['rrname']);
  const type = str(a['rrtype']);
  const data = str(a['rdata']);
  if (name === undefined || type === undefined || data === undefined) return undefined;
  return { name, type, data, ttl: counter(a['ttl']) };
}

function flowOf(key: string, p: Parts): LogFlow | undefined {
  const base = p.flow ?? p.first;
  if (base === undefined) return undefined;
  const t = tuple(base)!;
  const fl = p.flow !== undefined && isObj(p.flow['flow']) ? p.flow['flow'] : undefined;
  const start = fl !== undefined ? isoToUs(fl['start']) : undefined;
  const end = fl !== undefined ? isoToUs(fl['end']) : undefined;
  const first = start ?? isoToUs(base['timestamp'])!;
  const f: LogFlow = {
    key,
    proto: t.proto,
    origAddr: t.sa,
    origPort: t.sp,
    respAddr: t.da,
    respPort: t.dp,
    firstTsUs: first,
    lastTsUs: Math.max(first, end ?? first),
    counted: fl !== undefined,
    origPkts: counter(fl?.['pkts_toserver']),
    respPkts: counter(fl?.['pkts_toclient']),
    origIpBytes: counter(fl?.['bytes_toserver']),
    respIpBytes: counter(fl?.['bytes_toclient']),
    origWireBytes: counter(fl?.['bytes_toserver']),
    respWireBytes: counter(fl?.['bytes_toclient']),
    origPayloadBytes: 0,
    respPayloadBytes: 0,
    endReason: endReason(fl),
    vlan: Array.isArray(base['vlan']) ? (base['vlan'] as unknown[]).map(counter) : [],
  };
  const cid = str(base['community_id']);
  if (cid !== undefined) f.communityId = cid;
  const hs = handshakeOf(p);
  if (hs !== undefined) f.handshake = hs;
  return f;
}

function handshakeOf(p: Parts): Handshake | undefined {
  const q = isObj(p.quic?.['quic']) ? (p.quic['quic'] as Obj) : undefined;
  const s = isObj(p.tls?.['tls']) ? (p.tls['tls'] as Obj) : undefined;
  if (q === undefined && s === undefined) return undefined;
  const hs: Handshake = { transport: q !== undefined ? 'quic' : 'tls', hellos: 1 };
  const sni = str(q?.['sni']) ?? str(s?.['sni']);
  if (sni !== undefined) hs.sni = sni;
  // EVE logs the client's offered ALPNs as client_alpns (Suricata 8), or quic.extensions
  const alpns = (q?.['client_alpns'] ?? s?.['client_alpns']) as unknown;
  if (Array.isArray(alpns) && alpns.every((a) => typeof a === 'string') && alpns.length > 0) hs.alpn = alpns as string[];
  const ja4 = str(q?.['ja4']) ?? str(s?.['ja4']);
  if (ja4 !== undefined) hs.ja4 = ja4;
  if (q !== undefined) {
    const v = quicVersionHex(q['version']);
    if (v !== undefined) hs.quicVersion = v;
  }
  return hs;
}
