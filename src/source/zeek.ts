/**
 * Zeek logs as input: conn, ssl, quic and dns logs, TSV (Zeek's ASCII writer: `#separator`,
 * `#set_separator`, `#empty_field`, `#unset_field`, `#path`, `#fields`, `#types` headers) or
 * JSON (one object per line, `LogAscii::use_json`; the log type from `_path` or the file name).
 * Records are joined by `uid`: conn gives the 5-tuple, times and counters, ssl and quic the
 * server name (and ALPN, JA4 when a package logs it), dns the answers passive DNS learns from.
 */
import { basename } from 'node:path';
import type { FlowEndReason, Handshake } from '../records.js';
import {
  countBad, countUsed, counter, forEachLine, newFileResult, portNumber, protoNumber, quicVersionHex, secondsToUs,
  type LogDns, type LogFileResult, type LogFlow, type LogReadResult,
} from './logs.js';

/** The Zeek log types read; others (http, files, x509 …) are counted as ignored. */
export const ZEEK_LOGS = ['conn', 'ssl', 'quic', 'dns'] as const;
type ZeekLog = (typeof ZEEK_LOGS)[number];

/** A field value: a string, a list (set/vector types), or undefined for unset. */
type Value = string | number | boolean | string[] | undefined | null | Record<string, unknown>;
type Rec = Record<string, Value>;

interface TsvHeader {
  sep: string;
  setSep: string;
  empty: string;
  unset: string;
  path?: string | undefined;
  fields?: string[] | undefined;
  types?: string[] | undefined;
}

/** `\x09` escapes of a header value → the characters. */
function unescapeHeader(s: string): string {
  return s.replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** The log type of a file by its name (`conn.log`, `ssl.04:00:00-05:00:00.log.gz`, `dns.json`). */
export function zeekTypeOfName(file: string): ZeekLog | undefined {
  const stem = basename(file).split('.')[0] ?? '';
  return (ZEEK_LOGS as readonly string[]).includes(stem) ? (stem as ZeekLog) : undefined;
}

/** Per-uid pieces collected over every file, joined at the end. */
interface Parts {
  conn?: Rec;
  ssl?: Rec;
  quic?: Rec;
}

const str = (v: Value): string | undefined => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined);
const list = (v: Value): string[] => (Array.isArray(v) ? v : typeof v === 'string' && v !== '' ? [v] : []);

/** A field of a record, flat (`id.orig_h`, Zeek's default) or nested (`id: { orig_h }`). */
function field(r: Rec, name: string): Value {
  const v = r[name];
  if (v !== undefined) return v;
  const dot = name.indexOf('.');
  if (dot < 0) return undefined;
  const outer = r[name.slice(0, dot)];
  if (outer !== null && typeof outer === 'object' && !Array.isArray(outer)) return (outer as Record<string, Value>)[name.slice(dot + 1)];
  return undefined;
}

/** Zeek `ts`: epoch seconds (number or text, the TSV and default JSON forms) or ISO 8601 (`JSON::TS_ISO8601`). */
function tsUs(v: Value): number | undefined {
  if (typeof v === 'string' && v.includes('T')) {
    const ms = Date.parse(v);
    if (!Number.isFinite(ms)) return undefined;
    const frac = /\.(\d+)/.exec(v)?.[1];
    return Math.floor(ms / 1000) * 1e6 + (frac !== undefined ? Math.round(Number(`0.${frac}`) * 1e6) : 0);
  }
  return secondsToUs(v);
}

/** conn_state → why the flow ended (as the flow table would have said). */
function endReason(state: string | undefined): FlowEndReason {
  if (state === undefined) return 'eof';
  if (state === 'SF') return 'fin';
  if (state.startsWith('RST') || state === 'REJ') return 'rst';
  return 'idle';
}

/** The 5-tuple of a record, or undefined when a part is missing or malformed. */
function tuple(r: Rec): { oh: string; op: number; rh: string; rp: number } | undefined {
  const oh = str(field(r, 'id.orig_h'));
  const rh = str(field(r, 'id.resp_h'));
  const op = portNumber(field(r, 'id.orig_p'));
  const rp = portNumber(field(r, 'id.resp_p'));
  if (oh === undefined || rh === undefined || op === undefined || rp === undefined) return undefined;
  return { oh, op, rh, rp };
}

/** Reads Zeek logs; `add` per file, `result` once at the end (joins by uid). */
export class ZeekReader {
  private readonly byUid = new Map<string, Parts>();
  private readonly dns: LogDns[] = [];
  private readonly files: LogFileResult[] = [];

  async add(file: string): Promise<LogFileResult> {
    const r = newFileResult(file);
    this.files.push(r);
    const byName = zeekTypeOfName(file);
    let h: TsvHeader = { sep: '\t', setSep: ',', empty: '(empty)', unset: '-' };
    try {
      await forEachLine(file, (line) => {
        if (line === '') return;
        if (line.startsWith('#')) {
          h = this.header(line, h);
          return;
        }
        r.lines++;
        let rec: Rec;
        let type: string | undefined;
        if (line.startsWith('{') || line.startsWith('[')) {
          try {
            const o = JSON.parse(line) as unknown;
            if (o === null || typeof o !== 'object' || Array.isArray(o)) return countBad(r, 'zeek.not_an_object');
            rec = o as Rec;
          } catch {
            return countBad(r, 'zeek.bad_json');
          }
          type = str(rec['_path']) ?? byName;
        } else {
          if (h.fields === undefined) return countBad(r, 'zeek.no_fields_header');
          const parts = line.split(h.sep);
          if (parts.length !== h.fields.length) return countBad(r, 'zeek.field_count');
          rec = {};
          for (let i = 0; i < parts.length; i++) {
            const raw = parts[i]!;
            const t = h.types?.[i] ?? 'string';
            const isList = t.startsWith('set[') || t.startsWith('vector[');
            let v: Value;
            if (raw === h.unset) v = undefined;
            else if (raw === h.empty) v = isList ? [] : '';
            else v = isList ? raw.split(h.setSep) : raw;
            rec[h.fields[i]!] = v;
          }
          type = h.path ?? byName;
        }
        if (type === undefined || !(ZEEK_LOGS as readonly string[]).includes(type)) {
          r.ignored++;
          return;
        }
        this.record(type as ZeekLog, rec, r);
      });
    } catch (err) {
      r.error = `${file}: ${(err as Error).message}`;
    }
    return r;
  }

  private header(line: string, h: TsvHeader): TsvHeader {
    // "#separator \x09" uses a space; every other header uses the separator
    if (line.startsWith('#separator ')) return { ...h, sep: unescapeHeader(line.slice('#separator '.length)), fields: undefined, types: undefined, path: undefined };
    const parts = line.split(h.sep);
    const key = parts[0];
    const rest = parts.slice(1);
    switch (key) {
      case '#set_separator': return { ...h, setSep: unescapeHeader(rest[0] ?? ',') };
      case '#empty_field': return { ...h, empty: rest[0] ?? '(empty)' };
      case '#unset_field': return { ...h, unset: rest[0] ?? '-' };
      case '#path': return { ...h, path: rest[0] };
      case '#fields': return { ...h, fields: rest, types: undefined };
      case '#types': return { ...h, types: rest };
      default: return h; // #open, #close, comments
    }
  }

  private record(type: ZeekLog, rec: Rec, r: LogFileResult): void {
    const ts = tsUs(field(rec, 'ts'));
    if (ts === undefined) return countBad(r, 'zeek.bad_ts');
    const t = tuple(rec);
    if (t === undefined) return countBad(r, 'zeek.bad_tuple');
    if (type === 'dns') {
      const d = this.dnsOf(rec, ts, t);
      if (d === undefined) {
        r.ignored++; // a query without a response names nothing
        return;
      }
      this.dns.push(d);
      countUsed(r, type);
      return;
    }
    const uid = str(field(rec, 'uid'));
    if (uid === undefined) return countBad(r, 'zeek.no_uid');
    if (type === 'conn' && protoNumber(field(rec, 'proto')) === undefined) return countBad(r, 'zeek.bad_proto');
    const p = this.byUid.get(uid) ?? {};
    // the first record of a type for a uid wins (Zeek writes one conn, ssl and quic record per connection)
    if (p[type] === undefined) p[type] = rec;
    this.byUid.set(uid, p);
    countUsed(r, type);
  }

  /** A dns.log record with a response → a DNS answer; queries without one name nothing. */
  private dnsOf(rec: Rec, ts: number, t: { oh: string; op: number; rh: string; rp: number }): LogDns | undefined {
    const rcode = field(rec, 'rcode');
    const answers = list(field(rec, 'answers'));
    if (rcode === undefined || rcode === null) return undefined;
    const qname = str(field(rec, 'query')) ?? '';
    const ttls = list(field(rec, 'TTLs'));
    const rtt = secondsToUs(field(rec, 'rtt'));
    // Zeek lists the answer data only (no owner names or types): an address is an A/AAAA
    // record, anything else a CNAME; the owner of each record is the previous CNAME target
    let owner = qname;
    const out: LogDns['answers'] = [];
    answers.forEach((data, i) => {
      const ttl = Math.max(0, Math.round(Number(ttls[i] ?? 0)) || 0);
      const type = isIPv4(data) ? 'A' : data.includes(':') ? 'AAAA' : 'CNAME';
      out.push({ name: owner, type, data, ttl });
      if (type === 'CNAME') owner = data;
    });
    return {
      tsUs: ts + (rtt ?? 0),
      client: t.oh,
      server: t.rh,
      proto: str(field(rec, 'proto')) === 'tcp' ? 'tcp' : 'udp',
      id: counter(field(rec, 'trans_id')),
      rcode: counter(rcode),
      qname,
      qtype: str(field(rec, 'qtype_name')) ?? '',
      answers: out,
      vlan: [],
    };
  }

  /** Every connection joined by uid, and every DNS answer. */
  result(): LogReadResult {
    const flows: LogFlow[] = [];
    for (const [uid, p] of this.byUid) {
      const f = this.flowOf(uid, p);
      if (f !== undefined) flows.push(f);
    }
    return { flows, dns: this.dns, files: this.files };
  }

  private flowOf(uid: string, p: Parts): LogFlow | undefined {
    const base = p.conn ?? p.quic ?? p.ssl;
    if (base === undefined) return undefined;
    const t = tuple(base)!;
    const ts = tsUs(field(base, 'ts'))!;
    const c = p.conn;
    const proto = c !== undefined ? protoNumber(field(c, 'proto'))! : p.quic !== undefined ? 17 : 6;
    const dur = c !== undefined ? secondsToUs(field(c, 'duration')) ?? 0 : 0;
    const vlan = [field(base, 'vlan'), field(base, 'inner_vlan')].filter((v) => v !== undefined && v !== null).map((v) => counter(v as Value));
    const flow: LogFlow = {
      key: uid,
      proto,
      origAddr: t.oh,
      origPort: t.op,
      respAddr: t.rh,
      respPort: t.rp,
      firstTsUs: ts,
      lastTsUs: ts + dur,
      counted: c !== undefined,
      origPkts: c !== undefined ? counter(field(c, 'orig_pkts')) : 0,
      respPkts: c !== undefined ? counter(field(c, 'resp_pkts')) : 0,
      origIpBytes: c !== undefined ? counter(field(c, 'orig_ip_bytes')) : 0,
      respIpBytes: c !== undefined ? counter(field(c, 'resp_ip_bytes')) : 0,
      origWireBytes: c !== undefined ? counter(field(c, 'orig_ip_bytes')) : 0,
      respWireBytes: c !== undefined ? counter(field(c, 'resp_ip_bytes')) : 0,
      origPayloadBytes: c !== undefined ? counter(field(c, 'orig_bytes')) : 0,
      respPayloadBytes: c !== undefined ? counter(field(c, 'resp_bytes')) : 0,
      endReason: endReason(c !== undefined ? str(field(c, 'conn_state')) : undefined),
      vlan,
    };
    const cid = c !== undefined ? str(field(c, 'community_id')) : undefined;
    if (cid !== undefined) flow.communityId = cid;
    const hs = this.handshakeOf(p);
    if (hs !== undefined) flow.handshake = hs;
    return flow;
  }

  /** quic.log wins over ssl.log for the transport (Zeek writes both for a QUIC connection). */
  private handshakeOf(p: Parts): Handshake | undefined {
    const q = p.quic;
    const s = p.ssl;
    if (q === undefined && s === undefined) return undefined;
    const hs: Handshake = { transport: q !== undefined ? 'quic' : 'tls', hellos: 1 };
    const sni = str(field(q ?? {}, 'server_name')) ?? str(field(s ?? {}, 'server_name'));
    if (sni !== undefined) hs.sni = sni;
    // quic.log's client_protocol is the client's first offered ALPN; ssl.log's next_protocol the server's choice
    const alpn = str(field(q ?? {}, 'client_protocol')) ?? str(field(s ?? {}, 'next_protocol'));
    if (alpn !== undefined) hs.alpn = [alpn];
    const ja4 = str(field(q ?? {}, 'ja4')) ?? str(field(s ?? {}, 'ja4'));
    if (ja4 !== undefined) hs.ja4 = ja4;
    if (q !== undefined) {
      const v = quicVersionHex(field(q, 'version'));
      if (v !== undefined) hs.quicVersion = v;
    }
    return hs;
  }
}

function isIPv4(s: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(s);
}
