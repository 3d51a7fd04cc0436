import { createHmac } from 'node:crypto';

/** Ancestors kept for the lineage hash, nearest first (docs/edr-join.md §8.1 `lineage`). */
export const LINEAGE_DEPTH = 4;

/**
 * One-way lineage hash: HMAC-SHA256 keyed with the tenant's lineage key over the tenant and
 * the ancestor basenames (lower-cased, nearest first, at most LINEAGE_DEPTH). Names only —
 * never arguments or users — and keyed, so a dictionary of common parents cannot reverse it
 * without the key. Undefined when no ancestor is known.
 */
export function lineageHash(tenant: string, lineageKey: string, ancestors: readonly string[]): string | undefined {
  const names = ancestors.slice(0, LINEAGE_DEPTH).map((n) => n.toLowerCase());
  if (names.length === 0) return undefined;
  return createHmac('sha256', lineageKey).update(tenant).update('\0').update(names.join('\0')).digest('hex');
}
