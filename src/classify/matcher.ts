/**
 * The compiled matcher. Per query: one memo lookup for the host (hash lookups over the host's
 * labels, walked right to left, on a miss), one map lookup for the port and the process, then
 * the first candidate in precedence order whose other conditions hold. No regular expression
 * runs unless the host lies under a pattern's fixed suffix.
 */
import type { Verdict } from '../records.js';
import type { CompiledIndex, CompiledRule, Hit } from './compile.js';
import { compareRank } from './precedence.js';
import type { HostProblem } from './normalize.js';
import { normalizeHost, normalizeProcess } from './normalize.js';
import type { ClassifyQuery } from './types.js';
import { LruMap, type BoundStat } from '../bounded/lru.js';
import { schemaDefaults } from '../config.js';

export interface HostEntry {
  name: string | undefined;
  /** The query's address literal, or the destination address looked up in the ranges. */
  address?: string | undefined;
  loopback: boolean;
  problem: HostProblem | undefined;
  /** Every host rule entry matching the name, best first. */
  hits: readonly Hit[];
}

/** Why a candidate's other conditions failed; undefined when they hold. */
export type Unmet = 'tenant' | 'loopback' | 'port' | 'process' | undefined;

export interface MatchContext {
  port: number | undefined;
  proc1: string;
  proc2: string;
  loopback: boolean;
  tenant: string | undefined;
}

const NO_HITS: readonly Hit[] = Object.freeze([]);
const NO_HOST: HostEntry = Object.freeze({ name: undefined, loopback: false, problem: undefined, hits: NO_HITS });

export function unmet(rule: CompiledRule, ctx: MatchContext): Unmet {
  if (rule.tenant !== undefined && rule.tenant !== ctx.tenant) return 'tenant';
  if (rule.localhostOnly && !ctx.loopback) return 'loopback';
  if (rule.ports !== undefined && (ctx.port === undefined || !rule.ports.has(ctx.port))) return 'port';
  if (rule.processes !== undefined && !rule.processes.has(ctx.proc1) && !rule.processes.has(ctx.proc2)) return 'process';
  return undefined;
}

export class Matcher {
  readonly index: CompiledIndex;
  private readonly hostMemo: LruMap<string, HostEntry>;
  /** Raw process name -> normalised name and its hostless rules (one lookup per query). */
  private readonly procMemo: LruMap<string, { name: string; hits: readonly Hit[] | undefined }>;
  private procHits1: readonly Hit[] | undefined;
  private procHits2: readonly Hit[] | undefined;
  // Counters for stats(); plain numbers on the hot path.
  queries = 0;
  verdicts = 0;
  memoHits = 0;
  memoMisses = 0;
  badHosts = 0;
  readonly byCategory: Record<string, number> = {};
  // Scratch for one classify call (single-threaded; avoids a per-call object).
  private readonly ctx: MatchContext = { port: undefined, proc1: '', proc2: '', loopback: false, tenant: undefined };
  private best: Hit | undefined;
  private bestSanctioned: Hit | undefined;
  private wantSanctioned = false;

  constructor(index: CompiledIndex, memoMax = schemaDefaults('classify').max_memo) {
    this.index = index;
    this.hostMemo = new LruMap('classify.host_memo', Math.max(1, memoMax));
    this.procMemo = new LruMap('classify.process_memo', Math.max(1, Math.min(memoMax, 4096)));
  }

  get memoEvictions(): number {
    return this.hostMemo.evictions;
  }

  bounds(): BoundStat[] {
    return [this.hostMemo.stat(), this.procMemo.stat()];
  }

  /** Memoised host lookup; the memo is bounded (least recently used entry evicted first). */
  host(raw: string): HostEntry {
    const memo = this.hostMemo.get(raw);
    if (memo !== undefined) {
      this.memoHits++;
      return memo;
    }
    this.memoMisses++;
    const entry = this.lookupHost(raw);
    if (entry.problem !== undefined) this.badHosts++;
    this.hostMemo.set(raw, entry);
    return entry;
  }

  /** Unmemoised: normalise, then hash lookups over the name's suffixes, right to left. */
  lookupHost(raw: string): HostEntry {
    const n = normalizeHost(raw);
    const name = n.name;
    if (name === undefined) return { name: undefined, address: n.address, loopback: n.loopback, problem: n.problem, hits: NO_HITS };
    let hits: Hit[] | undefined;
    const add = (list: readonly Hit[] | undefined): void => {
      if (list !== undefined) (hits ??= []).push(...list);
    };
    add(this.index.exact.get(name));
    // Suffixes from the last label leftwards: "com", "azure.com", "openai.azure.com", ...
    let pos = name.length;
    while (pos > 0) {
      const dot = name.lastIndexOf('.', pos - 1);
      const suffix = name.slice(dot + 1);
      add(this.index.suffix.get(suffix));
      const bucket = this.index.patterns.get(suffix);
      if (bucket !== undefined && dot >= 0) {
        for (const p of bucket) if (p.re.test(name)) add([p.hit]);
      }
      pos = dot;
    }
    if (hits === undefined) return { name, loopback: n.loopback, problem: undefined, hits: NO_HITS };
    hits.sort(compareRank);
    return { name, loopback: n.loopback, problem: undefined, hits };
  }

  /**
   * A connection without a host name: the rules whose published ranges hold its destination
   * address, best first. Not memoised: it costs one address parse and one hash probe per
   * prefix length, and unnamed destinations (scans, bare-address traffic) would only push
   * names out of the host memo.
   */
  lookupAddress(addr: string, loopback: boolean): HostEntry {
    const hits = this.index.ranges.lookup(addr);
    if (hits.length === 0) return { name: undefined, address: addr, loopback, problem: undefined, hits: NO_HITS };
    hits.sort(compareRank);
    return { name: undefined, address: addr, loopback, problem: undefined, hits };
  }

  /** The address to look up in the ranges when the query has no host name, else undefined. */
  rangeAddress(q: ClassifyQuery, h: HostEntry): string | undefined {
    if (this.index.ranges.size === 0) return undefined;
    if (q.host === undefined) return q.addr;
    // an address literal is no name; a name (even one that failed normalisation) is
    return h.address;
  }

  private procEntry(raw: string): { name: string; hits: readonly Hit[] | undefined } {
    let p = this.procMemo.get(raw);
    if (p === undefined) {
      const name = normalizeProcess(raw);
      p = { name, hits: this.index.byProcess.get(name) };
      this.procMemo.set(raw, p);
    }
    return p;
  }

  process(raw: string | undefined): string {
    return raw === undefined ? '' : this.procEntry(raw).name;
  }

  context(q: ClassifyQuery, h: HostEntry): MatchContext {
    const c = this.ctx;
    c.port = q.port;
    if (q.processName === undefined) {
      c.proc1 = '';
      this.procHits1 = undefined;
    } else {
      const e = this.procEntry(q.processName);
      c.proc1 = e.name;
      this.procHits1 = e.hits;
    }
    if (q.serverProcessName === undefined) {
      c.proc2 = '';
      this.procHits2 = undefined;
    } else {
      const e = this.procEntry(q.serverProcessName);
      c.proc2 = e.name;
      this.procHits2 = e.hits;
    }
    c.loopback = q.loopback === true || h.loopback;
    c.tenant = q.tenant;
    return c;
  }

  classify(q: ClassifyQuery): Verdict | undefined {
    this.queries++;
    let h = q.host === undefined ? NO_HOST : this.host(q.host);
    const addr = this.rangeAddress(q, h);
    if (addr !== undefined) h = this.lookupAddress(addr, h.loopback);
    const ctx = this.context(q, h);
    this.wantSanctioned = ctx.tenant !== undefined && this.index.sanctionedTenants.has(ctx.tenant);
    this.best = undefined;
    this.bestSanctioned = undefined;
    if (h.hits.length > 0) this.scan(h.hits, ctx);
    if (ctx.port !== undefined) this.scan(this.index.byPort.get(ctx.port), ctx);
    if (this.procHits1 !== undefined) this.scan(this.procHits1, ctx);
    if (this.procHits2 !== undefined) this.scan(this.procHits2, ctx);
    const best = this.best as Hit | undefined;
    const bestSanctioned = this.bestSanctioned as Hit | undefined;
    const decider = best ?? bestSanctioned;
    if (decider === undefined) return undefined;
    this.verdicts++;
    this.byCategory[decider.category] = (this.byCategory[decider.category] ?? 0) + 1;
    return bestSanctioned !== undefined ? decider.verdictSanctioned : decider.verdict;
  }

  /**
   * Folds one candidate list (sorted best first) into `best` / `bestSanctioned`. Without
   * sanctioned rules in play it stops at the first candidate that holds or cannot win.
   */
  private scan(list: readonly Hit[] | undefined, ctx: MatchContext): void {
    if (list === undefined) return;
    for (const hit of list) {
      if (!this.wantSanctioned && this.best !== undefined && compareRank(hit, this.best) >= 0) return;
      if (unmet(hit.rule, ctx) !== undefined) continue;
      if (hit.rule.sanctioned) {
        if (this.bestSanctioned === undefined || compareRank(hit, this.bestSanctioned) < 0) this.bestSanctioned = hit;
      } else {
        if (this.best === undefined || compareRank(hit, this.best) < 0) this.best = hit;
        if (!this.wantSanctioned) return;
      }
    }
  }

  clearMemo(): void {
    this.hostMemo.clear();
    this.procMemo.clear();
  }

  memoSize(): number {
    return this.hostMemo.size;
  }
}
