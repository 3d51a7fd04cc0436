import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FlowRecord } from '../../src/records.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const corpusDir = resolve(repo, process.env['LLMTAP_CORPUS'] ?? '../shared/corpus');
/** EDR samples live beside the corpus (shared/edr/samples). */
export const samplesDir = process.env['LLMTAP_EDR_SAMPLES'] !== undefined
  ? resolve(repo, process.env['LLMTAP_EDR_SAMPLES'])
  : resolve(corpusDir, '../edr/samples');

/** True when the samples are present; in CI a missing sample directory fails instead of skipping. */
export function haveSamples(): boolean {
  const ok = existsSync(samplesDir);
  if (!ok && process.env['CI'] === 'true') throw new Error(`EDR samples missing at ${samplesDir}`);
  return ok;
}

export const sample = (rel: string): string => resolve(samplesDir, rel);

let nextId = 1;
/** A hand-built flow record (tests of the join without a capture). */
export function mkFlow(p: Partial<FlowRecord> & Pick<FlowRecord, 'origAddr' | 'origPort' | 'respAddr' | 'respPort' | 'firstTsUs'>): FlowRecord {
  return {
    flowId: nextId++,
    communityId: '1:test',
    proto: 6,
    vlan: [],
    origBy: 'syn',
    origPkts: 10,
    respPkts: 10,
    origWireBytes: 1000,
    respWireBytes: 5000,
    origCapBytes: 1000,
    respCapBytes: 5000,
    origIpBytes: 900,
    respIpBytes: 4900,
    origPayloadBytes: 500,
    respPayloadBytes: 4500,
    lastTsUs: p.firstTsUs + 2_000_000,
    origTcpFlags: 0x1b,
    respTcpFlags: 0x1b,
    endReason: 'fin',
    ifIndex: 0,
    hostSource: 'none',
    ...p,
  };
}
