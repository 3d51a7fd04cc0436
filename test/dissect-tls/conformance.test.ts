/**
 * Conformance over the public corpus: every TCP ClientHello listed in `expected/*.json`
 * (tshark-derived) is found on the same 5-tuple with the same SNI, ALPN and versions, and JA4
 * equals nDPI's value for the same flow where nDPI printed one.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { corpusDir, findFlow, haveCorpus, loadExpected, mustHaveCorpus, replay } from './corpus.js';
import type { Expected } from './corpus.js';

const run = haveCorpus || mustHaveCorpus;

function tlsCaptures(): Expected[] {
  if (!haveCorpus) return [];
  return readdirSync(join(corpusDir, 'expected'))
    .filter((f) => f.endsWith('.json'))
    .map((f) => loadExpected(f.replace(/\.json$/, '')))
    .filter((e) => e.sni.some((s) => s.transport === 'tls') || (e.ndpi?.flows ?? []).some((f) => f.ja4?.startsWith('t')));
}

/**
 * nDPI hashes an empty extension list as sha256("") (e3b0c44298fc); the JA4 specification
 * (and this implementation) print 000000000000 for an empty list. Flows where this is the
 * only difference are compared with that part normalised.
 */
function normaliseEmpty(ja4: string): string {
  return ja4.replace(/_e3b0c44298fc$/, '_000000000000');
}

/**
 * Two JA4_a characters where the nDPI build that produced the corpus results departs from the
 * specification, so they are masked in the comparison with nDPI and checked against the
 * specification instead:
 * - ALPN (characters 8–9): nDPI prints the first two characters of the first ALPN value
 *   ("ht" for http/1.1); the specification says first and last ("h1").
 * - SNI flag (character 3): nDPI prints `d` when it knows a host name for the flow from any
 *   source (DNS included) and `i` for an IP-literal SNI; the specification says `d` exactly when
 *   the server_name extension is present.
 */
function maskA(ja4: string): string {
  return `${ja4.slice(0, 3)}?${ja4.slice(4, 8)}??${ja4.slice(10)}`;
}

function specAlpn(first: string | undefined): string {
  if (first === undefined || first.length === 0) return '00';
  const a = first.charCodeAt(0);
  const z = first.charCodeAt(first.length - 1);
  const alnum = (c: number): boolean => /[0-9A-Za-z]/.test(String.fromCharCode(c));
  if (alnum(a) && alnum(z)) return first[0]! + first[first.length - 1]!;
  const h = Buffer.from(first, 'latin1').toString('hex');
  return h[0]! + h[h.length - 1]!;
}

describe.runIf(run)('TLS conformance over the corpus', () => {
  test('corpus present', () => {
    expect(haveCorpus).toBe(true);
  });

  for (const e of tlsCaptures()) {
    test(e.capture, async () => {
      const r = await replay(e.capture);
      const tls = e.sni.filter((s) => s.transport === 'tls');
      const firstOfFlow = new Map<unknown, (typeof tls)[number][]>();
      for (const s of tls) {
        const f = findFlow(r, s);
        expect(f, `flow ${s.src}:${s.sport} → ${s.dst}:${s.dport}`).toBeDefined();
        if (f === undefined) continue;
        const list = firstOfFlow.get(f) ?? [];
        list.push(s);
        firstOfFlow.set(f, list);
      }
      for (const [fv, entries] of firstOfFlow) {
        const f = fv as NonNullable<ReturnType<typeof findFlow>>;
        const first = entries[0]!;
        const where = `${first.src}:${first.sport}`;
        if (first.sni === null && f.hs === undefined) continue; // malformed hello without SNI: nothing reported
        expect(f.hs, where).toBeDefined();
        const hs = f.hs!;
        expect(hs.sni ?? null, where).toBe(first.sni);
        expect(hs.alpn ?? [], where).toEqual(first.alpn ?? []);
        if (first.legacy_version !== undefined) expect(hs.legacyVersion, where).toBe(first.legacy_version);
        const sv = (first.supported_versions ?? []).filter((v) => !/^0x([0-9a-f])a\1a$/.test(v));
        expect(hs.tlsVersions ?? [], where).toEqual(sv);
        expect(hs.ech !== undefined, where).toBe(first.ech === true);
        expect(hs.esni ?? false, where).toBe(first.esni === true);
        // Duplicate hellos in one flow (tshark lists each) are counted.
        expect(hs.hellos, where).toBe(entries.length);
        for (const other of entries.slice(1)) {
          if (other.sni !== null && other.sni !== first.sni) expect(hs.sniAll ?? [], where).toContain(other.sni);
        }
      }
      for (const nf of e.ndpi?.flows ?? []) {
        if (nf.ja4 === undefined || !nf.ja4.startsWith('t') || nf.src === undefined) continue;
        const f = findFlow(r, { src: nf.src, sport: nf.sport ?? 0, dst: nf.dst ?? '', dport: nf.dport ?? 0 });
        expect(f?.hs?.ja4, `ja4 ${nf.src}:${nf.sport}`).toBeDefined();
        const ours = f!.hs!.ja4!;
        expect(maskA(normaliseEmpty(ours))).toBe(maskA(normaliseEmpty(nf.ja4)));
        if (f!.hs!.sni !== undefined) expect(ours[3]).toBe('d');
        expect(ours.slice(8, 10)).toBe(specAlpn(f!.hs!.alpn?.[0]));
      }
    });
  }

  test('router: DNS responses go to the DNS dissector, TLS found on a non-443 port by content', async () => {
    const dns = loadExpected('arkime-curl-tls13');
    const r = await replay(dns.capture);
    expect(r.dnsAnswers).toBeGreaterThan(0);
    const psql = await replay('zeek-psql-tls-15432.pcap');
    expect(psql.flows.some((f) => f.rec.respPort === 15432 && f.hs?.sni !== undefined)).toBe(true);
  });

  test('ECH: a real outer hello (public name) vs Chromium GREASE ECH', async () => {
    const ech = async (c: string): Promise<(string | undefined)[]> =>
      (await replay(c)).flows.filter((f) => f.hs?.transport === 'tls').map((f) => f.hs?.ech);
    expect(await ech('zeek-tls13-ech.pcap')).toEqual(['real', 'real']);
    expect(await ech('arkime-tls-split-ch-mlkem.pcap')).toEqual(['grease']);
    expect(await ech('zeek-chrome-x25519-kyber.pcap')).toEqual(['grease']);
    // Labelled "Encrypted Client Hello" in the corpus, but its SNI is the destination and the
    // extension has a GREASE size (payload 208): by the documented rule it is GREASE.
    expect(await ech('ndpi-tls-ech-ipv6.pcapng')).toEqual(['grease']);
  });

  test('ndpi-tls-missing-ch-frag: a missing hello segment gives no SNI and a counted gap', async () => {
    const r = await replay('ndpi-tls-missing-ch-frag.pcap');
    const tcp = r.flows.filter((f) => f.rec.proto === 6);
    expect(tcp.length).toBeGreaterThan(0);
    for (const f of tcp) expect(f.hs?.sni).toBeUndefined();
    expect(r.stats['tls.gap']).toBe(1);
    expect(r.stats['tls.hello_parsed'] ?? 0).toBe(0);
  });
});
