// The independent oracle for the lab captures: tshark's reading of a pcap, reduced to the facts
// llmtap must reproduce (ClientHello SNI/ALPN/versions per 5-tuple over TCP and QUIC, DNS
// answers, flows with frame and byte counts). Shared by the expected.json writer and the tests,
// so "regenerate" and "check" are the same computation.
//
// Field shapes follow the public corpus's expected/*.json (sni, dns, flows) so that the same
// conformance code can read both.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export const TSHARK = process.env.TSHARK ?? 'tshark';

// tshark's defaults for reassembly, spelled out so a local preference file cannot change them.
export const TSHARK_OPTS = [
  '-n',
  '-o', 'tcp.desegment_tcp_streams:TRUE',
  '-o', 'tcp.analyze_sequence_numbers:TRUE',
  '-o', 'tls.desegment_ssl_records:TRUE',
  '-o', 'tls.desegment_ssl_application_data:TRUE',
  '-o', 'ip.defragment:TRUE',
  '-o', 'ipv6.defragment:TRUE',
];

const DNS_TYPES = { 1: 'A', 5: 'CNAME', 6: 'SOA', 28: 'AAAA', 64: 'SVCB', 65: 'HTTPS' };

export function tsharkVersion() {
  return execFileSync(TSHARK, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0].trim();
}

export function tsharkAvailable() {
  try {
    tsharkVersion();
    return true;
  } catch {
    return false;
  }
}

function tshark(file, args) {
  const out = execFileSync(TSHARK, ['-r', file, ...TSHARK_OPTS, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' },
  });
  return out;
}

function tsharkJson(file, filter, fields) {
  const args = ['-T', 'json', '--no-duplicate-keys', '-Y', filter];
  for (const f of fields) args.push('-e', f);
  const out = tshark(file, args).trim();
  return out ? JSON.parse(out).map((p) => p._source.layers) : [];
}

const arr = (v) => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);
const first = (v) => arr(v)[0];
const num = (v) => (v === undefined ? undefined : Number(v));
const hex4 = (v) => `0x${Number(v).toString(16).padStart(4, '0')}`;

function endpoints(L) {
  const src = first(L['ip.src']) ?? first(L['ipv6.src']);
  const dst = first(L['ip.dst']) ?? first(L['ipv6.dst']);
  const tcp = L['tcp.srcport'] !== undefined;
  return {
    proto: tcp ? 'tcp' : 'udp',
    src,
    sport: num(first(tcp ? L['tcp.srcport'] : L['udp.srcport'])),
    dst,
    dport: num(first(tcp ? L['tcp.dstport'] : L['udp.dstport'])),
  };
}

const ADDR = ['frame.number', 'ip.src', 'ip.dst', 'ipv6.src', 'ipv6.dst', 'tcp.srcport', 'tcp.dstport', 'udp.srcport', 'udp.dstport'];

/** One entry per ClientHello tshark dissects, over TCP and inside decrypted QUIC Initials. */
export function clientHellos(file) {
  const fields = [...ADDR, 'tls.handshake.type', 'tls.handshake.extensions_server_name', 'tcp.segment',
    'quic.version', 'tls.handshake.version', 'tls.handshake.extensions.supported_version',
    'tls.handshake.extensions_alpn_str', 'tls.handshake.extension.type'];
  return tsharkJson(file, 'tls.handshake.type == 1', fields).map((L) => {
    const e = endpoints(L);
    const frame = num(first(L['frame.number']));
    const segs = arr(L['tcp.segment']).map(Number);
    const quic = L['quic.version'] !== undefined;
    const ext = arr(L['tls.handshake.extension.type']).map(Number);
    const out = {
      ...e,
      transport: quic ? 'quic' : 'tls',
      first_frame: segs.length > 0 ? Math.min(...segs) : frame,
      frame,
      segments: segs.length > 0 ? segs : [frame],
      legacy_version: hex4(first(L['tls.handshake.version'])),
      supported_versions: arr(L['tls.handshake.extensions.supported_version']).map(hex4),
      alpn: arr(L['tls.handshake.extensions_alpn_str']),
      ech: ext.includes(0xfe0d),
      sni: first(L['tls.handshake.extensions_server_name']) ?? null,
    };
    if (quic) out.quic_version = `0x${Number(first(L['quic.version'])).toString(16).padStart(8, '0')}`;
    return out;
  });
}

function answerData(a) {
  if (a['dns.a'] !== undefined) return a['dns.a'];
  if (a['dns.aaaa'] !== undefined) return a['dns.aaaa'];
  if (a['dns.cname'] !== undefined) return a['dns.cname'];
  return null;
}

/** One entry per DNS response (UDP or TCP), with the records of its Answer section. */
export function dnsResponses(file) {
  const out = tshark(file, ['-T', 'json', '--no-duplicate-keys', '-Y', 'dns.flags.response == 1',
    '-J', 'frame ip ipv6 tcp udp dns']).trim();
  if (!out) return [];
  const res = [];
  for (const pkt of JSON.parse(out)) {
    const l = pkt._source.layers;
    const ip = l.ip ?? l.ipv6 ?? {};
    const tcp = l.tcp !== undefined;
    const t = tcp ? l.tcp : l.udp;
    for (const dns of arr(l.dns)) {
      const q = Object.values(dns.Queries ?? {})[0] ?? {};
      const answers = Object.values(dns.Answers ?? {}).map((a) => ({
        name: a['dns.resp.name'],
        type: DNS_TYPES[Number(a['dns.resp.type'])] ?? `TYPE${a['dns.resp.type']}`,
        data: answerData(a),
        ttl: num(a['dns.resp.ttl']),
      }));
      res.push({
        frame: num(l.frame['frame.number']),
        proto: tcp ? 'tcp' : 'udp',
        src: ip['ip.src'] ?? ip['ipv6.src'],
        sport: num(t[tcp ? 'tcp.srcport' : 'udp.srcport']),
        dst: ip['ip.dst'] ?? ip['ipv6.dst'],
        dport: num(t[tcp ? 'tcp.dstport' : 'udp.dstport']),
        id: Number(dns['dns.id']),
        rcode: num(dns['dns.flags_tree']?.['dns.flags.rcode']),
        qname: q['dns.qry.name'] ?? null,
        type: DNS_TYPES[Number(q['dns.qry.type'])] ?? `TYPE${q['dns.qry.type']}`,
        answers,
      });
    }
  }
  return res;
}

/**
 * TCP and UDP conversations from tshark's per-frame decode: endpoint `a` is the source of the
 * conversation's first frame; bytes are frame (wire) lengths, link header included.
 * `first_time_epoch` is tshark's frame.time_epoch of that frame (seconds, text).
 */
export function flows(file) {
  const lines = tshark(file, ['-T', 'fields', '-E', 'separator=\t', '-e', 'frame.number', '-e', 'frame.len',
    '-e', 'frame.time_epoch', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'ipv6.src', '-e', 'ipv6.dst', '-e', 'tcp.srcport', '-e', 'tcp.dstport',
    '-e', 'udp.srcport', '-e', 'udp.dstport', '-Y', '(tcp or udp) and not icmp and not icmpv6']).split('\n');
  const map = new Map();
  for (const line of lines) {
    if (!line) continue;
    const [fr, len, time, s4, d4, s6, d6, ts, td, us, ud] = line.split('\t');
    const proto = ts ? 'tcp' : 'udp';
    const src = s4 || s6; const dst = d4 || d6;
    const sport = Number(ts || us); const dport = Number(td || ud);
    const k1 = `${proto} ${src} ${sport} ${dst} ${dport}`;
    const k2 = `${proto} ${dst} ${dport} ${src} ${sport}`;
    let f = map.get(k1) ?? map.get(k2);
    if (!f) {
      f = { proto, a: src, a_port: sport, b: dst, b_port: dport, frames_a_to_b: 0, bytes_a_to_b: 0,
        frames_b_to_a: 0, bytes_b_to_a: 0, first_frame: Number(fr), first_time_epoch: time };
      map.set(k1, f);
    }
    if (f.a === src && f.a_port === sport) { f.frames_a_to_b++; f.bytes_a_to_b += Number(len); }
    else { f.frames_b_to_a++; f.bytes_b_to_a += Number(len); }
  }
  return [...map.values()];
}

export function readCapture(file) {
  const raw = readFileSync(file);
  return file.endsWith('.gz') ? gunzipSync(raw) : raw;
}

/** Everything expected.json holds for one capture (pcap or pcap.gz). */
export function derive(file, name) {
  const bytes = readCapture(file);
  const sni = clientHellos(file);
  const dns = dnsResponses(file);
  const fl = flows(file);
  const packets = tshark(file, ['-T', 'fields', '-e', 'frame.number']).split('\n').filter((l) => l !== '').length;
  return {
    capture: name,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    generator: { tool: tsharkVersion(), options: TSHARK_OPTS, timezone: 'UTC' },
    counts: {
      packets,
      tls_client_hellos: sni.filter((s) => s.transport === 'tls').length,
      quic_client_hellos: sni.filter((s) => s.transport === 'quic').length,
      client_hellos_without_sni: sni.filter((s) => s.sni === null).length,
      dns_responses: dns.length,
      tcp_flows: fl.filter((f) => f.proto === 'tcp').length,
      udp_flows: fl.filter((f) => f.proto === 'udp').length,
    },
    sni,
    dns,
    flows: fl,
  };
}

/** The part of derive() that depends only on tshark's dissection (not on its version string). */
export function comparable(expected) {
  const { generator: _g, ...rest } = expected;
  return rest;
}
