/**
 * Allowlist entries from the config file, applied to the store at start and on SIGHUP. The
 * config owns the entries it put there (origin `config`): applying a config makes them exactly
 * this config's set, so an entry removed from the file is revoked and a changed one replaced,
 * while entries added through the API or approved from candidates are never touched. Applying
 * the same config again changes nothing (same ids).
 */
import { parseExpiry, type SensorConfig } from '../config.js';
import type { Store } from '../store/store.js';
import type { NewAllowlistEntry } from '../store/types.js';

/** The store entries a config's `allowlist:` stands for (the config is already validated). */
export function configAllowlistEntries(cfg: SensorConfig): Array<{ tenant: string; entry: NewAllowlistEntry }> {
  return cfg.allowlist.map((e) => {
    const entry: NewAllowlistEntry = { processName: e.process.toLowerCase(), justification: e.justification };
    const hash = e.sha256 ?? e.sha1;
    if (hash !== undefined) entry.binaryHash = hash.toLowerCase();
    if (e.device_group !== undefined) entry.deviceGroup = e.device_group;
    if (e.provider !== undefined) entry.provider = e.provider;
    if (e.category !== undefined) entry.category = e.category;
    const expires = e.expires === undefined ? undefined : parseExpiry(e.expires);
    if (expires !== undefined) entry.expiresAtMs = expires;
    return { tenant: e.tenant, entry };
  });
}

/** Applies the config's allowlist; returns how many entries were added and removed. */
export function applyConfigAllowlist(cfg: SensorConfig, store: Store): { added: number; removed: number; kept: number } {
  return store.replaceConfigAllowlist(configAllowlistEntries(cfg));
}
