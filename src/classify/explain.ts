/**
 * Explain: the deciding rule (a host name, or for a query without a name, an address and the
 * published range holding it), every other rule that matched, rules whose host matched but
 * another condition did not, and one sentence per rival saying why precedence chose as it did.
 * Uses the same compiled index and precedence as classify (not a second implementation), but
 * bypasses the memo and the counters. Other tenants' rules are never shown.
 */
import type { Verdict } from '../records.js';
import type { CompiledRule, Hit } from './compile.js';
import type { MatchContext, Matcher, Unmet } from './matcher.js';
import { unmet } from './matcher.js';
import type { HostKind } from './precedence.js';
import { compareRank, whyBeats } from './precedence.js';
import type { ClassifyQuery, Confidence, ExcludedHost } from './types.js';

export interface ExplainedMatch {
  ruleId: string;
  tenant?: string;
  category: string;
  provider: string;
  sanctioned: boolean;
  verify: boolean;
  confidence: Confidence;
  /** How the rule matched: host entry and kind, and the port/process/loopback it required. */
  matchedBy: {
    hostKind: HostKind;
    hostEntry?: string;
    /** A range match: the destination address, and where the range was published and when. */
    address?: string;
    rangeSource?: string;
    rangeDate?: string;
    port?: number;
    process?: string;
    loopback?: boolean;
  };
  source: string;
  note?: string;
}

export interface Explanation {
  query: {
    host?: string;
    normalizedHost?: string;
    /** The destination address looked up in the rules' ranges (no host name). */
    address?: string;
    hostProblem?: string;
    port?: number;
    processName?: string;
    serverProcessName?: string;
    loopback: boolean;
    tenant?: string;
  };
  verdict: Verdict | null;
  decidingRule: ExplainedMatch | null;
  /** Every other rule whose conditions all hold, in precedence order. */
  otherMatches: ExplainedMatch[];
  /** Tenant rules marking this endpoint sanctioned. */
  sanctionedBy: string[];
  /** Rules that matched part of the query but not all of it, with the condition that failed. */
  unmet: Array<{ ruleId: string; failed: Exclude<Unmet, undefined | 'tenant'> }>;
  /** Why the deciding rule beat each other match. */
  reasons: string[];
  /** The host is a known vendor host deliberately not classified. */
  excluded?: { host: string; reason: string };
  rulesVersion: string;
}

function describe(hit: Hit, q: MatchContext, address: string | undefined): ExplainedMatch {
  const r: CompiledRule = hit.rule;
  const matchedBy: ExplainedMatch['matchedBy'] = { hostKind: hit.hostKind };
  if (hit.hostKind !== 'none') matchedBy.hostEntry = hit.entry;
  if (hit.range !== undefined) {
    if (address !== undefined) matchedBy.address = address;
    matchedBy.rangeSource = hit.range.source;
    matchedBy.rangeDate = hit.range.date;
  }
  if (r.ports !== undefined && q.port !== undefined) matchedBy.port = q.port;
  if (r.processes !== undefined) matchedBy.process = r.processes.has(q.proc1) ? q.proc1 : q.proc2;
  if (r.localhostOnly) matchedBy.loopback = true;
  const m: ExplainedMatch = {
    ruleId: r.id,
    category: r.category,
    provider: r.provider,
    sanctioned: r.sanctioned,
    verify: r.verify,
    confidence: r.confidence,
    matchedBy,
    source: r.spec.source,
  };
  if (r.tenant !== undefined) m.tenant = r.tenant;
  if (r.spec.note !== undefined) m.note = r.spec.note;
  return m;
}

export function explainQuery(matcher: Matcher, excluded: ReadonlyMap<string, ExcludedHost>, version: string, q: ClassifyQuery): Explanation {
  const named = q.host === undefined ? undefined : matcher.lookupHost(q.host);
  const address = matcher.rangeAddress(q, named ?? { name: undefined, loopback: false, problem: undefined, hits: [] });
  const h = address === undefined ? named : matcher.lookupAddress(address, named?.loopback === true);
  const ctx: MatchContext = {
    port: q.port,
    proc1: q.processName === undefined ? '' : matcher.process(q.processName),
    proc2: q.serverProcessName === undefined ? '' : matcher.process(q.serverProcessName),
    loopback: q.loopback === true || h?.loopback === true,
    tenant: q.tenant,
  };
  const idx = matcher.index;
  const candidates = new Set<Hit>(h?.hits ?? []);
  if (q.port !== undefined) for (const c of idx.byPort.get(q.port) ?? []) candidates.add(c);
  for (const p of [ctx.proc1, ctx.proc2]) if (p !== '') for (const c of idx.byProcess.get(p) ?? []) candidates.add(c);

  const passing: Hit[] = [];
  const failed: Explanation['unmet'] = [];
  for (const c of [...candidates].sort(compareRank)) {
    const why = unmet(c.rule, ctx);
    if (why === undefined) passing.push(c);
    else if (why !== 'tenant') failed.push({ ruleId: c.id, failed: why });
  }
  const competing = passing.filter((c) => !c.rule.sanctioned);
  const sanctioned = passing.filter((c) => c.rule.sanctioned);
  const decider = competing[0] ?? sanctioned[0];
  const others = passing.filter((c) => c !== decider);
  let verdict: Verdict | null = null;
  if (decider !== undefined) verdict = { ...(sanctioned.length > 0 ? decider.verdictSanctioned : decider.verdict) };

  const query: Explanation['query'] = { loopback: ctx.loopback };
  if (q.host !== undefined) query.host = q.host;
  if (h?.name !== undefined) query.normalizedHost = h.name;
  if (address !== undefined) query.address = address;
  if (h?.problem !== undefined) query.hostProblem = h.problem;
  if (q.port !== undefined) query.port = q.port;
  if (ctx.proc1 !== '') query.processName = ctx.proc1;
  if (ctx.proc2 !== '') query.serverProcessName = ctx.proc2;
  if (q.tenant !== undefined) query.tenant = q.tenant;

  const reasons: string[] = [];
  if (decider === undefined) reasons.push(passing.length === 0 ? 'no rule matched' : 'no deciding rule');
  else {
    if (decider.rule.sanctioned) reasons.push(`rule ${decider.id} decides: only sanctioned tenant rules matched`);
    for (const o of others) {
      if (o.rule.sanctioned && !decider.rule.sanctioned) reasons.push(`rule ${o.id} marks the verdict sanctioned; the category stays ${decider.category}`);
      else reasons.push(whyBeats(decider, o));
    }
  }
  const ex: Explanation = {
    query,
    verdict,
    decidingRule: decider === undefined ? null : describe(decider, ctx, address),
    otherMatches: others.map((o) => describe(o, ctx, address)),
    sanctionedBy: sanctioned.map((s) => s.id),
    unmet: failed,
    reasons,
    rulesVersion: version,
  };
  const exc = h?.name === undefined ? undefined : excluded.get(h.name);
  if (exc !== undefined) ex.excluded = { host: exc.host, reason: exc.reason };
  return ex;
}
