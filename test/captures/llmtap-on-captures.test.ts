/**
 * llmtap on the real-client captures of test/captures/<case>/ (made by scripts/captures/, with
 * tshark's view of the same file in expected.json): every ClientHello SNI and ALPN (TCP and
 * QUIC) on the same 5-tuple, every DNS response, per-direction packets/bytes of every flow —
 * and the AI classification of each destination, which the public corpus cannot show.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Classifier } from '../../src/classify/index.js';
import { canonicalAddr } from '../../src/decode/addr.js';
import { Dissector, defaultDissectOptions } from '../../src/dissect/index.js';
import { conversationTableOptions } from '../../src/flow/table.js';
import { configFromObject } from '../../src/config.js';
import { PassiveDns, passiveDnsOptionsFrom } from '../../src/names/passive-dns.js';
import { replayFile } from '../../src/pipeline.js';
import type { DnsAnswer, FlowRecord } from '../../src/records.js';
import { repoRoot, type ExpectedFlow as ExpFlow } from '../helpers/corpus.js';

/** What llm-endpoints.md says each destination is (category, provider) — the independent fact. */
const AI_HOSTS: Record<string, { category: string; provider: string }> = {
  'chatgpt.com': { category: 'assistant', provider: 'OpenAI' },
  'api.openai.com': { category: 'api', provider: 'OpenAI' },
  'api.anthropic.com': { category: 'api', provider: 'Anthropic' },
  'claude.ai': { category: 'assistant', provider: 'Anthropic' },
  'generativelanguage.googleapis.com': { category: 'api', provider: 'Google' },
};

interface ExpSni { proto: string; transport: string; src: string; sport: number; dst: string; dport: number; sni: string | null; alpn?: string[] }
interface ExpDns { qname: string; dst: string; answers: { type: string; data: unknown }[] }

const dir = join(repoRoot, 'test', 'captures');
const cases = existsSync(dir)
  ? readdirSync(dir).filter((c) => existsSync(join(dir, c, 'expected.json')))
  : [];
const classifier = Classifier.fromFiles({ rules: join(repoRoot, 'config', 'rules', 'default.yaml') });
const cfg = configFromObject({});

describe('real-client captures', () => {
  it('the committed cases are there', () => {
    expect(cases.length).toBeGreaterThanOrEqual(8);
  });

  for (const c of cases) {
    it(c, async () => {
      const exp = JSON.parse(readFileSync(join(dir, c, 'expected.json'), 'utf8')) as { capture: string; sni: ExpSni[]; dns: ExpDns[]; flows: ExpFlow[] };
      const answers: DnsAnswer[] = [];
      const names = new PassiveDns(passiveDnsOptionsFrom(cfg.names));
      const d = new Dissector(defaultDissectOptions, {
        onDns: (a) => {
          answers.push(a);
          names.addAnswer(a);
        },
      });
      const flows: FlowRecord[] = [];
      await replayFile(join(dir, c, exp.capture), {
        dissector: d,
        flow: conversationTableOptions,
        onFlow: (rec) => {
          names.nameFlow(rec);
          flows.push(rec);
        },
      });
      const byTuple = new Map<string, FlowRecord>();
      for (const f of flows) {
        const p = f.proto === 6 ? 'tcp' : 'udp';
        byTuple.set(`${p}|${f.origAddr}|${f.origPort}|${f.respAddr}|${f.respPort}`, f);
      }
      // flows: packets and bytes per direction
      for (const e of exp.flows) {
        const a = canonicalAddr(e.a)!;
        const b = canonicalAddr(e.b)!;
        const f = byTuple.get(`${e.proto}|${a}|${e.a_port}|${b}|${e.b_port}`) ?? byTuple.get(`${e.proto}|${b}|${e.b_port}|${a}|${e.a_port}`);
        expect(f, `${c}: flow ${e.a}:${e.a_port} ↔ ${e.b}:${e.b_port}`).toBeDefined();
        const aIsOrig = f!.origAddr === a && f!.origPort === e.a_port;
        const got = aIsOrig ? [f!.origPkts, f!.origWireBytes, f!.respPkts, f!.respWireBytes] : [f!.respPkts, f!.respWireBytes, f!.origPkts, f!.origWireBytes];
        expect(got).toEqual([e.frames_a_to_b, e.bytes_a_to_b, e.frames_b_to_a, e.bytes_b_to_a]);
      }
      // every ClientHello: SNI and ALPN on its 5-tuple, client = orig
      for (const s of exp.sni) {
        const f = byTuple.get(`${s.proto}|${canonicalAddr(s.src)}|${s.sport}|${canonicalAddr(s.dst)}|${s.dport}`);
        expect(f, `${c}: flow of the hello to ${s.dst}:${s.dport}`).toBeDefined();
        const hs = f!.handshake;
        expect(hs?.transport).toBe(s.transport === 'quic' ? 'quic' : 'tls');
        expect(hs?.sni ?? null).toBe(s.sni);
        if (s.alpn !== undefined) expect(hs?.alpn ?? []).toEqual(s.alpn);
        // classification of the named destination
        if (f!.host !== undefined && AI_HOSTS[f!.host] !== undefined) {
          const v = classifier.classify({ host: f!.host, port: f!.respPort });
          expect(v?.category).toBe(AI_HOSTS[f!.host]!.category);
          expect(v?.provider).toBe(AI_HOSTS[f!.host]!.provider);
        }
        if (s.sni === null) {
          // no SNI: passive DNS names the destination from this client's own answer
          const asked = exp.dns.filter((x) => canonicalAddr(x.dst) === canonicalAddr(s.src)).map((x) => x.qname);
          if (asked.length > 0) {
            expect(f!.hostSource).toBe('dns-client');
            expect(asked).toContain(f!.host);
          }
        } else {
          expect(f!.host).toBe(s.sni);
          expect(f!.hostSource).toBe(s.transport === 'quic' ? 'quic-sni' : 'sni');
        }
      }
      // every DNS response, with its question
      expect(answers.length).toBe(exp.dns.length);
      expect(answers.map((a) => a.qname).sort()).toEqual(exp.dns.map((x) => x.qname.toLowerCase()).sort());
    });
  }
});
