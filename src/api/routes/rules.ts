/** The classifier's rule set: export for endpoint agents, explain a decision, reload from disk. */
import type { FastifyPluginAsync } from 'fastify';
import { withErrors } from '../schemas/common.js';
import { explainQuery, explainSchema, exportSchema, reloadSchema } from '../schemas/rules.js';
import type { RouteContext } from './context.js';

interface ExplainQs {
  host: string;
  process?: string;
  port?: number;
}

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
          ...(q.process !== undefined ? { process: q.process } : {}),
          ...(q.port !== undefined ? { port: q.port } : {}),
        });
        const v = r.verdict;
        return {
          host: q.host,
          matched: v !== undefined,
          ...(v !== undefined
            ? {
                verdict: {
                  category: v.category,
                  provider: v.provider,
                  rule_id: v.ruleId,
                  sanctioned: v.sanctioned,
                  ...(v.verify !== undefined ? { verify: v.verify } : {}),
                },
              }
            : {}),
          steps: r.steps.map((s) => ({ rule_id: s.ruleId, matched: s.matched, reason: s.reason })),
        };
      },
    );

    app.post(
      '/rules/reload',
      { schema: { summary: 'Reload the rule set from its files', response: withErrors({ 200: reloadSchema }) } },
      async () => {
        const r = await classifier.reload();
        return { reloaded: true, rules: r.rules };
      },
    );
  };
}
