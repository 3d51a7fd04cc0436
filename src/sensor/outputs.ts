/**
 * Push outputs of a sensor or a fleet hub (`outputs:` in the config): built over the store
 * (SQLite, or the hub's PostgreSQL, which answers with promises), following the config's tenants, polled every second; `finishOutputs` pushes the last changes and waits
 * (bounded) for the queues to empty before the store closes.
 */
import { hostname } from 'node:os';
import { configPath, type SensorConfig } from '../config.js';
import { Outputs, type ChangeSource } from '../output/outputs.js';
import type { OutputLog } from '../output/push.js';
import { LLMTAP_VERSION } from '../version.js';

export function configTenants(cfg: SensorConfig): string[] {
  return [...new Set(['default', ...cfg.tenants.map((t) => t.id)])];
}

/** Undefined when the config has no outputs. Throws a coded config error for a bad output. */
export async function openOutputs(cfg: SensorConfig, store: ChangeSource, log?: OutputLog): Promise<Outputs | undefined> {
  if (cfg.outputs.length === 0) return undefined;
  const outputs = new Outputs(store, { version: LLMTAP_VERSION, hostname: hostname() }, (p) => configPath(cfg, p, { output: true }), log);
  await outputs.follow(configTenants(cfg));
  await outputs.configure(cfg.outputs);
  outputs.start(1000);
  return outputs;
}

/** Pushes the changes not yet queued, waits up to `timeoutMs` for delivery, closes; returns what was left undelivered per output. */
export async function finishOutputs(outputs: Outputs, timeoutMs: number): Promise<{ name: string; queued: number; lastError?: string }[]> {
  await outputs.poll();
  await outputs.drain(timeoutMs);
  const left = outputs.outputs().filter((o) => o.queued > 0).map((o) => ({ name: o.name, queued: o.queued, ...(o.lastError !== undefined ? { lastError: o.lastError } : {}) }));
  await outputs.close();
  return left;
}
