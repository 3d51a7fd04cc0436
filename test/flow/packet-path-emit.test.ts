/**
 * A flow can be emitted at any point of a batch (evicted from a full table, port reuse, active
 * timeout, idle expiry), also in the middle of its handshake: the emitted record must carry
 * what dissect learned of it, whatever ended it. A table of 16 flows makes eviction the normal
 * case; every hello parsed must then reach exactly one record, with the same names as when no
 * flow is evicted. (This caught a deferred-dissect design that built the record before the
 * queued hello was parsed.)
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Dissector, defaultDissectOptions } from '../../src/dissect/index.js';
import { replayFile } from '../../src/pipeline.js';
import type { FlowRecord } from '../../src/records.js';
import { corpusDir, repoRoot } from '../helpers/corpus.js';

const dir = corpusDir();

async function run(pcap: string, maxFlows?: number): Promise<{ flows: FlowRecord[]; stats: Record<string, number> }> {
  const d = new Dissector(defaultDissectOptions, { onDns: () => {} });
  const { flows } = await replayFile(pcap, { dissector: d, ...(maxFlows !== undefined ? { flow: { maxFlows } } : {}) });
  return { flows, stats: d.stats() };
}

const names = (flows: FlowRecord[]): string[] =>
  flows
    .filter((f) => f.handshake?.sni !== undefined)
    .map((f) => `${f.origAddr}:${f.origPort} ${f.respAddr}:${f.respPort} ${f.handshake?.sni}`)
    .sort();

describe.skipIf(dir === undefined)('handshakes of flows emitted mid-batch or evicted', () => {
  const cases: [() => string, boolean][] = [
    // QUIC: 113 Chromium hellos over draft-29 and v1, Initials out of order; its flows end by
    // idle expiry in mid-batch (no eviction at 16: few are open at once)
    [() => join(dir ?? '', 'pcaps', 'ndpi-quic-chrome-ooo.pcapng'), false],
    // TCP and QUIC: the demo capture (Chromium, curl, python3, node, openssl; split
    // post-quantum hellos), more than 16 flows open at once
    [() => join(repoRoot, 'pcaps', 'demo', 'demo.pcap.gz'), true],
  ];
  for (const [pcap, evicts] of cases) {
    it(`${pcap().split('/').pop()}: every parsed hello is in one record, evicting or not`, async () => {
      const small = await run(pcap(), 16);
      const whole = await run(pcap());
      const parsed = (s: Record<string, number>): number =>
        (s['tls.hello_parsed'] ?? 0) + (s['tls.hello_duplicate'] ?? 0) + (s['quic.hello_parsed'] ?? 0) + (s['gquic.hello_parsed'] ?? 0);
      if (evicts) expect(small.flows.filter((f) => f.endReason === 'evicted').length).toBeGreaterThan(0);
      expect(parsed(small.stats)).toBeGreaterThan(0);
      const inRecords = small.flows.reduce((n, f) => n + (f.handshake?.hellos ?? 0), 0);
      expect(inRecords).toBe(parsed(small.stats));
      expect(parsed(small.stats)).toBe(parsed(whole.stats));
      expect(names(small.flows)).toEqual(names(whole.flows));
    });
  }
});

describe('handshake-then-bypass in the packet path', () => {
  it('a flow is handed to dissect until dissect turns inspect off, never after, also when its slot is reused', async () => {
    // Bypass every flow at its third dissected packet; count what arrives per flow id.
    const seen = new Map<number, number>();
    let afterBypass = 0;
    const bypassed = new Set<number>();
    const dissector = {
      onPacket(_v: unknown, meta: { flowId: number; inspect: boolean }): void {
        if (bypassed.has(meta.flowId)) afterBypass++;
        const n = (seen.get(meta.flowId) ?? 0) + 1;
        seen.set(meta.flowId, n);
        if (n === 3) {
          meta.inspect = false;
          bypassed.add(meta.flowId);
        }
      },
      onFlowEnd(): void {},
      stats: () => ({}),
    };
    // a table of 16 flows: slots are freed and reused many times over
    const { flows } = await replayFile(join(repoRoot, 'pcaps', 'demo', 'demo.pcap.gz'), { dissector, flow: { maxFlows: 16 } });
    expect(flows.filter((f) => f.endReason === 'evicted').length).toBeGreaterThan(0);
    expect(afterBypass).toBe(0);
    expect(bypassed.size).toBeGreaterThan(10);
    for (const f of flows) expect(seen.get(f.flowId) ?? 0).toBeLessThanOrEqual(3);
    // a fresh flow in a reused slot is inspected again: more distinct flows seen than slots
    expect(seen.size).toBeGreaterThan(16);
  });
});

describe('what dissect learned reaches the record in one place', () => {
  it('only the packet path copies the handshake and the entropy from the flow meta onto the record', () => {
    const src = join(repoRoot, 'src');
    const files = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    const copies: string[] = [];
    for (const f of files) {
      const lines = readFileSync(join(src, f), 'utf8').split('\n');
      lines.forEach((l, i) => {
        if (/\.(handshake|payloadEntropy)\s*=\s*meta\.(handshake|payloadEntropy)\b/.test(l)) copies.push(`${f}:${i + 1}`);
      });
    }
    expect(copies.map((c) => c.replace(/:\d+$/, ''))).toEqual(['pipeline.ts', 'pipeline.ts']);
  });
});
