/** Helpers to replay corpus captures through decode → flow → dissect for the tests. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { replayFile } from '../../src/pipeline.js';
import { Dissector, defaultDissectOptions } from '../../src/dissect/index.js';
import type { DissectOptions } from '../../src/dissect/index.js';
import type { FlowRecord, Handshake } from '../../src/records.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const corpusDir = resolve(repoRoot, process.env['LLMTAP_CORPUS'] ?? join('..', 'shared', 'corpus'));
export const haveCorpus = existsSync(join(corpusDir, 'MANIFEST.tsv'));
/** In CI a missing corpus is a failure, elsewhere the corpus tests are skipped. */
export const mustHaveCorpus = process.env['CI'] === 'true';

export interface ExpectedSni {
  proto: string;
  transport: string;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  sni: string | null;
  alpn?: string[];
  legacy_version?: string;
  supported_versions?: string[];
  ech?: boolean;
  esni?: boolean;
}

export interface NdpiFlow {
  proto?: string;
  src?: string;
  sport?: number;
  dst?: string;
  dport?: number;
  ja4?: string;
  [k: string]: unknown;
}

export interface Expected {
  capture: string;
  sni: ExpectedSni[];
  ndpi?: { flows: NdpiFlow[] };
}

export function loadExpected(name: string): Expected {
  return JSON.parse(readFileSync(join(corpusDir, 'expected', `${name}.json`), 'utf8')) as Expected;
}

export interface Replayed {
  flows: { rec: FlowRecord; hs: Handshake | undefined; entropy: number | undefined }[];
  stats: Record<string, number>;
  dnsAnswers: number;
}

export async function replay(capture: string, opts: Partial<DissectOptions> = {}): Promise<Replayed> {
  let dnsAnswers = 0;
  const d = new Dissector({ ...defaultDissectOptions, ...opts }, { onDns: () => void dnsAnswers++ });
  const flows: Replayed['flows'] = [];
  await replayFile(join(corpusDir, 'pcaps', capture), {
    dissector: d,
    onFlow: (rec, meta) => flows.push({ rec, hs: meta.handshake, entropy: meta.payloadEntropy }),
  });
  return { flows, stats: d.stats(), dnsAnswers };
}

/** Canonical IPv6 text for comparisons ("::1" forms); IPv4 unchanged. */
export function canon(a: string): string {
  if (!a.includes(':')) return a;
  const [head = '', tail = ''] = a.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : a.includes('::') ? tail.split(':') : [];
  const full = a.includes('::') ? [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t] : a.split(':');
  return full.map((x) => parseInt(x, 16).toString(16)).join(':');
}

export function findFlow(r: Replayed, e: { src: string; sport: number; dst: string; dport: number }, proto = 6) {
  return r.flows.find(
    (f) =>
      f.rec.proto === proto &&
      ((canon(f.rec.origAddr) === canon(e.src) && f.rec.origPort === e.sport && canon(f.rec.respAddr) === canon(e.dst) && f.rec.respPort === e.dport) ||
        (canon(f.rec.respAddr) === canon(e.src) && f.rec.respPort === e.sport && canon(f.rec.origAddr) === canon(e.dst) && f.rec.origPort === e.dport)),
  );
}
