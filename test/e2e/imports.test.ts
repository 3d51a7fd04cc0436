/**
 * Forward-only imports (STYLE.md §1): a stage folder imports the shared contract files, the
 * decode helpers listed below and its own files; only the wiring (pipeline.ts,
 * pipeline-names.ts, cli/) sees several stages. Every `import`/`export … from` and dynamic
 * `import()` of `src/**\/*.ts` is checked. Today's exceptions are listed one by one with the
 * reason; a new cross-stage import fails, and so does an exception that no longer exists (so
 * the list only shrinks).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/corpus.js';

const SRC = join(repoRoot, 'src');

/** Pipeline order (DESIGN.md): a stage may never import a later one. */
const STAGES = ['source', 'decode', 'flow', 'dissect', 'names', 'attribute', 'classify', 'detect', 'store', 'api'] as const;

/** Files every stage may import, and why. */
const SHARED: Record<string, string> = {
  'records.ts': 'the records between stages: the contract every stage codes against',
  'metrics.ts': 'metric and drop-reason names, defined once',
  'config.ts': 'sensor config types and defaults',
  'errors.ts': 'coded LLMTAP_ERR_* errors, declared once',
};

/** Further allowed edges: stage → file of an earlier stage, with the reason. */
const EDGES: Array<{ from: readonly string[]; to: string; why: string }> = [
  { from: ['flow', 'dissect'], to: 'decode/view.ts', why: 'the borrowed PacketView (and its TCP flag constants) handed along the packet path' },
  { from: ['flow', 'dissect'], to: 'decode/addr.ts', why: 'address bytes → text, one implementation for flow keys and DNS answers' },
  { from: ['flow', 'dissect'], to: 'decode/bytes.ts', why: 'bounds-checked big-endian readers' },
];

/** Files that wire stages together and may import any of them. */
const WIRING = /^(pipeline\.ts|pipeline-names\.ts|cli\/.+)$/;

/**
 * Today's violations, kept visible. Remove an entry when the import goes away (the test says
 * so). Reasons are what the code does, not an endorsement.
 */
const EXCEPTIONS: Array<{ from: string; to: string; why: string }> = [
  { from: 'config.ts', to: 'detect/tenants.ts', why: 'config validates the `tenants` section with the detect stage\'s parser, so every stage importing config.ts pulls detect in' },
  { from: 'detect/detector.ts', to: 'store/store.ts', why: 'type only: the detector is handed the Store (later stage) instead of an interface of its own' },
  { from: 'detect/rule.ts', to: 'store/store.ts', why: 'type only: rule contexts take the Store' },
  { from: 'detect/dedup.ts', to: 'store/store.ts', why: 'type only: dedup reads open alerts from the Store' },
  { from: 'detect/dedup.ts', to: 'store/alerts.ts', why: 'value: the alert dedup key function lives in store; detect calls it (should move to detect or records)' },
];

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const STATIC = /^\s*(?:import|export)\s[^;]*?\bfrom\s*['"]([^'"]+)['"]/gm;
const BARE = /^\s*import\s*['"]([^'"]+)['"]/gm;
const DYNAMIC = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Relative module specifiers of a source text (package imports are not this test's business). */
export function relativeImports(text: string): string[] {
  const out: string[] = [];
  for (const re of [STATIC, BARE, DYNAMIC]) for (const m of text.matchAll(re)) if (m[1]?.startsWith('.')) out.push(m[1]);
  return out;
}

interface Edge {
  from: string;
  to: string;
}

/** Every relative import edge, as src-relative POSIX paths with the `.ts` source extension. */
function edges(): Edge[] {
  const out: Edge[] = [];
  for (const f of tsFiles(SRC)) {
    const from = relative(SRC, f).split(sep).join('/');
    for (const spec of relativeImports(readFileSync(f, 'utf8'))) {
      const to = posix.normalize(posix.join(posix.dirname(from), spec)).replace(/\.js$/, '.ts');
      out.push({ from, to });
    }
  }
  return out;
}

const stageOf = (p: string): string | undefined => (p.includes('/') ? p.slice(0, p.indexOf('/')) : undefined);

/** Why an edge is allowed, or undefined when it is not. */
function allowedBy(e: Edge): string | undefined {
  if (WIRING.test(e.from)) return 'wiring';
  const a = stageOf(e.from);
  const b = stageOf(e.to);
  if (a !== undefined && a === b) return 'own files';
  if (b === undefined && SHARED[e.to] !== undefined) return 'shared';
  if (a !== undefined && EDGES.some((x) => x.to === e.to && x.from.includes(a))) return 'edge table';
  return undefined;
}

describe('imports: forward-only (STYLE.md §1)', () => {
  const all = edges();

  it('the scan sees the real import graph', () => {
    // Multi-line, type-only, re-export and dynamic imports are all picked up.
    expect(relativeImports("import {\n  a,\n  type B,\n} from './x.js';\nexport { c } from '../y.js';\nconst m = await import('./z.js');\nimport './side.js';")).toEqual(['./x.js', '../y.js', './side.js', './z.js']);
    expect(all.length).toBeGreaterThan(200);
    expect(all).toContainEqual({ from: 'pipeline.ts', to: 'flow/table.ts' });
    expect(all).toContainEqual({ from: 'cli/main.ts', to: 'cli/replay.ts' });
    // Every edge points at a file that exists, so a resolution slip cannot hide a violation.
    const files = new Set(tsFiles(SRC).map((f) => relative(SRC, f).split(sep).join('/')));
    expect(all.filter((e) => !files.has(e.to))).toEqual([]);
    for (const s of STAGES) expect(files.has(s) || [...files].some((f) => f.startsWith(`${s}/`)), s).toBe(true);
  });

  it('a stage imports only its own files, the shared files and the listed decode helpers', () => {
    // The rule itself rejects planted edges: a later stage, an earlier stage's internals, a
    // decode helper from a stage before decode, a stage reaching into the wiring.
    for (const bad of [
      { from: 'flow/table.ts', to: 'attribute/join.ts' },
      { from: 'dissect/index.ts', to: 'decode/decoder.ts' },
      { from: 'source/file.ts', to: 'decode/view.ts' },
      { from: 'store/store.ts', to: 'pipeline.ts' },
    ]) expect(allowedBy(bad), `${bad.from} → ${bad.to}`).toBeUndefined();
    const isException = (e: Edge): boolean => EXCEPTIONS.some((x) => x.from === e.from && x.to === e.to);
    const violations = all.filter((e) => allowedBy(e) === undefined && !isException(e)).map((e) => `${e.from} → ${e.to}`);
    expect(violations).toEqual([]);
  });

  it('no stage imports a later stage, the wiring or the CLI (outside the listed exceptions)', () => {
    const later = all.filter((e) => {
      const a = stageOf(e.from);
      const b = stageOf(e.to);
      if (a === undefined || WIRING.test(e.from)) return false;
      if (WIRING.test(e.to)) return true;
      const ia = STAGES.indexOf(a as (typeof STAGES)[number]);
      const ib = b === undefined ? -1 : STAGES.indexOf(b as (typeof STAGES)[number]);
      return ib > ia && !EXCEPTIONS.some((x) => x.from === e.from && x.to === e.to);
    });
    expect(later.map((e) => `${e.from} → ${e.to}`)).toEqual([]);
  });

  it('every listed exception still exists (remove fixed ones)', () => {
    const stale = EXCEPTIONS.filter((x) => !all.some((e) => e.from === x.from && e.to === x.to)).map((x) => `${x.from} → ${x.to}`);
    expect(stale).toEqual([]);
    // And every exception is really outside the rule (else it does not belong here).
    expect(EXCEPTIONS.filter((x) => allowedBy(x) !== undefined)).toEqual([]);
  });

  it('the shared files and the edge table name files that exist', () => {
    for (const f of [...Object.keys(SHARED), ...EDGES.map((e) => e.to)]) expect(all.some((e) => e.to === f), f).toBe(true);
    expect(dirname(SRC)).toBe(repoRoot);
  });
});
