/**
 * Precedence: which of several matching rules decides a connection. One connection, one
 * category. Candidates are ordered by, in turn:
 *
 *   1. category: api > assistant > sdk > local_llm > plugin > agent (the published order);
 *   2. host condition: exact host > dot-bounded suffix > anchored pattern > address range (only
 *      when the connection has no name) > no host condition (port- or process-only rules);
 *      between two suffixes or two patterns the longer wins, between two ranges the longer
 *      prefix;
 *   3. more signals in the rule (host, port, process) wins: a rule that also pins the port or
 *      the process is more specific;
 *   4. scope: a tenant's addition beats a default rule at an otherwise equal rank;
 *   5. order: the earlier rule (default file first, then the tenant file) wins.
 *
 * Tenant rules marked `sanctioned` do not compete: when one matches, the verdict of the
 * deciding rule is kept and marked `sanctioned: true`; when no other rule matches, the best
 * sanctioned rule decides with its own category (an internal LLM gateway).
 */
import { CATEGORY_ORDER } from './types.js';

export type HostKind = 'exact' | 'suffix' | 'pattern' | 'range' | 'none';
const HOST_KIND_RANK: Record<HostKind, number> = { exact: 0, suffix: 1, pattern: 2, range: 3, none: 4 };

/** The static precedence key of one way a rule can match. */
export interface RankKey {
  catRank: number;
  hostKind: HostKind;
  /** Length of the matched host entry (suffix or template; prefix bits of a range); 0 without a host condition. */
  entryLen: number;
  signals: number;
  tenant: boolean;
  order: number;
}

export function categoryRank(c: string): number {
  const i = (CATEGORY_ORDER as readonly string[]).indexOf(c);
  return i < 0 ? CATEGORY_ORDER.length : i;
}

/** Negative when `a` beats `b`. Total order (order is unique per rule). */
export function compareRank(a: RankKey, b: RankKey): number {
  return (
    a.catRank - b.catRank ||
    HOST_KIND_RANK[a.hostKind] - HOST_KIND_RANK[b.hostKind] ||
    b.entryLen - a.entryLen ||
    b.signals - a.signals ||
    (a.tenant === b.tenant ? 0 : a.tenant ? -1 : 1) ||
    a.order - b.order
  );
}

/** Why `winner` beats `loser`, in one sentence naming the criterion that decided. */
export function whyBeats(winner: RankKey & { id: string; category: string }, loser: RankKey & { id: string; category: string }): string {
  const w = `rule ${winner.id}`;
  const l = `rule ${loser.id}`;
  if (winner.catRank !== loser.catRank) return `${w} wins: category ${winner.category} beats ${loser.category}`;
  if (winner.hostKind !== loser.hostKind) {
    return `${w} wins: ${hostKindText(winner.hostKind)} beats ${hostKindText(loser.hostKind)} of ${l}`;
  }
  if (winner.entryLen !== loser.entryLen) return `${w} wins: its ${winner.hostKind} is longer than that of ${l}`;
  if (winner.signals !== loser.signals) return `${w} wins: it matches ${winner.signals} signals, ${l} ${loser.signals}`;
  if (winner.tenant !== loser.tenant) return `${w} wins: a tenant rule beats a default rule`;
  return `${w} wins: it comes before ${l} in the rule files`;
}

function hostKindText(k: HostKind): string {
  return k === 'none' ? 'no host condition' : k === 'exact' ? 'an exact host match' : k === 'range' ? 'an address range match' : `a ${k} match`;
}
