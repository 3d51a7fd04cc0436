import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { RuleFile } from '../../src/classify/load.js';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const DEFAULT_RULES = join(REPO, 'config/rules/default.yaml');
export const CORPUS = process.env['LLMTAP_CORPUS'] ?? resolve(REPO, '../shared/corpus');

export function defaultRuleFile(): RuleFile {
  return parse(readFileSync(DEFAULT_RULES, 'utf8')) as RuleFile;
}

/** Whether corpus tests run: missing corpus skips locally, fails in CI. */
export function corpusAvailable(): boolean {
  const ok = existsSync(join(CORPUS, 'expected'));
  if (!ok && process.env['CI'] === 'true') throw new Error(`corpus not found at ${CORPUS}`);
  return ok;
}

export interface CorpusNames {
  files: number;
  sni: string[];
  dns: string[];
  http: string[];
}

interface Expected {
  sni?: Array<{ sni: string | null }>;
  gquic_sni?: Array<{ sni?: string | null }>;
  dns?: Array<{ qname?: string; questions?: Array<{ qname?: string }>; answers?: Array<{ name?: string; type?: string; data?: unknown }> }>;
  http_requests?: Array<{ host?: string | null }>;
  ndpi?: { flows?: Array<{ hostname?: string | null }> };
}

/** Every SNI, DNS name (questions, answer owners, CNAME/HTTPS targets) and HTTP Host in the corpus. */
export function corpusNames(): CorpusNames {
  const dir = join(CORPUS, 'expected');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  const sni = new Set<string>();
  const dns = new Set<string>();
  const http = new Set<string>();
  for (const f of files) {
    const d = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Expected;
    for (const s of d.sni ?? []) if (s.sni) sni.add(s.sni);
    for (const s of d.gquic_sni ?? []) if (s.sni) sni.add(s.sni);
    for (const fl of d.ndpi?.flows ?? []) if (fl.hostname) sni.add(fl.hostname);
    for (const r of d.dns ?? []) {
      if (r.qname) dns.add(r.qname);
      for (const q of r.questions ?? []) if (q.qname) dns.add(q.qname);
      for (const a of r.answers ?? []) {
        if (a.name) dns.add(a.name);
        if (a.type === 'CNAME' && typeof a.data === 'string') dns.add(a.data);
        const target = (a.data as { target?: unknown } | null)?.target;
        if (typeof target === 'string') dns.add(target);
      }
    }
    for (const h of d.http_requests ?? []) if (h.host) http.add(h.host);
  }
  return { files: files.length, sni: [...sni], dns: [...dns], http: [...http] };
}
