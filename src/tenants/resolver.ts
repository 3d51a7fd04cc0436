/**
 * Which tenant a flow, an address or an EDR feed's tenant id belongs to, and each tenant's
 * settings. Built once per config load (and again on reload: `Pipeline.reload`). A connection's
 * tenant is resolved once, where its observation is formed (src/pipeline.ts for a flow, the
 * join for an endpoint-only connection), and carried on the observation; later stages read it.
 */
import type { FlowRecord } from '../records.js';
import { addrBytes, cidrContains, parseCidr, type Cidr } from './cidr.js';
import { defaultTenantConfig, TenantConfigError, type TenantConfig } from './schema.js';

interface Range {
  cidr: Cidr;
  tenant: string;
}

export class TenantResolver {
  private readonly byId = new Map<string, TenantConfig>();
  private readonly byVlan = new Map<number, string>();
  private readonly byEdr = new Map<string, string>();
  /** Lower-cased EDR tenant ids → tenant (GUIDs arrive in either case). */
  private readonly byEdrLower = new Map<string, string>();
  /** Longest prefix first, so the first containing range wins. */
  private readonly ranges: Range[] = [];

  constructor(tenants: TenantConfig[]) {
    for (const t of tenants) {
      if (this.byId.has(t.id)) throw new TenantConfigError(`tenants.${t.id}`, 'duplicate tenant id');
      this.byId.set(t.id, t);
      for (const v of t.vlans) this.byVlan.set(v, t.id);
      for (const e of t.edr_tenant_ids) {
        this.byEdr.set(e, t.id);
        this.byEdrLower.set(e.toLowerCase(), t.id);
      }
      for (const c of t.cidrs) {
        const cidr = parseCidr(c);
        if (!cidr) throw new TenantConfigError(`tenants.${t.id}.cidrs`, `not an address range: ${c}`);
        this.ranges.push({ cidr, tenant: t.id });
      }
    }
    if (!this.byId.has('default')) this.byId.set('default', defaultTenantConfig());
    this.ranges.sort((a, b) => b.cidr.bits - a.cidr.bits);
    this.payloadEntropyWanted = [...this.byId.values()].some((t) => t.payload_entropy);
  }

  /** Whether any tenant opted in to payload entropy (dissect computes it only then). */
  readonly payloadEntropyWanted: boolean;

  /** The tenant of a flow: by its client (orig) address and VLAN stack. */
  ofFlow(flow: FlowRecord): string {
    return this.ofAddress(flow.origAddr, flow.vlan);
  }

  /**
   * The tenant of an endpoint record's connection: the feed's tenant label when it names a
   * configured tenant other than `default`, else the tenant that label maps to as an EDR tenant
   * id, else by the record's local (client) address (`default` when nothing claims it).
   */
  ofEdrRecord(label: string, localAddr: string): string {
    if (label !== 'default') {
      if (this.byId.has(label)) return label;
      const viaEdr = this.ofEdrTenant(label);
      if (viaEdr !== 'default') return viaEdr;
    }
    return this.ofAddress(localAddr, []);
  }

  /** VLAN membership first (an explicit tag is the stronger statement), then the longest
   * matching address range, else `default`. */
  ofAddress(addr: string, vlan: number[]): string {
    for (const v of vlan) {
      const t = this.byVlan.get(v);
      if (t !== undefined) return t;
    }
    if (this.ranges.length > 0) {
      const bytes = addrBytes(addr);
      if (bytes) for (const r of this.ranges) if (cidrContains(r.cidr, bytes)) return r.tenant;
    }
    return 'default';
  }

  /** The tenant an EDR feed's tenant id maps to (the id itself when it names a tenant). */
  ofEdrTenant(edrTenantId: string): string {
    return this.byEdr.get(edrTenantId) ?? (this.byId.has(edrTenantId) ? edrTenantId : 'default');
  }

  /**
   * Whether a record labelled with EDR tenant id `edrTenantId` may arrive on `tenant`'s feed
   * credential: yes when the id is one of the tenant's `edr_tenant_ids`; no when another tenant
   * claims it; when the tenant lists none, any id no tenant claims (there is nothing to compare
   * with). Case-insensitive.
   */
  edrTenantMatches(tenant: string, edrTenantId: string): boolean {
    const owner = this.byEdrLower.get(edrTenantId.toLowerCase());
    if (owner !== undefined) return owner === tenant;
    return (this.byId.get(tenant)?.edr_tenant_ids.length ?? 0) === 0;
  }

  has(tenant: string): boolean {
    return this.byId.has(tenant);
  }

  /** A tenant's settings; unknown ids get the `default` tenant's settings. */
  get(tenant: string): TenantConfig {
    return this.byId.get(tenant) ?? (this.byId.get('default') as TenantConfig);
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }
}
