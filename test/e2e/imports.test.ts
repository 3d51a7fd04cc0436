/**
 * Forward-only imports (docs/architecture.md, Imports): a stage folder imports the shared contract files (and the
 * shared `tenants/` folder), the earlier-stage files of the edge table below and its own files;
 * only the wiring (pipeline.ts, cli/) sees several stages. Every
 * `import`/`export … from` and dynamic `import()` of `src/**\/*.ts` is checked. Exceptions, if
 * any, are listed one by one with the reason; a new cross-stage import fails, and so does an
 * exception that no longer exists (so the list only shrinks).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/corpus.js';

const SRC = join(repoRoot, 'src');

/** Pipeline order (docs/architecture.md): a stage may never import a later one. */
const STAGES = ['source', 'decode', 'flow', 'dissect', 'names', 'attribute', 'classify', 'detect', 'store', 'api', 'output'] as const;

/** Files (or, ending in `/`, folders) every stage may import, and why. A shared folder is not a
 * stage: its files import each other and the shared files, never a stage. */
const SHARED: Record<string, string> = {
  'records.ts': 'the records between stages: the contract every stage codes against',
  'metrics.ts': 'metric and drop-reason names, defined once',
  'counters.ts': 'the stage counter contract (kind, declaration, families, series), free of dependencies so the packet path does not load prom-client',
  'config.ts': 'sensor config types and defaults',
  'errors.ts': 'coded LLMTAP_ERR_* errors, declared once',
  'version.ts': 'the package version, read once (CLI, API, OCSF metadata)',
  'log.ts': 'the service logger (JSON lines, or readable on a terminal) and its audit lines, set up once',
  'bounded/': 'bounded containers with O(1) insert and eviction (the ring-buffer queue), used by every stage that keeps state',
  'tenants/': 'tenant config (schema, defaults, validation, resolver, address ranges): validated with the config, applied by detect',
};

const isShared = (p: string): boolean =>
  p.includes('/') ? Object.keys(SHARED).some((k) => k.endsWith('/') && p.startsWith(k)) : SHARED[p] !== undefined;

/** Further allowed edges: stage → file of an earlier stage, with the reason. */
const EDGES: Array<{ from: readonly string[]; to: string; why: string }> = [
  { from: ['flow', 'dissect'], to: 'decode/view.ts', why: 'the borrowed PacketView (and its TCP flag constants) handed along the packet path' },
  { from: ['flow', 'dissect'], to: 'decode/addr.ts', why: 'address bytes → text, one implementation for flow keys and DNS answers' },
  { from: ['flow', 'dissect'], to: 'decode/bytes.ts', why: 'bounds-checked big-endian readers' },
  { from: ['flow'], to: 'decode/icmp.ts', why: 'the ICMP request/reply type pairs the decoder keys flows by decide which flows are one-way for the Community ID' },
  { from: ['attribute'], to: 'flow/community-id.ts', why: 'a flow observation\'s id is made of its record\'s Community ID, which the pipeline\'s flow table leaves to be computed when a record is kept or leaves (communityIdOf)' },
  { from: ['detect'], to: 'attribute/normalize.ts', why: 'the scope of an address (a loopback client address names no device), one implementation for the join and detection' },
  { from: ['store'], to: 'detect/alert-key.ts', why: 'detect defines which alerts are the same; the store computes that key only for alerts written without one' },
  { from: ['store'], to: 'detect/sink.ts', why: 'the store implements what detect asks of it; the argument shapes are declared once, by detect' },
  { from: ['output'], to: 'api/ocsf.ts', why: 'push outputs send the same OCSF findings the API serves: one mapping' },
  { from: ['api'], to: 'store/types.ts', why: 'the API serves the store rows (allowlist, candidates, observations); the response schemas choose which fields leave' },
];

/** Files that wire stages together and may import any of them: the pipeline, the capture
 * workers running its packet path on threads, the fleet parts over it (publisher, hub
 * consumer), the sensor assembly over those and the commands over all (each layer imports only
 * the ones before it). */
const WIRING = /^(pipeline\.ts|workers\/.+|fleet\/.+|sensor\/.+|cli\/.+)$/;
const LAYERS = [/^pipeline\.ts$/, /^workers\//, /^fleet\//, /^sensor\//, /^cli\//] as const;
const layerOf = (p: string): number => LAYERS.findIndex((re) => re.test(p));

/**
 * Today's violations, kept visible. Remove an entry when the import goes away (the test says
 * so). Reasons are what the code does, not an endorsement. None today: config and detect share
 * `tenants/`, detect talks to the store through its own `DetectStore` interface and owns the
 * alert dedup key.
 */
const EXCEPTIONS: Array<{ from: string; to: string; why: string }> = [];

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
  if (isShared(e.to)) return 'shared';
  if (a !== undefined && EDGES.some((x) => x.to === e.to && x.from.includes(a))) return 'edge table';
  return undefined;
}

/**
 * Import circles: the strongly connected components of more than one file (Tarjan), each
 * sorted, and every file that imports itself. Type-only imports count too: a circle of types
 * is still two files that cannot be understood (or moved) apart.
 */
export function circles(graph: readonly Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of graph) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  let n = 0;
  const visit = (v: string): void => {
    index.set(v, n);
    low.set(v, n);
    n++;
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w === undefined) break;
        onStack.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1 || (next.get(v) ?? []).includes(v)) out.push(c.sort());
    }
  };
  for (const v of [...next.keys()].sort()) if (!index.has(v)) visit(v);
  return out.sort((a, b) => (a[0] ?? '').localeCompare(b[0] ?? ''));
}

describe('imports: forward-only (docs/architecture.md, Imports)', () => {
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
      { from: 'config.ts', to: 'detect/detector.ts' },
      { from: 'tenants/schema.ts', to: 'detect/rule.ts' },
      { from: 'detect/dedup.ts', to: 'store/store.ts' },
    ]) expect(allowedBy(bad), `${bad.from} → ${bad.to}`).toBeUndefined();
    // A shared folder's files are shared; a stage's files are not, however they are named.
    expect(allowedBy({ from: 'detect/detector.ts', to: 'tenants/resolver.ts' })).toBe('shared');
    expect(allowedBy({ from: 'detect/detector.ts', to: 'store/tenants/x.ts' })).toBeUndefined();
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

  it('the wiring is layered: pipeline → fleet parts → sensor assembly → commands, never backwards', () => {
    expect(all).toContainEqual({ from: 'cli/replay.ts', to: 'cli/batch.ts' });
    expect(all).toContainEqual({ from: 'cli/batch.ts', to: 'sensor/index.ts' });
    const back = all.filter((e) => layerOf(e.from) >= 0 && layerOf(e.to) > layerOf(e.from));
    expect(back.map((e) => `${e.from} → ${e.to}`)).toEqual([]);
  });

  it('every listed exception still exists (remove fixed ones)', () => {
    const stale = EXCEPTIONS.filter((x) => !all.some((e) => e.from === x.from && e.to === x.to)).map((x) => `${x.from} → ${x.to}`);
    expect(stale).toEqual([]);
    // And every exception is really outside the rule (else it does not belong here).
    expect(EXCEPTIONS.filter((x) => allowedBy(x) !== undefined)).toEqual([]);
  });

  it('the edge table only lets a stage use a file of an earlier stage', () => {
    const idx = (s: string | undefined): number => STAGES.indexOf(s as (typeof STAGES)[number]);
    for (const x of EDGES) {
      const to = idx(stageOf(x.to));
      expect(to, x.to).toBeGreaterThanOrEqual(0);
      for (const f of x.from) expect(idx(f), `${f} → ${x.to}`).toBeGreaterThan(to);
    }
  });

  it('the shared files and the edge table name files that exist', () => {
    for (const f of [...Object.keys(SHARED), ...EDGES.map((e) => e.to)]) expect(all.some((e) => e.to === f || (f.endsWith('/') && e.to.startsWith(f))), f).toBe(true);
    expect(dirname(SRC)).toBe(repoRoot);
  });
  it('no import circle within src/ (type-only imports included)', () => {
    // The finder itself sees planted circles: two files, three files, a file importing itself.
    const planted = [
      { from: 'flow/table.ts', to: 'flow/emit.ts' },
      { from: 'flow/emit.ts', to: 'flow/table.ts' },
      { from: 'a/x.ts', to: 'a/y.ts' },
      { from: 'a/y.ts', to: 'a/z.ts' },
      { from: 'a/z.ts', to: 'a/x.ts' },
      { from: 'b/self.ts', to: 'b/self.ts' },
      { from: 'c/one.ts', to: 'c/two.ts' },
    ];
    expect(circles(planted)).toEqual([['a/x.ts', 'a/y.ts', 'a/z.ts'], ['b/self.ts'], ['flow/emit.ts', 'flow/table.ts']]);
    expect(circles(all)).toEqual([]);
  });
});
