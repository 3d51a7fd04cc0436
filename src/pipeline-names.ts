/**
 * Glue between dissect's DNS answers and the names stage (passive DNS), kept out of
 * pipeline.ts so the wiring file stays readable.
 */
import type { DnsAnswer, FlowRecord } from './records.js';
import type { SensorConfig } from './config.js';
import type { SubDissector } from './dissect/index.js';
import { DnsDissector } from './dissect/dns/index.js';
import { PassiveDns } from './names/passive-dns.js';

export function isLoopbackText(addr: string): boolean {
  return addr.startsWith('127.') || addr === '::1' || addr === 'localhost';
}

/** The names stage as the pipeline uses it: passive DNS fed by dissect, naming each flow. */
export class NameStage {
  private readonly pdns: PassiveDns;

  constructor(cfg: SensorConfig) {
    this.pdns = new PassiveDns({ maxEntries: cfg.names.max_entries, ttlFloorS: cfg.names.ttl_floor_s, ttlCapS: cfg.names.ttl_cap_s });
  }

  addAnswer(a: DnsAnswer): void {
    this.pdns.addAnswer(a);
  }

  nameFlow(rec: FlowRecord): void {
    this.pdns.nameFlow(rec);
  }

  stats(): Record<string, number> {
    return this.pdns.stats();
  }
}

export const makeDnsDissector = (deps: { onDns: (a: DnsAnswer) => void; count(reason: string): void }): SubDissector => new DnsDissector(deps);
