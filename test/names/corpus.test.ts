/**
 * Passive DNS on real captures (the public corpus), through the real packet path.
 *
 * - Oracle: tshark's DNS answers in `expected/*.json`. Every flow named from DNS gets a name
 *   that tshark saw answered for that flow's server address (to that client for `dns-client`).
 * - Browser captures (`ja4-*`, `arkime-curl-tls13`): where a flow has both an SNI and DNS
 *   evidence, the two agree (a browser connects to what it resolved).
 */
import { describe, expect, it } from 'vitest';
import { Dissector, defaultDissectOptions } from '../../src/dissect/index.js';
import { DnsDissector } from '../../src/dissect/dns/index.js';
import { replayFile } from '../../src/pipeline.js';
import { canonicalAddr } from '../../src/decode/addr.js';
import { PassiveDns, defaultPassiveDnsOptions } from '../../src/names/passive-dns.js';
import { corpusDir, corpusEntries } from '../helpers/corpus.js';

interface ExpDns {
  dst: string;
  qname: string | null;
  answers: { type: string; data: unknown }[];
}

const dir = corpusDir();
const entries = (dir === undefined ? [] : corpusEntries(dir)).filter((e) => ((e.expected['dns'] ?? []) as ExpDns[]).length > 0);
const BROWSERS = new Set(['ja4-tls3-browser-dns-https', 'ja4-latest-dns-cname', 'arkime-curl-tls13']);

describe.skipIf(dir === undefined)('passive DNS over the corpus', () => {
  for (const e of entries) {
    it(e.name, async () => {
      const p = new PassiveDns(defaultPassiveDnsOptions);
      const dissector = new Dissector(defaultDissectOptions, {
        onDns: (a) => p.addAnswer(a),
        makeDns: (deps) => new DnsDissector(deps),
      });
      const { flows } = await replayFile(e.pcap, { dissector });
      // tshark's view: which names were answered with which address, to which client.
      const oracle = new Map<string, Set<string>>();
      for (const d of e.expected['dns'] as ExpDns[]) {
        if (d.qname === null) continue;
        for (const a of d.answers) {
          if ((a.type !== 'A' && a.type !== 'AAAA') || typeof a.data !== 'string') continue;
          const addr = canonicalAddr(a.data) ?? a.data;
          for (const k of [`${canonicalAddr(d.dst) ?? d.dst}|${addr}`, `*|${addr}`]) {
            const set = oracle.get(k) ?? new Set<string>();
            set.add(d.qname.toLowerCase());
            oracle.set(k, set);
          }
        }
      }
      let agreeChecked = 0;
      for (const f of flows) {
        p.nameFlow(f);
        if (f.hostSource === 'dns-client' || f.hostSource === 'dns-any') {
          const k = f.hostSource === 'dns-client' ? `${f.origAddr}|${f.respAddr}` : `*|${f.respAddr}`;
          expect(oracle.get(k)?.has(f.host ?? '')).toBe(true);
        }
        if (f.hostSource === 'none') expect(f.host).toBeUndefined();
        if (BROWSERS.has(e.name) && f.hostAgrees !== undefined) {
          agreeChecked++;
          expect(f.hostAgrees, `${f.handshake?.sni} at ${f.respAddr}`).toBe(true);
        }
      }
      if (BROWSERS.has(e.name)) expect(agreeChecked).toBeGreaterThan(0);
      const s = p.stats();
      expect(s['names.lookups']).toBe(flows.length);
    });
  }
});
