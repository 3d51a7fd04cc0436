/**
 * Glue between dissect's DNS answers and the names stage (passive DNS), kept out of
 * pipeline.ts so the wiring file stays readable.
 */
import type { DnsAnswer, FlowRecord } from './records.js';
import type { SensorConfig } from './config.js';
import type { SubDissector } from './dissect/index.js';

export function isLoopbackText(addr: string): boolean {
  return addr.startsWith('127.') || addr === '::1' || addr === 'localhost';
}

/** Placeholder until src/names lands: SNI only. */
export class NameStage {
  constructor(_cfg: SensorConfig) {}
  addAnswer(_a: DnsAnswer): void {}
  nameFlow(rec: FlowRecord): void {
    const hs = rec.handshake;
    if (hs?.sni !== undefined && hs.ech !== 'real') {
      rec.host = hs.sni;
      rec.hostSource = hs.transport === 'quic' ? 'quic-sni' : 'sni';
    }
  }
  stats(): Record<string, number> {
    return {};
  }
}

export const makeDnsDissector: ((deps: { onDns: (a: DnsAnswer) => void; count(reason: string): void }) => SubDissector) | undefined = undefined;
