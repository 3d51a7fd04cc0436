/**
 * Conformance over the public corpus: every DNS response tshark lists in `expected/*.json`
 * (UDP and TCP) is produced by llmtap as a DnsAnswer with the same 5-tuple and id, the same
 * rcode, question, and every A, AAAA, CNAME, HTTPS and SVCB answer record (name, TTL, data,
 * SVCB hints and ECH presence). Fed through the real packet path: reader → decode → flow →
 * dissect router → DnsDissector.
 *
 * Not compared: answer records tshark itself could not decode (`<Name too long>` data), and
 * rdata of other types (llmtap keeps only what passive DNS uses: their type must be present).
 * Responses whose question tshark could not read either (`qname: null`: frames cut by the
 * snapshot length or unreassembled IP fragments, in `ndpi-dns-badpackets`) are not emitted by
 * llmtap; each must instead be counted under a `dns.*` reason.
 */
import { describe, expect, it } from 'vitest';
import { Dissector, defaultDissectOptions } from '../../src/dissect/index.js';
import { DnsDissector } from '../../src/dissect/dns/index.js';
import { replayFile } from '../../src/pipeline.js';
import { canonicalAddr } from '../../src/decode/addr.js';
import type { DnsAnswer, DnsRecord } from '../../src/records.js';
import { corpusDir, corpusEntries } from '../helpers/corpus.js';

interface ExpAnswer {
  name: string;
  type: string;
  ttl: number;
  data: unknown;
}
interface ExpDns {
  frame: number;
  proto: string;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  id: string;
  rcode: number;
  qname?: string | null;
  type?: string | null;
  answers: ExpAnswer[];
}
interface ExpSvcb {
  target: string;
  params: { ipv4hint?: string[]; ipv6hint?: string[]; ech?: { length: number } };
}

const dir = corpusDir();
const entries = (dir === undefined ? [] : corpusEntries(dir)).filter(
  (e) => ((e.expected['dns'] ?? []) as ExpDns[]).length > 0,
);

const addr = (a: string): string => canonicalAddr(a) ?? a;

function recordMatches(exp: ExpAnswer, got: DnsRecord): boolean {
  if (!['A', 'AAAA', 'CNAME', 'HTTPS', 'SVCB'].includes(exp.type)) return got.type === exp.type;
  if (got.name !== exp.name || got.type !== exp.type || got.ttl !== exp.ttl) return false;
  if (exp.type === 'A' || exp.type === 'AAAA') return got.data === addr(String(exp.data));
  if (exp.type === 'CNAME') return got.data === exp.data;
  if (exp.type === 'HTTPS' || exp.type === 'SVCB') {
    const s = exp.data as ExpSvcb;
    return (
      got.data === s.target &&
      JSON.stringify(got.ipv4hint ?? []) === JSON.stringify(s.params.ipv4hint ?? []) &&
      JSON.stringify(got.ipv6hint ?? []) === JSON.stringify((s.params.ipv6hint ?? []).map(addr)) &&
      got.ech === (s.params.ech !== undefined)
    );
  }
  return true;
}

describe.skipIf(dir === undefined)('DNS answers over the corpus', () => {
  it('covers the DNS captures, UDP and TCP', () => {
    expect(entries.length).toBeGreaterThanOrEqual(19);
    const tcp = entries.flatMap((e) => (e.expected['dns'] as ExpDns[]).filter((d) => d.proto === 'tcp'));
    expect(tcp.length).toBeGreaterThanOrEqual(20);
  });

  for (const e of entries) {
    it(e.name, async () => {
      const got: DnsAnswer[] = [];
      const counts = new Map<string, number>();
      const dissector = new Dissector(defaultDissectOptions, {
        onDns: (a) => got.push(a),
        makeDns: (deps) => new DnsDissector(deps),
      });
      await replayFile(e.pcap, { dissector });
      for (const [k, v] of Object.entries(dissector.stats())) counts.set(k, v);
      const used = new Set<DnsAnswer>();
      const problems: string[] = [];
      let unreadable = 0;
      for (const x of e.expected['dns'] as ExpDns[]) {
        if (x.qname === null) {
          unreadable++;
          continue;
        }
        const id = Number.parseInt(x.id, 16);
        const cands = got.filter(
          (a) =>
            !used.has(a) &&
            a.server === addr(x.src) &&
            a.client === addr(x.dst) &&
            a.id === id &&
            a.proto === x.proto,
        );
        const a = cands[0];
        if (a === undefined) {
          problems.push(`frame ${x.frame}: no answer ${x.src} -> ${x.dst} id ${x.id}`);
          continue;
        }
        used.add(a);
        if (a.rcode !== x.rcode) problems.push(`frame ${x.frame}: rcode ${a.rcode} != ${x.rcode}`);
        if (typeof x.qname === 'string' && !x.qname.startsWith('<') && a.qname !== x.qname) problems.push(`frame ${x.frame}: qname ${a.qname}`);
        if (typeof x.type === 'string' && a.qtype !== x.type) problems.push(`frame ${x.frame}: qtype ${a.qtype} != ${x.type}`);
        for (const ans of x.answers) {
          if (typeof ans.data === 'string' && ans.data.startsWith('<')) continue;
          if (!a.answers.some((r) => recordMatches(ans, r))) {
            problems.push(`frame ${x.frame}: missing ${ans.type} ${ans.name} ${JSON.stringify(ans.data)}`);
          }
        }
      }
      expect(problems).toEqual([]);
      let reasons = 0;
      for (const [k, v] of counts) if (k.startsWith('dns.')) reasons += v;
      expect(reasons).toBeGreaterThanOrEqual(unreadable);
      // Ports of the flow say UDP or TCP; the answer's server is the sender of the response.
      for (const a of got) expect(a.answers.length).toBeLessThanOrEqual(64);
    });
  }
});
