/**
 * Allowlist entries from the config file, applied to the store at start and on SIGHUP. An
 * entry already present (same tenant, process, pins) is left alone, so re-applying is a no-op;
 * entries added through the API are never removed here.
 */
import type { SensorConfig } from '../config.js';
import type { Store } from '../store/store.js';
import type { NewAllowlistEntry } from '../store/types.js';

export function applyConfigAllowlist(cfg: SensorConfig, store: Store): number {
  let added = 0;
  for (const e of cfg.allowlist) {
    const want: NewAllowlistEntry = { processName: e.process.toLowerCase(), justification: e.justification };
    if (e.sha256 !== undefined) want.binaryHash = e.sha256.toLowerCase();
    if (e.device_group !== undefined) want.deviceGroup = e.device_group;
    if (e.provider !== undefined) want.provider = e.provider;
    if (e.category !== undefined) want.category = e.category;
    const same = store
      .listAllowlist(e.tenant)
      .some(
        (x) =>
          x.processName.toLowerCase() === want.processName &&
          (x.binaryHash ?? '') === (want.binaryHash ?? '') &&
          (x.deviceGroup ?? '') === (want.deviceGroup ?? '') &&
          (x.provider ?? '') === (want.provider ?? '') &&
          (x.category ?? '') === (want.category ?? ''),
      );
    if (same) continue;
    store.addAllowlist(e.tenant, want);
    added++;
  }
  return added;
}
