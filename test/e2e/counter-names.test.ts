/**
 * Every counter name the decoder and the dissectors count is declared in their reasons files,
 * and every declared name is counted somewhere. The `count` functions are typed by the declared
 * unions, so the compiler already refuses an undeclared name passed directly; this scan also
 * catches a name spelled as a plain string on its way there (a parser's failure reason, a
 * sentinel), and a declaration nothing counts any more.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DECODE_COUNTERS, DECODE_REASONS, MALFORMED } from '../../src/decode/reasons.js';
import { DNS_REASONS } from '../../src/dissect/dns/reasons.js';
import { QUIC_REASONS } from '../../src/dissect/quic/reasons.js';
import { DISSECT_COUNTERS, DISSECT_REASONS, TLS_REASONS } from '../../src/dissect/reasons.js';
import { STAGE_COUNTERS } from '../../src/sensor/counters.js';
import { repoRoot } from '../helpers/corpus.js';

const SRC = join(repoRoot, 'src');
const STAGES = ['decode', 'dissect'];
/** A counter-like literal: `<layer>.<snake_case>` for the layers of these two stages. */
const NAME = /['"`]((?:decode|dissect|tls|quic|gquic|dns)\.[a-z0-9_]+)['"`]/g;
/** The declaration files themselves (their names are the declarations, not uses). */
const DECLARATIONS = new Set(['decode/reasons.ts', 'dissect/reasons.ts', 'dissect/quic/reasons.ts', 'dissect/dns/reasons.ts']);

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Source text of the two stages' files outside the declarations, by src-relative path. */
const sources = new Map<string, string>();
for (const s of STAGES)
  for (const f of tsFiles(join(SRC, s))) {
    const rel = relative(SRC, f).split(sep).join('/');
    if (!DECLARATIONS.has(rel)) sources.set(rel, readFileSync(f, 'utf8'));
  }

const declared = new Set<string>([...DECODE_REASONS, ...Object.values(TLS_REASONS), ...Object.values(DISSECT_REASONS), ...QUIC_REASONS, ...DNS_REASONS]);

describe('counter names of decode and dissect', () => {
  it('the scan reads the stages (and would see a stray name)', () => {
    expect(sources.size).toBeGreaterThan(20);
    expect([...'x = "quic.made_up"; y(\'tls.hello_parsed\')'.matchAll(NAME)].map((m) => m[1])).toEqual(['quic.made_up', 'tls.hello_parsed']);
  });

  it('every name spelled in the code is declared', () => {
    const stray: string[] = [];
    for (const [file, text] of sources) for (const m of text.matchAll(NAME)) if (!declared.has(m[1] ?? '')) stray.push(`${file}: ${m[1]}`);
    expect(stray).toEqual([]);
  });

  it('every declared name is counted somewhere (by its literal or its constant)', () => {
    const all = [...sources.values()].join('\n');
    const uses = (name: string, constant?: string): boolean =>
      all.includes(`'${name}'`) || (constant !== undefined && new RegExp(`\\b${constant.replace('.', '\\.')}\\b`).test(all));
    const unused: string[] = [];
    for (const r of DECODE_REASONS) if (!uses(r)) unused.push(r);
    for (const r of [...QUIC_REASONS, ...DNS_REASONS]) if (!uses(r)) unused.push(r);
    for (const [k, r] of Object.entries(TLS_REASONS)) if (!uses(r, `R.${k}`)) unused.push(r);
    for (const [k, r] of Object.entries(DISSECT_REASONS)) if (!uses(r, `D.${k}`)) unused.push(r);
    expect(unused).toEqual([]);
  });

  it('names are unique across the declarations', () => {
    const list = [...DECODE_REASONS, ...Object.values(TLS_REASONS), ...Object.values(DISSECT_REASONS), ...QUIC_REASONS, ...DNS_REASONS];
    expect(list.length).toBe(declared.size);
  });

  it('the decode summary’s malformed set is the reasons declared as failures', () => {
    expect([...MALFORMED].sort()).toEqual(DECODE_COUNTERS.filter((c) => c.kind === 'failure').map((c) => c.name).sort());
    expect([...MALFORMED].sort()).toEqual([
      'decode.icmp_truncated',
      'decode.ipv4_bad_header',
      'decode.ipv4_length_exceeds_frame',
      'decode.ipv4_truncated',
      'decode.ipv6_ext_truncated',
      'decode.ipv6_truncated',
      'decode.link_truncated',
      'decode.sctp_truncated',
      'decode.tcp_bad_offset',
      'decode.tcp_truncated',
      'decode.tunnel_truncated',
      'decode.udp_truncated',
      'decode.vlan_truncated',
    ]);
  });

  it('every dissect counter has a kind and a doc; the ones that are not failures are these', () => {
    const dissect = [...Object.values(TLS_REASONS), ...Object.values(DISSECT_REASONS), ...QUIC_REASONS, ...DNS_REASONS];
    expect(Object.keys(DISSECT_COUNTERS).sort()).toEqual([...dissect].sort());
    const notFailures = Object.entries(DISSECT_COUNTERS).filter(([, d]) => d.kind !== 'failure').map(([n, d]) => `${n}:${d.kind}`).sort();
    expect(notFailures).toEqual([
      'dissect.bypass_other:outcome',
      'dissect.quic_candidate:outcome',
      'gquic.hello_parsed:outcome',
      'quic.decrypted:outcome',
      'quic.hello_parsed:outcome',
      'quic.not_quic:outcome',
      'tls.after_plaintext:note',
      'tls.hello_duplicate:note',
      'tls.hello_multi_record:note',
      'tls.hello_multi_segment:note',
      'tls.hello_parsed:outcome',
      'tls.not_tls:outcome',
      'tls.retransmit:note',
      'tls.sslv2_hello:note',
    ]);
    expect(Object.entries(DISSECT_COUNTERS).filter(([, d]) => d.doc.length < 10).map(([n]) => n)).toEqual([]);
  });
});

/** Every `.ts` file of src/ outside the counter declarations (and src/counters.ts, whose familyKey fills family names in). */
const allSources = new Map<string, string>();
for (const f of tsFiles(SRC)) {
  const rel = relative(SRC, f).split(sep).join('/');
  if (!/(^|\/)(reasons|counters)\.ts$/.test(rel)) allSources.set(rel, readFileSync(f, 'utf8'));
}
/** A template literal or a concatenation that starts with a fixed `<word>.` or `<word>_` prefix and goes on with a value. */
const BUILT = /`([a-z][a-z0-9_.]*[._])\$\{|['"]([a-z][a-z0-9_.]*[._])['"]\s*\+/g;

/** Prefixes from which a declared counter name (of any stage) could be built. */
function buildsCounter(prefix: string): boolean {
  return STAGE_COUNTERS.some((s) => Object.keys(s.decls).some((n) => n.startsWith(prefix)));
}

describe('no counter name built outside its declaration', () => {
  it('the scan sees a built name (and a harmless one)', () => {
    const found = [...'count(`alerts.${h}.${s}`); x = "verdicts_" + c; y = `tenants.${id}`'.matchAll(BUILT)].map((m) => m[1] ?? m[2] ?? '');
    expect(found).toEqual(['alerts.', 'verdicts_', 'tenants.']);
    expect(found.filter(buildsCounter)).toEqual(['alerts.', 'verdicts_']);
  });

  it('no file of src/ builds a declared counter name by concatenation (familyKey fills a family in)', () => {
    const built: string[] = [];
    for (const [file, text] of allSources)
      for (const m of text.matchAll(BUILT)) {
        const prefix = m[1] ?? m[2] ?? '';
        if (buildsCounter(prefix)) built.push(`${file}: ${m[0]}`);
      }
    expect(allSources.size).toBeGreaterThan(100);
    expect(built).toEqual([]);
  });
});

describe('every declared counter of the later stages is counted somewhere', () => {
  it('its name (or family pattern) is spelled outside the declarations', () => {
    const all = [...allSources.values()].join('\n');
    const spelled = (name: string): boolean => all.includes(`'${name}'`) || new RegExp(`[{,]\\s*${name.replace(/[.]/g, '\\.')}:`).test(all);
    const unused: string[] = [];
    for (const { stage, decls } of STAGE_COUNTERS) {
      if (stage === 'decode' || stage === 'dissect') continue; // above, by their constants too
      for (const name of Object.keys(decls)) {
        // the per-format connection checks are one table (CONNECTION_REASON), filled in by familyKey
        if (stage === 'edr' && /\.(no_device|bad_time|bad_transport)$/.test(name)) continue;
        if (!spelled(name)) unused.push(`${stage}: ${name}`);
      }
    }
    expect(unused).toEqual([]);
  });
});
