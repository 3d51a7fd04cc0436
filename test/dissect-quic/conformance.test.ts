/**
 * Conformance over the public corpus: every ClientHello that tshark found inside a QUIC Initial
 * (`sni` entries with `transport: "quic"`) and every gQUIC CHLO SNI is found by llmtap on the
 * flow with the same 5-tuple, through the real packet path (reader → decode → flow → dissect).
 *
 * Optional entries: `ndpi-quic-interop` sends every client Initial with the reserved version
 * 0x0a0a0a0a (marked `reserved_quic_version` in the corpus). tshark 4.0 decrypts them as v1,
 * nDPI and tshark 4.4 do not. llmtap tries v1 keys on reserved versions; those entries are
 * reported (how many were found) but not required.
 */
import { describe, expect, it } from 'vitest';
import { Dissector, defaultDissectOptions } from '../../src/dissect/index.js';
import { replayFile } from '../../src/pipeline.js';
import { canonicalAddr } from '../../src/decode/addr.js';
import type { FlowRecord } from '../../src/records.js';
import { corpusDir, corpusEntries } from '../helpers/corpus.js';

interface SniEntry {
  transport: string;
  proto: string;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  sni: string | null;
  quic_version?: string;
  reserved_quic_version?: boolean;
}

const dir = corpusDir();
const entries = dir === undefined ? [] : corpusEntries(dir);
const withQuic = entries.filter((e) => {
  const sni = (e.expected['sni'] ?? []) as SniEntry[];
  const g = (e.expected['gquic_sni'] ?? []) as SniEntry[];
  return sni.some((s) => s.transport === 'quic') || g.length > 0;
});

function key(a: string, ap: number, b: string, bp: number): string {
  return `${canonicalAddr(a) ?? a}|${ap}|${canonicalAddr(b) ?? b}|${bp}`;
}

describe.skipIf(dir === undefined)('QUIC SNI over the corpus', () => {
  it('covers the QUIC captures the corpus lists', () => {
    expect(withQuic.length).toBeGreaterThanOrEqual(23);
  });

  for (const e of withQuic) {
    it(e.name, async () => {
      const dissector = new Dissector(defaultDissectOptions, { onDns: () => undefined });
      const { flows } = await replayFile(e.pcap, { dissector });
      const byTuple = new Map<string, FlowRecord[]>();
      for (const f of flows) {
        if (f.proto !== 17) continue;
        for (const k of [key(f.origAddr, f.origPort, f.respAddr, f.respPort), key(f.respAddr, f.respPort, f.origAddr, f.origPort)]) {
          const list = byTuple.get(k) ?? [];
          list.push(f);
          byTuple.set(k, list);
        }
      }
      const expected = [
        ...((e.expected['sni'] ?? []) as SniEntry[]).filter((s) => s.transport === 'quic'),
        ...((e.expected['gquic_sni'] ?? []) as SniEntry[]),
      ];
      const missing: string[] = [];
      let optionalFound = 0;
      let optional = 0;
      for (const s of expected) {
        const cands = byTuple.get(key(s.src, s.sport, s.dst, s.dport)) ?? [];
        const found = cands.some((f) => {
          const hs = f.handshake;
          if (hs === undefined) return false;
          if (s.sni === null) return hs.sni === undefined;
          return hs.sni === s.sni || (hs.sniAll ?? []).includes(s.sni);
        });
        if (s.reserved_quic_version === true) {
          optional++;
          if (found) optionalFound++;
          continue;
        }
        if (!found) missing.push(`${s.src}:${s.sport} -> ${s.dst}:${s.dport} ${s.sni ?? '(none)'} ${s.quic_version ?? 'gquic'}`);
      }
      expect(missing).toEqual([]);
      // Every flow that produced a QUIC handshake carries the transport and a version.
      for (const f of flows) {
        if (f.handshake !== undefined && f.proto === 17) {
          expect(['quic', 'gquic']).toContain(f.handshake.transport);
          expect(f.handshake.quicVersion).toMatch(/^0x[0-9a-f]{8}$/);
        }
      }
      if (optional > 0) {
        // Optional by the corpus; llmtap currently finds them all (v1, then draft-29 keys).
        // Recorded so a regression shows in the output without failing the conformance run.
        console.info(`${e.name}: reserved-version hellos found ${optionalFound}/${optional}`);
      }
    });
  }
});
