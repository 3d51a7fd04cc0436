// A SYN scan with DNS answers mixed in, as a classic pcap: every packet is a new flow. The
// churn benchmark (bench/churn.mjs) and the bounded-memory test replay it.
//   node bench/scan-pcap.mjs OUT.pcap FLOWS [--dns-every 8] [--pps 100000]
// FLOWS counts every flow written (SYNs and DNS answers). The same arguments always give the
// same bytes. Prints a JSON summary (flows, syns, dnsAnswers, packets, bytes) on stdout.
import { openSync, writeSync, closeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** The 64 TCP ports the scan probes on each target address. */
const PORTS = [
  21, 22, 23, 25, 53, 80, 110, 111, 135, 139, 143, 179, 389, 443, 445, 465, 514, 515, 548, 554, 587, 631, 636, 873, 993, 995, 1080, 1433,
  1521, 1723, 2049, 2375, 3000, 3128, 3306, 3389, 4443, 5000, 5432, 5601, 5900, 5985, 6379, 6443, 7001, 8000, 8008, 8080, 8081, 8443, 8888,
  9000, 9090, 9200, 9300, 9418, 10000, 11211, 15672, 27017, 50000, 50070, 61616, 65000,
];

const SCANNER = [10, 0, 0, 5];
const RESOLVER = [10, 0, 0, 53];

function ipSum(b, off) {
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += b.readUInt16BE(off + i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Ethernet + IPv4 header at `off`; returns the offset of the transport header. */
function ipv4(b, off, src, dst, proto, payloadLen, id) {
  b.fill(0, off, off + 14);
  b[off] = 0x02; b[off + 5] = 0x01; b[off + 6] = 0x02; b[off + 11] = 0x02; // locally administered MACs
  b.writeUInt16BE(0x0800, off + 12);
  const ip = off + 14;
  b[ip] = 0x45; b[ip + 1] = 0;
  b.writeUInt16BE(20 + payloadLen, ip + 2);
  b.writeUInt16BE(id & 0xffff, ip + 4);
  b.writeUInt16BE(0x4000, ip + 6); // DF
  b[ip + 8] = 64; b[ip + 9] = proto;
  b.writeUInt16BE(0, ip + 10);
  for (let i = 0; i < 4; i++) { b[ip + 12 + i] = src[i]; b[ip + 16 + i] = dst[i]; }
  b.writeUInt16BE(ipSum(b, ip), ip + 10);
  return ip + 20;
}

/** Scan target n: 64 ports per address, addresses counted up from 172.16.0.1. */
function target(n) {
  const host = Math.floor(n / PORTS.length) + 1;
  return { addr: [172, 16 + ((host >>> 16) & 0x0f), (host >>> 8) & 0xff, host & 0xff], port: PORTS[n % PORTS.length] };
}

/**
 * Write the scan. Flow k (0-based) is a DNS answer when `dnsEvery` > 0 and k % dnsEvery ==
 * dnsEvery - 1, else a SYN to the next scan target. DNS answers go from the resolver to a client
 * address/port never used before, name `t<k>.scan.example`, one A record inside the scanned range.
 */
export function writeScanPcap(path, flows, opts = {}) {
  const dnsEvery = opts.dnsEvery ?? 8;
  const pps = opts.pps ?? 100_000;
  const t0Us = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z
  const fd = openSync(path, 'w');
  const buf = Buffer.alloc(1 << 20);
  let pos = 0;
  let bytes = 0;
  const flush = () => { writeSync(fd, buf, 0, pos); bytes += pos; pos = 0; };
  buf.writeUInt32LE(0xa1b2c3d4, 0); buf.writeUInt16LE(2, 4); buf.writeUInt16LE(4, 6);
  buf.writeUInt32LE(0, 8); buf.writeUInt32LE(0, 12); buf.writeUInt32LE(65535, 16); buf.writeUInt32LE(1, 20);
  pos = 24;
  let syns = 0;
  let dns = 0;
  for (let k = 0; k < flows; k++) {
    if (pos > buf.length - 256) flush();
    const ts = t0Us + Math.floor((k * 1e6) / pps);
    const rec = pos;
    buf.writeUInt32LE(Math.floor(ts / 1e6), rec);
    buf.writeUInt32LE(ts % 1e6, rec + 4);
    const frame = rec + 16;
    let len;
    if (dnsEvery > 0 && k % dnsEvery === dnsEvery - 1) {
      const name = `t${k}.scan.example`;
      const qname = name.length + 2;
      const dnsLen = 12 + qname + 4 + 16;
      const client = [10, 1 + ((dns >>> 24) & 0x7f), (dns >>> 16) & 0xff, 1 + ((dns >>> 12) & 0x0f)];
      const cport = 1024 + (dns & 0xfff);
      const udp = ipv4(buf, frame, RESOLVER, client, 17, 8 + dnsLen, k);
      buf.writeUInt16BE(53, udp); buf.writeUInt16BE(cport, udp + 2);
      buf.writeUInt16BE(8 + dnsLen, udp + 4); buf.writeUInt16BE(0, udp + 6);
      let d = udp + 8;
      buf.writeUInt16BE(dns & 0xffff, d); buf.writeUInt16BE(0x8180, d + 2);
      buf.writeUInt16BE(1, d + 4); buf.writeUInt16BE(1, d + 6); buf.writeUInt32BE(0, d + 8);
      d += 12;
      for (const label of name.split('.')) { buf[d++] = label.length; d += buf.write(label, d, 'latin1'); }
      buf[d++] = 0;
      buf.writeUInt16BE(1, d); buf.writeUInt16BE(1, d + 2); d += 4;
      const t = target(syns + dns);
      buf.writeUInt16BE(0xc00c, d); buf.writeUInt16BE(1, d + 2); buf.writeUInt16BE(1, d + 4);
      buf.writeUInt32BE(300, d + 6); buf.writeUInt16BE(4, d + 10);
      for (let i = 0; i < 4; i++) buf[d + 12 + i] = t.addr[i];
      len = 14 + 20 + 8 + dnsLen;
      dns++;
    } else {
      const t = target(syns);
      const tcp = ipv4(buf, frame, SCANNER, t.addr, 6, 20, k);
      buf.writeUInt16BE(40000 + (syns % 8), tcp); buf.writeUInt16BE(t.port, tcp + 2);
      buf.writeUInt32BE((k * 2654435761) >>> 0, tcp + 4); buf.writeUInt32BE(0, tcp + 8);
      buf[tcp + 12] = 0x50; buf[tcp + 13] = 0x02; // SYN
      buf.writeUInt16BE(1024, tcp + 14); buf.writeUInt32BE(0, tcp + 16); // no checksum (offload)
      len = 14 + 20 + 20;
      syns++;
    }
    buf.writeUInt32LE(len, rec + 8); buf.writeUInt32LE(len, rec + 12);
    pos = frame + len;
  }
  flush();
  closeSync(fd);
  return { flows, syns, dnsAnswers: dns, packets: flows, bytes, captureSeconds: flows / pps };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { 'dns-every': { type: 'string' }, pps: { type: 'string' } } });
  const [out, n] = positionals;
  if (out === undefined || n === undefined || !(Number(n) > 0)) {
    process.stderr.write('usage: node bench/scan-pcap.mjs OUT.pcap FLOWS [--dns-every 8] [--pps 100000]\n');
    process.exit(2);
  }
  const s = writeScanPcap(out, Number(n), { dnsEvery: Number(values['dns-every'] ?? 8), pps: Number(values.pps ?? 100_000) });
  process.stdout.write(`${JSON.stringify(s)}\n`);
}
