/**
 * H7 — the worm signal: the same binary hash (SHA-256, else SHA-1) calls an AI endpoint from
 * at least `h7.devices` distinct devices of one tenant within `h7.window_s`, and the hash was
 * not in the tenant's known process inventory. The inventory is every hash EDR reported
 * before the window began (the detector records first sightings of all attributed
 * connections) plus imports. Critical; links the H1 (and warm-up learning) alerts of the hash.
 */
import type { Rule, RuleContext } from './rule.js';
import { binHash, refOf, RefWindow } from './rule.js';

interface TenantState {
  windowUs: number;
  byHash: RefWindow;
}

export class H7Spread implements Rule {
  readonly name = 'h7';
  private readonly tenants = new Map<string, TenantState>();

  private state(tenant: string, windowUs: number): TenantState {
    let s = this.tenants.get(tenant);
    if (!s) {
      s = { windowUs, byHash: new RefWindow(1024) };
      this.tenants.set(tenant, s);
    }
    s.windowUs = windowUs;
    return s;
  }

  observe(ctx: RuleContext): void {
    const { obs, tenant } = ctx;
    const c = obs.client;
    const h = binHash(obs);
    if (!obs.verdict || !h || c?.deviceId === undefined) return;
    const windowUs = tenant.h7.window_s * 1e6;
    const s = this.state(tenant.id, windowUs);
    const refs = s.byHash.add(h.hash, refOf(obs), obs.tsUs - windowUs).filter((r) => r.tsUs <= obs.tsUs);
    const devices = [...new Set(refs.map((r) => r.deviceId ?? ''))].filter((d) => d !== '');
    if (devices.length < tenant.h7.devices) return;
    const firstSeen = ctx.store.inventoryFirstSeen(tenant.id, h.hash);
    if (firstSeen !== undefined && firstSeen <= obs.tsUs - windowUs) {
      ctx.count('h7.known_hash');
      return;
    }
    const related = [
      ...ctx.store.alertIdsByHash(tenant.id, h.hash, 'h1'),
      ...ctx.store.alertIdsByHash(tenant.id, h.hash, 'learning'),
    ];
    const detail: Record<string, string | number | string[]> = {
      devices: devices.sort(),
      deviceCount: devices.length,
      windowS: tenant.h7.window_s,
      hashType: h.kind,
    };
    if (h.kind === 'sha1') detail['sha1'] = h.hash;
    ctx.emit({
      heuristic: 'h7',
      severity: 'critical',
      title: `H7: unknown binary ${c.processName ?? h.hash.slice(0, 12)} called ${obs.verdict.provider} from ${devices.length} devices within ${tenant.h7.window_s}s`,
      detail,
      window: refs,
      fleet: true,
      binHash: h.hash,
      related,
    });
  }

  tick(nowUs: number): void {
    for (const s of this.tenants.values()) {
      s.byHash.prune(nowUs - s.windowUs);
    }
  }
}
