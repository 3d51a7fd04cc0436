/**
 * H1 — LLM egress from a process that should not make it: a process that is not on the
 * tenant's allowlist connects to a host of one of the tenant's H1 categories (default `api`).
 * Sanctioned endpoints never fire. Without a process name (no EDR match) there is nothing to
 * allowlist: shadow-volume covers those devices.
 *
 * Warm-up: until `warmup_days` after the tenant's first observation, H1 records candidates and
 * emits only low-severity `learning` alerts; afterwards it fires at `high`, `critical` for
 * server workers and core Windows services (the published strong signal: w3wp.exe reaching an
 * LLM endpoint). Candidates keep being recorded after warm-up so an analyst can approve them.
 */
import type { Rule, RuleContext } from './rule.js';
import { binHash } from './rule.js';

/** Processes that serve requests or run the OS; an LLM call from them is never routine. */
export const SERVER_PROCESSES: ReadonlySet<string> = new Set([
  'w3wp.exe', 'iisexpress.exe', 'httpd', 'httpd.exe', 'apache2', 'nginx', 'nginx.exe', 'php-fpm',
  'php-cgi', 'php-cgi.exe', 'sqlservr.exe', 'tomcat9.exe', 'services.exe', 'svchost.exe',
  'lsass.exe', 'spoolsv.exe', 'wmiprvse.exe',
]);

export function isServerProcess(name: string): boolean {
  const base = name.toLowerCase();
  // Apache/PHP-FPM workers often appear with a version suffix (php-fpm8.2, httpd-worker).
  return SERVER_PROCESSES.has(base) || /^(php-fpm|httpd|apache2)[\w.-]*$/.test(base);
}

export function deviceGroupsOf(groups: Record<string, string[]>, deviceId: string | undefined): string[] {
  if (deviceId === undefined) return [];
  return Object.keys(groups).filter((g) => groups[g]?.includes(deviceId) === true);
}

export class H1Allowlist implements Rule {
  readonly name = 'h1';

  observe(ctx: RuleContext): void {
    const { obs, tenant } = ctx;
    const v = obs.verdict;
    const c = obs.client;
    if (!v || v.sanctioned || !tenant.h1_categories.includes(v.category)) return;
    if (!c?.processName) return;
    const hash = binHash(obs);
    const q = {
      processName: c.processName,
      deviceGroups: deviceGroupsOf(tenant.device_groups, c.deviceId),
      provider: v.provider,
      category: v.category,
      atMs: obs.tsUs / 1000,
      ...(c.sha1 ? { sha1: c.sha1.toLowerCase() } : {}),
    };
    if (ctx.store.isAllowlisted(tenant.id, hash ? { ...q, binaryHash: hash.hash } : q)) {
      ctx.count('detect.h1.allowlisted');
      return;
    }
    ctx.marks.h1 = true;
    ctx.store.upsertCandidate(tenant.id, {
      processName: c.processName,
      provider: v.provider,
      category: v.category,
      deviceId: c.deviceId,
      obsId: obs.obsId,
      tsUs: obs.tsUs,
    });
    const where = obs.host ?? obs.serverAddr;
    const detail: Record<string, string | boolean> = { category: v.category, serverProcess: isServerProcess(c.processName) };
    if (hash) detail['hashType'] = hash.kind;
    if (!ctx.warm) {
      ctx.emit({
        heuristic: 'learning',
        severity: 'low',
        title: `Learning: ${c.processName} connected to ${v.provider} (${where})`,
        detail,
      });
      return;
    }
    ctx.emit({
      heuristic: 'h1',
      severity: isServerProcess(c.processName) ? 'critical' : 'high',
      title: `H1: ${c.processName} is not allowlisted for ${v.provider} (${where})`,
      detail,
    });
  }
}
