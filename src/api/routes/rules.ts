/** The classifier's rule set: export for endpoint agents, explain a decision, reload from disk. */
import type { FastifyPluginAsync } from 'fastify';
import type { ExplainedRule } from '../deps.js';
import { ApiError } from '../errors.js';
import { withErrors } from '../schemas/common.js';
import { explainQuery, explainSchema, exportSchema, reloadSchema } from '../schemas/rules.js';
import type { RouteContext } from './context.js';

interface ExplainQs {
  host: string;
  process?: string;
  port?: number;
}

const ruleRef = (r: ExplainedRule): Record<string, unknown> => ({
  rule_id: r.ruleId,
  category: r.category,
  provider: r.provider,
  sanctioned: r.sanctioned,
  source: r.source,
});

export function ruleRoutes(ctx: RouteContext): FastifyPluginAsync {
  const { classifier } = ctx.deps;
  return async (app) => {
    // A tenant's token: the default rules plus its own tenant rules (never another tenant's
    // names, sanctioned endpoints or notes). An operator's token: every tenant's rules.
    app.get(
      '/rules/export',
      {
        config: { scope: 'any' },
        schema: {
          summary: "The rule set as the document endpoint agents load (the default rules plus the caller's tenant rules; every tenant's for an operator)",
          response: withErrors({ 200: exportSchema }),
        },
      },
      async (request) => (request.operator !== '' ? classifier.exportDocument() : classifier.exportDocument(request.tenant)),
    );

    app.get<{ Querystring: ExplainQs }>(
      '/rules/explain',
      {
        schema: {
          summary: 'Which rule decides a host (+ process, port), and why the others did not',
          querystring: explainQuery,
          response: withErrors({ 200: explainSchema }),
        },
      },
      async (request) => {
        const q = request.query;
        const r = classifier.explain({
          tenant: request.tenant,
          host: q.host,
          ...(q.process !== undefined ? { processName: q.process } : {}),
          ...(q.port !== undefined ? { port: q.port } : {}),
        });
        const v = r.verdict;
        const out: Record<string, unknown> = {
          host: q.host,
          matched: v !== null,
          other_matches: r.otherMatches.map(ruleRef),
          unmet: r.unmet.map((u) => ({ rule_id: u.ruleId, failed: u.failed })),
          reasons: r.reasons,
          // The version of the rules this tenant sees: the whole set's would change with
          // other tenants' rule edits.
          rules_version: String((classifier.exportDocument(request.tenant) as { version?: unknown }).version ?? r.rulesVersion),
        };
        if (v !== null) {
          out['verdict'] = {
            category: v.category,
            provider: v.provider,
            rule_id: v.ruleId,
            sanctioned: v.sanctioned,
            ...(v.verify !== undefined ? { verify: v.verify } : {}),
            ...(v.range !== undefined ? { range: v.range } : {}),
          };
        }
        if (r.decidingRule !== null) out['deciding_rule'] = ruleRef(r.decidingRule);
        if (r.excluded !== undefined) out['excluded'] = r.excluded;
        return out;
      },
    );

    app.post(
      '/rules/reload',
      {
        config: { scope: 'operator' },
        schema: {
          summary: 'Reload the rule set from its files (operator token; old rules stay if the new ones are invalid)',
          response: withErrors({ 200: reloadSchema }),
        },
      },
      async () => {
        const r = classifier.reload();
        if (!r.ok) throw new ApiError('LLMTAP_ERR_REJECTED', r.error);
        return { reloaded: true, rules_version: r.version };
      },
    );
  };
}
