/**
 * SVCB and HTTPS resource data (RFC 9460 §2.2):
 *
 *   SvcPriority (u16) | TargetName (uncompressed domain name) |
 *   SvcParams: { SvcParamKey (u16), SvcParamValue length (u16), SvcParamValue }*
 *
 * Keys read here (§7, §14.3.2): 1 alpn, 3 port, 4 ipv4hint (n × 4 octets), 5 ech (an ECHConfigList,
 * only its presence is recorded), 6 ipv6hint (n × 16 octets).
 */
import { v4ToString, v6ToString } from '../../decode/addr.js';

export interface Svcb {
  priority: number;
  ipv4hint: string[];
  ipv6hint: string[];
  ech: boolean;
}

const KEY_IPV4HINT = 4;
const KEY_ECH = 5;
const KEY_IPV6HINT = 6;

/** Parse the SvcParams of `buf[p, end)` (after the target name); undefined when malformed. */
export function parseSvcParams(buf: Buffer, priority: number, p: number, end: number): Svcb | undefined {
  const out: Svcb = { priority, ipv4hint: [], ipv6hint: [], ech: false };
  while (p < end) {
    if (p + 4 > end) return undefined;
    const key = buf.readUInt16BE(p);
    const len = buf.readUInt16BE(p + 2);
    p += 4;
    if (p + len > end) return undefined;
    if (key === KEY_IPV4HINT) {
      if (len % 4 !== 0) return undefined;
      for (let i = p; i < p + len; i += 4) out.ipv4hint.push(v4ToString(buf.readUInt32BE(i)));
    } else if (key === KEY_IPV6HINT) {
      if (len % 16 !== 0) return undefined;
      for (let i = p; i < p + len; i += 16) out.ipv6hint.push(v6ToString(buf, i));
    } else if (key === KEY_ECH) {
      out.ech = len > 0;
    }
    p += len;
  }
  return out;
}
