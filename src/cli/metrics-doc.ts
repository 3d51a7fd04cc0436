/**
 * docs/metrics.md, generated from the declarations: the Prometheus metrics as createMetrics
 * registers them (name, type, labels, help, who may read them) and every stage counter (name,
 * kind, doc, the series it feeds). `node scripts/gen-metrics-doc.mjs` writes it;
 * test/e2e/metrics-doc.test.ts checks the committed file equals this.
 */
import { familyLabels, selects, STAGE_METRICS, type CounterDecl } from '../counters.js';
import { createMetrics } from '../metrics.js';
import { STAGE_COUNTERS } from '../sensor/counters.js';

const cell = (s: string): string => s.replace(/\|/g, '\\|');

/** Where a stage counter's value goes, as a table cell. */
function feeds(stage: string, name: string, d: CounterDecl): string {
  const out: string[] = [];
  if (d.metric !== undefined) {
    const l = Object.entries(d.metric.labels ?? {}).map(([k, v]) => `${k}="${v}"`);
    l.push(...familyLabels(name).map((k) => `${k}=…`));
    out.push(`\`${d.metric.name}${l.length > 0 ? `{${l.join(',')}}` : ''}\``);
  }
  for (const sel of STAGE_METRICS)
    if (sel.stage === stage && selects(sel, name, d)) out.push(`\`${sel.metric}{${sel.label}="${name}"}\``);
  return out.length > 0 ? out.join(', ') : '—';
}

export function renderMetricsDoc(): string {
  const m = createMetrics({ build: { version: 'x', node: 'x' } }, { defaultMetrics: false });
  let md =
    '# Metrics reference\n\nGenerated from the declarations (`createMetrics` in `src/metrics.ts` and each stage\'s counter declarations, ' +
    'listed in `src/sensor/counters.ts`) by `npm run build && node scripts/gen-metrics-doc.mjs`; never hand-edited. ' +
    'The API serves the metrics at `GET /metrics` (see [api.md](api.md#metrics)); each stage counter below says where the replay summary shows it.\n\n' +
    '## Prometheus metrics\n\nPublic: served without a token. Operator: the AI-traffic and alert series, sums over every tenant, ' +
    'served only to an operator token. Process metrics (`process_*`, `nodejs_*`) are served too.\n\n' +
    '| metric | type | labels | access | meaning |\n|---|---|---|---|---|\n';
  for (const metric of m.registry.getMetricsAsArray()) {
    const { name, help, type, labelNames } = metric as unknown as { name: string; help: string; type: string; labelNames: string[] };
    const pub = m.publicRegistry.getSingleMetric(name) !== undefined;
    md += `| \`${name}\` | ${type} | ${labelNames.map((l) => `\`${l}\``).join(', ') || '—'} | ${pub ? 'public' : 'operator'} | ${cell(help)} |\n`;
  }
  md +=
    '\n## Stage counters\n\nEach stage declares its counters once: the name (a key of the replay summary, see each stage, and the label value of a `reason` series), ' +
    'the kind — `failure` (input malformed or cut, or work given up), `outcome` (what happened to input that was fine) or `note` ' +
    '(worth telling apart, neither) — and what it counts. A name with `<label>` parts is a family: one counter per label value.\n';
  for (const s of STAGE_COUNTERS) {
    md += `\n### ${s.title}\n\nShown in ${s.shown}.\n\n| counter | kind | metric | meaning |\n|---|---|---|---|\n`;
    for (const [name, d] of Object.entries(s.decls)) {
      md += `| \`${name}\` | ${d.kind} | ${feeds(s.stage, name, d)} | ${cell(d.doc)} |\n`;
    }
  }
  return md;
}
