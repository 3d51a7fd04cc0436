/**
 * H7 — the worm signal: the same binary hash (SHA-256, else SHA-1) calls an AI endpoint from
 * at least `h7.devices` distinct devices of one tenant within `h7.window_s`, and the hash was
 * not in the tenant's known process inventory. The inventory is every hash EDR reported
 * before the window began (the detector records first sightings of all attributed
 * connections) plus imports. Critical; links the H1 (and warm-up learning) alerts of the hash.
 *
 * The alert is about the spread, not its last connection: one alert per hash, whose
 * `providers`, `hosts` and `categories` list every destination the spread reached (and
 * `provider` / `host` the same, comma-separated; `category` the highest-precedence one), with
 * `evidence.spread` saying which device called which provider and host.
 */
import type { AiCategory, Alert } from '../records.js';
import type { EvidenceRef, Rule, RuleContext, SpreadHit } from './rule.js';
import { binHash, defaultDetectBounds, refOf, RefWindow, sumBounds } from './rule.js';
import type { BoundStat } from '../bounded/lru.js';

interface SpreadRef extends EvidenceRef {
  deviceName?: string;
  provider: string;
  host: string;
  category: AiCategory;
}

interface TenantState {
  windowUs: number;
  byHash: RefWindow<SpreadRef>;
}

/** "OpenAI from 2 devices, Anthropic from 1 device" — per provider, distinct devices. */
function reach(a: Alert): string {
  const spread = a.evidence.spread ?? [];
  return (a.providers ?? [])
    .map((p) => {
      const n = spread.filter((d) => d.providers.includes(p)).length;
      return `${p} from ${n} device${n === 1 ? '' : 's'}`;
    })
    .join(', ');
}

export class H7Spread implements Rule {
  readonly name = 'h7';
  private readonly tenants = new Map<string, TenantState>();
  constructor(private readonly maxKeys = defaultDetectBounds.maxWindowKeys) {}

  bounds(): BoundStat[] {
    return sumBounds([...this.tenants.values()].map((s) => s.byHash.stat()));
  }

  private state(tenant: string, windowUs: number): TenantState {
    let s = this.tenants.get(tenant);
    if (!s) {
      s = { windowUs, byHash: new RefWindow<SpreadRef>(1024, this.maxKeys, 'detect.h7_hashes') };
      this.tenants.set(tenant, s);
    }
    s.windowUs = windowUs;
    return s;
  }

  observe(ctx: RuleContext): void {
    const { obs, tenant } = ctx;
    const c = obs.client;
    const v = obs.verdict;
    const h = binHash(obs);
    if (!v || !h || c?.deviceId === undefined) return;
    const windowUs = tenant.h7.window_s * 1e6;
    const s = this.state(tenant.id, windowUs);
    const ref: SpreadRef = { ...refOf(obs), provider: v.provider, host: obs.host ?? obs.serverAddr, category: v.category };
    if (c.deviceName !== undefined) ref.deviceName = c.deviceName;
    const refs = s.byHash.add(h.hash, ref, obs.tsUs - windowUs).filter((r) => r.tsUs <= obs.tsUs);
    const byDevice = new Map<string, SpreadHit>();
    for (const r of refs) {
      if (r.deviceId === undefined || r.deviceId === '') continue;
      let d = byDevice.get(r.deviceId);
      if (!d) {
        d = { deviceId: r.deviceId, firstSeenUs: r.tsUs, destinations: [] };
        if (r.deviceName !== undefined) d.deviceName = r.deviceName;
        byDevice.set(r.deviceId, d);
      }
      if (!d.destinations.some((x) => x.provider === r.provider && x.host === r.host)) {
        d.destinations.push({ provider: r.provider, host: r.host, category: r.category });
      }
    }
    if (byDevice.size < tenant.h7.devices) return;
    const firstSeen = ctx.store.inventoryFirstSeen(tenant.id, h.hash);
    if (firstSeen !== undefined && firstSeen <= obs.tsUs - windowUs) {
      ctx.count('detect.h7.known_hash');
      return;
    }
    const related = [
      ...ctx.store.alertIdsByHash(tenant.id, h.hash, 'h1'),
      ...ctx.store.alertIdsByHash(tenant.id, h.hash, 'learning'),
    ];
    const detail: Record<string, string | number | string[]> = {
      windowS: tenant.h7.window_s,
      hashType: h.kind,
    };
    if (h.kind === 'sha1') detail['sha1'] = h.hash;
    const name = c.processName ?? h.hash.slice(0, 12);
    const windowS = tenant.h7.window_s;
    ctx.emit({
      heuristic: 'h7',
      severity: 'critical',
      title: `H7: unknown binary ${name} spread to ${byDevice.size} devices within ${windowS}s`,
      detail,
      window: refs,
      fleet: true,
      binHash: h.hash,
      related,
      spread: [...byDevice.values()],
      describe: (a) => {
        const devices = (a.evidence.spread ?? []).map((d) => d.deviceId);
        a.evidence.detail['devices'] = [...devices].sort().slice(0, 64);
        a.evidence.detail['deviceCount'] = devices.length;
        a.title = `H7: unknown binary ${name} spread to ${devices.length} devices within ${windowS}s: ${reach(a)}`;
      },
    });
  }

  tick(nowUs: number): void {
    for (const s of this.tenants.values()) {
      s.byHash.prune(nowUs - s.windowUs);
    }
  }
}
