/**
 * Rule data as written in `config/rules/*.yaml` (format `llmtap-rules/1`) and as exported for
 * endpoint agents. The compiled form lives in matcher.ts.
 */
import type { AiCategory } from '../records.js';
import { CATEGORY_ORDER as ORDER } from '../records.js';

/** Precedence of categories, strongest first: one connection, one category (records.ts). */
export const CATEGORY_ORDER: readonly AiCategory[] = ORDER;

export type Confidence = 'high' | 'medium' | 'low';
export type Signal = 'host' | 'port' | 'process';

/** A provider-published destination prefix, with where it was published and when it was taken. */
export interface RangeSpec {
  /** CIDR prefix (`160.79.104.0/23`, `2607:6bc0::/48`), no address bits past the prefix. */
  prefix: string;
  source: string;
  /** YYYY-MM-DD: when the range was taken from the source. */
  date: string;
}

export interface RuleMatch {
  hosts?: string[];
  suffixes?: string[];
  patterns?: string[];
  ports?: number[];
  processes?: string[];
  /**
   * Destination prefixes; used only when the connection has no host name (no SNI, no DNS
   * answer, no endpoint name: hard-coded addresses, DNS over HTTPS, ECH). Not combined with
   * host names in one rule.
   */
  ranges?: RangeSpec[];
  localhost_only?: boolean;
  /** Signals that must match besides the port (mandatory for colliding ports). */
  requires?: Array<'host' | 'process'>;
}

export interface RuleSpec {
  id: string;
  category: AiCategory;
  provider: string;
  match: RuleMatch;
  source: string;
  note?: string;
  verify?: boolean;
  confidence?: Confidence;
  /** Tenant rules only. */
  sanctioned?: boolean;
  examples?: { match?: string[]; nomatch?: string[] };
}

export interface ExcludedHost {
  host: string;
  reason: string;
  source?: string;
}

export interface TenantRules {
  tenant: string;
  rules: RuleSpec[];
}

/** A whole, validated rule set: the default rules plus every tenant's rules. */
export interface RuleSet {
  rules: RuleSpec[];
  excluded: ExcludedHost[];
  tenants: TenantRules[];
}

/** What a caller asks the classifier about one connection. */
export interface ClassifyQuery {
  /** Destination host name (SNI, DNS or EDR hint) or an address literal. */
  host?: string;
  /**
   * Destination address; the published ranges are looked up when no host name is given (a
   * host that is an address literal counts as no name).
   */
  addr?: string;
  /** Destination (responder) port. */
  port?: number;
  /** Process name of the client side (from the EDR join); path and `.exe` are ignored. */
  processName?: string;
  /** Process name of the listening side when known (loopback EDR records of local runtimes). */
  serverProcessName?: string;
  /** The connection is on a loopback interface (EDR feed). */
  loopback?: boolean;
  tenant?: string;
}
