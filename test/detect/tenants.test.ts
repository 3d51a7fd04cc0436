import { describe, expect, it } from 'vitest';
import { TenantResolver } from '../../src/tenants/resolver.js';
import { parseTenants, TenantConfigError, defaultTenantConfig } from '../../src/tenants/schema.js';

describe('tenants', () => {
  const tenants = parseTenants([
    { id: 'acme', cidrs: ['10.0.0.0/8', '2001:db8::/32'], vlans: [100] },
    { id: 'acme-lab', cidrs: ['10.20.0.0/16'], edr_tenant_ids: ['mde-1234'], h7: { devices: 4 } },
    { id: 'globex', cidrs: ['192.168.7.0/24', '::ffff:172.16.0.0/108'], vlans: [200, 201], ai_threat_telemetry_enabled: false },
  ]);
  const r = new TenantResolver(tenants);

  it('defaults follow the published design', () => {
    const d = defaultTenantConfig();
    expect(d.ai_threat_telemetry_enabled).toBe(true);
    expect(d.payload_entropy).toBe(false);
    expect(d.warmup_days).toBe(14);
    expect(d.h1_categories).toEqual(['api']);
    expect(d.h7).toEqual({ devices: 3, window_s: 300 });
    expect(d.upload.bytes_out).toBe(10_000_000);
    expect(d.shadow_volume.connections).toBe(5);
    expect(r.get('acme-lab').h7).toEqual({ devices: 4, window_s: 300 });
  });

  it('resolves by VLAN, then longest prefix (v4 and v6), else default', () => {
    expect(r.ofAddress('10.20.1.1', [])).toBe('acme-lab');
    expect(r.ofAddress('10.21.1.1', [])).toBe('acme');
    expect(r.ofAddress('10.20.1.1', [201])).toBe('globex');
    expect(r.ofAddress('2001:db8:0:1::5', [])).toBe('acme');
    expect(r.ofAddress('2001:db9::5', [])).toBe('default');
    expect(r.ofAddress('172.16.5.5', [])).toBe('globex');
    expect(r.ofAddress('::ffff:10.20.0.1', [])).toBe('acme-lab');
    expect(r.ofAddress('8.8.8.8', [999])).toBe('default');
    expect(r.ofAddress('not-an-ip', [])).toBe('default');
    expect(r.ofEdrTenant('mde-1234')).toBe('acme-lab');
    // an endpoint record's connection: its feed label when it names a tenant, else the EDR
    // tenant id it maps to, else by its local address
    expect(r.ofEdrRecord('globex', '10.20.1.1')).toBe('globex');
    expect(r.ofEdrRecord('mde-1234', '8.8.8.8')).toBe('acme-lab');
    expect(r.ofEdrRecord('default', '10.20.1.1')).toBe('acme-lab');
    expect(r.ofEdrRecord('edr-x', '10.21.1.1')).toBe('acme');
    expect(r.ofEdrRecord('edr-x', '8.8.8.8')).toBe('default');
    expect(r.payloadEntropyWanted).toBe(false);
    expect(new TenantResolver(parseTenants([{ id: 'x', payload_entropy: true }])).payloadEntropyWanted).toBe(true);
    expect(r.get('nobody').id).toBe('default');
    expect(r.ids().sort()).toEqual(['acme', 'acme-lab', 'default', 'globex']);
  });

  it.each([
    [[{ id: 'x', h7: { devices: 1 } }], 'tenants[0].h7.devices'],
    [[{ id: 'x', cidrs: ['10.0.0.0/33'] }], 'tenants[0].cidrs[0]'],
    [[{ id: 'x', vlans: [5000] }], 'tenants[0].vlans'],
    [[{ id: 'x', h1_categories: ['api', 'chat'] }], 'tenants[0].h1_categories[1]'],
    [[{ id: 'x', ai_threat_telemetry_enabled: 'no' }], 'tenants[0].ai_threat_telemetry_enabled'],
    [[{ id: 'x', beacon: { jitter: 1 } }], 'tenants[0].beacon.jitter'],
    [[{ id: 'x', colour: 'red' }], 'tenants[0].colour'],
    [[{ id: 'x bad' }], 'tenants[0].id'],
    [[{ id: 'a', vlans: [1] }, { id: 'b', vlans: [1] }], 'tenants[1]'],
    [{ id: 'x' }, 'tenants'],
  ])('rejects %j naming %s', (raw, key) => {
    try {
      parseTenants(raw);
      expect.unreachable('should have thrown');
    } catch (e) {
      expect(e).toBeInstanceOf(TenantConfigError);
      expect((e as TenantConfigError).key).toBe(key);
      expect((e as TenantConfigError).code).toBe('LLMTAP_ERR_TENANT_CONFIG');
    }
  });
});
