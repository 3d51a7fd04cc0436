/**
 * The stage counter contract, declared once and free of dependencies (the packet path loads
 * it; prom-client is loaded only by src/metrics.ts): a counter's kind, its declaration (name,
 * kind, doc, the series it feeds), families and their names, and how a stage's values become
 * series. Every stage declares its counters with these types next to its code; src/metrics.ts
 * generates the Prometheus metrics from the declarations, scripts/gen-metrics-doc.mjs the docs.
 */

/** Flat counters keyed by name, e.g. `{ 'decode.ipv4_truncated': 3 }`. */
export type CountMap = Readonly<Record<string, number>>;

/**
 * What a stage counter says: a `failure` (input malformed or cut, or work given up), an
 * `outcome` (what happened to an input that was fine), or a `note` (worth telling apart, neither).
 */
export type CounterKind = 'failure' | 'outcome' | 'note';

/**
 * One stage counter, declared once beside the stage that counts it: its kind, a one-line doc
 * (docs/metrics.md is generated from it), and the Prometheus series it feeds, if any. The
 * counter's name is the key of the stage's declaration record: `<layer>.<what>`, the replay
 * `--format json` stats key. A name with `<label>` parts declares a family, one counter per
 * label value (`alerts.<heuristic>.<severity>`); only `familyKey` fills such a name in.
 */
export interface CounterDecl {
  readonly kind: CounterKind;
  readonly doc: string;
  /**
   * The series this counter adds to: a metric name of this file and the label values of its
   * series (a family adds its own labels). Failures of source, decode, dissect and the EDR
   * reader also reach a metric by kind (see STAGE_METRICS), never listed here.
   */
  readonly metric?: { readonly name: string; readonly labels?: Readonly<Record<string, string>> };
}

/** A stage's counter declarations: counter name → declaration. */
export type CounterDecls<N extends string = string> = Readonly<Record<N, CounterDecl>>;

/** A stage's plain (not family) counters with their values: what its `stats()` returns. */
export type CounterValues<D extends CounterDecls> = { [K in keyof D as K extends `${string}<${string}` ? never : K]: number };

const PLACEHOLDER = /<([a-z_]+)>/g;

/** Whether a declared name is a family (has `<label>` parts). */
export function isFamily(name: string): boolean {
  return name.includes('<');
}

/** The labels of a family name, in order: `alerts.<heuristic>.<severity>` → heuristic, severity. */
export function familyLabels(name: string): string[] {
  return [...name.matchAll(PLACEHOLDER)].map((m) => m[1] ?? '');
}

/** The one place a family counter's name is filled in: `familyKey('records.<format>', 'sysmon')`. */
export function familyKey(family: string, ...values: readonly string[]): string {
  let i = 0;
  return family.replace(PLACEHOLDER, () => values[i++] ?? '');
}

/**
 * The counts of one counter family by label values. Kept by the stage (per EDR record or
 * alert, never per packet); flattened to counter names by `familyKey` for the summary and JSON
 * stats, and read as series by `familySeries`.
 */
export class FamilyCounts {
  private readonly rows = new Map<string, { values: readonly string[]; n: number }>();
  constructor(readonly family: string) {}

  inc(values: readonly string[], n = 1): void {
    const key = values.join('\u0000');
    const row = this.rows.get(key);
    if (row === undefined) this.rows.set(key, { values: [...values], n });
    else row.n += n;
  }

  /** Rows in insertion order. */
  entries(): Array<{ values: readonly string[]; n: number }> {
    return [...this.rows.values()];
  }

  /** As counter names (`familyKey`) → n, added to `into`. */
  flat(into: Record<string, number> = {}): Record<string, number> {
    for (const r of this.rows.values()) into[familyKey(this.family, ...r.values)] = r.n;
    return into;
  }
}

/** The series a family adds to its declared metric (its label values as labels). */
export function familySeries(decls: CounterDecls, fam: FamilyCounts): SeriesValue[] {
  const decl = decls[fam.family];
  if (decl?.metric === undefined) return [];
  const labels = familyLabels(fam.family);
  return fam.entries().map((r) => ({
    labels: { ...decl.metric?.labels, ...Object.fromEntries(labels.map((l, i) => [l, r.values[i] ?? ''])) },
    value: r.n,
  }));
}

/** One series of a metric: its label values and the value. */
export interface SeriesValue {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/**
 * The series a stage's counter values add to `metric`, read from the declarations: counters
 * whose `metric` names it (with their declared labels), and, when STAGE_METRICS selects
 * this stage for it, every counter of the selected kind (its name as the label value). One
 * series per counter, in the order of `values`: several counters with the same labels are
 * added up by the caller (the metrics' series set, `declaredByLabel`); a value without a
 * declaration feeds nothing (the stages' tests check every counted name is declared).
 */
export function declaredSeries(stage: string, decls: CounterDecls, values: CountMap, metric: string): SeriesValue[] {
  const sel = STAGE_METRICS.find((m) => m.metric === metric && m.stage === stage);
  const out: SeriesValue[] = [];
  for (const [name, value] of Object.entries(values)) {
    const d: CounterDecl | undefined = decls[name];
    if (d === undefined) continue;
    if (d.metric?.name === metric) out.push({ labels: d.metric.labels ?? {}, value });
    else if (sel !== undefined && selects(sel, name, d)) out.push({ labels: { [sel.label]: name }, value });
  }
  return out;
}

/** `declaredSeries` of a metric with one label, as label value → value. */
export function declaredByLabel(stage: string, decls: CounterDecls, values: CountMap, metric: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of declaredSeries(stage, decls, values, metric)) {
    const k = r.labels[label];
    if (k !== undefined) out[k] = (out[k] ?? 0) + r.value;
  }
  return out;
}

/**
 * A labelled metric that takes a stage's counters by kind: every counter of `kind` (of any kind
 * when absent) declared by `stage`, its name as the value of `label`.
 */
export interface StageMetric {
  readonly metric: string;
  readonly stage: string;
  readonly kind?: CounterKind;
  readonly label: string;
}

/** Whether `sel` takes the stage counter `name` declared as `d` (its kind; never a family). */
export function selects(sel: StageMetric, name: string, d: CounterDecl): boolean {
  return (sel.kind === undefined || d.kind === sel.kind) && !isFamily(name);
}

/** The stage counters labelled metrics take by kind (the docs list them under the metric). */
export const STAGE_METRICS: readonly StageMetric[] = [
  { metric: 'llmtap_decode_errors_total', stage: 'decode', kind: 'failure', label: 'reason' },
  { metric: 'llmtap_dissect_failures_total', stage: 'dissect', kind: 'failure', label: 'reason' },
  { metric: 'llmtap_flow_ended_total', stage: 'flow_end', label: 'reason' },
  { metric: 'llmtap_source_file_problems_total', stage: 'source', kind: 'failure', label: 'reason' },
  { metric: 'llmtap_edr_input_skipped_total', stage: 'ingest', kind: 'failure', label: 'reason' },
];
