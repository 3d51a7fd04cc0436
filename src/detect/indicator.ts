/**
 * A loaded threat indicator and a match against one, shared by the rule context (which carries
 * the match) and the threat-intelligence loader and rule (which make it), so neither imports
 * the other's module for them.
 */

export type IndicatorKind = 'sha256' | 'sha1' | 'domain';

export interface Indicator {
  kind: IndicatorKind;
  /** Lower-case hex or host name. */
  value: string;
  /** File the indicator came from (base name). */
  source: string;
  /** STIX indicator id, or `line N` of a plain list. */
  ref: string;
  /** STIX `name`, when given. */
  name?: string;
  /** Validity bounds, capture µs (STIX valid_from / valid_until). */
  validFromUs?: number;
  validUntilUs?: number;
}

/** A match: which indicator, and what of the connection matched it. */
export interface IntelMatch {
  indicator: Indicator;
  /** "SHA-256 e3b0c442…", "host api.evil.example". */
  what: string;
}
