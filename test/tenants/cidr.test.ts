import { BlockList } from 'node:net';
import { describe, expect, it } from 'vitest';
import { addrBytes, cidrContains, parseCidr } from '../../src/tenants/cidr.js';

const hex = (b: Uint8Array | undefined): string => (b ? Buffer.from(b).toString('hex') : 'none');

describe('tenant address parsing', () => {
  it('reads IPv6 addresses with an embedded IPv4 tail in every compressed position (RFC 4291 §2.2)', () => {
    expect(hex(addrBytes('64:ff9b::192.0.2.33'))).toBe('0064ff9b0000000000000000c0000221');
    expect(hex(addrBytes('::ffff:10.1.2.3'))).toBe('00000000000000000000ffff0a010203');
    expect(hex(addrBytes('::10.1.2.3'))).toBe('0000000000000000000000000a010203');
    expect(hex(addrBytes('1:2:3:4:5:6:10.1.2.3'))).toBe('000100020003000400050006' + '0a010203');
    expect(hex(addrBytes('1::6:10.1.2.3'))).toBe('00010000000000000000' + '0006' + '0a010203');
    expect(addrBytes('1:2:3:4:5:6:7:10.1.2.3')).toBeUndefined();
  });

  it('agrees with node:net BlockList on membership, NAT64 and mapped forms included', () => {
    const ranges = ['64:ff9b::/96', '2001:db8::/32', '::ffff:0:0/96', '2607:6bc0::/48'];
    const addrs = ['64:ff9b::192.0.2.33', '64:ff9b::1:192.0.2.33', '2001:db8::10.0.0.1', '2001:db9::1.2.3.4', '::ffff:10.1.2.3', '2607:6bc0::10', '2607:6bc1::10.0.0.1'];
    for (const r of ranges) {
      const [net, len] = r.split('/') as [string, string];
      const bl = new BlockList();
      bl.addSubnet(net, Number(len), 'ipv6');
      const c = parseCidr(r);
      expect(c, r).toBeDefined();
      for (const a of addrs) {
        const b = addrBytes(a);
        expect(b, a).toBeDefined();
        expect(cidrContains(c!, b!), `${a} in ${r}`).toBe(bl.check(a, 'ipv6'));
      }
    }
  });
});
