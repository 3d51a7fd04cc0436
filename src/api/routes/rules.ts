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
    app.get(
      '/rules/export',
      { schema: { summary: 'The rule set as the document endpoint agents load', response: withErrors({ 200: exportSchema }) } },
      async () => classifier.exportDocument(),
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
          rules_version: r.rulesVersion,
        };
        if (v !== null) {
          out['verdict'] = {
            category: v.category,
            provider: v.provider,
            rule_id: v.ruleId,
            sanctioned: v.sanctioned,
            ...(v.verify !== undefined ? { verify: v.verify } : {}),
          };
        }
        if (r.decidingRule !== null) out['deciding_rule'] = ruleRef(r.decidingRule);
        if (r.excluded !== undefined) out['excluded'] = r.excluded;
        return out;
      },
    );

    app.post(
      '/rules/reload',
      { schema: { summary: 'Reload the rule set from its files (old rules stay if the new ones are invalid)', response: withErrors({ 200: reloadSchema }) } },
      async () => {
        const r = classifier.reload();
        if (!r.ok) throw new ApiError('LLMTAP_ERR_REJECTED', r.error);
        return { reloaded: true, rules_version: r.version };
      },
    );
  };
}
