/** A small stand-in for the classifier (until its class lands): one rule, openai.com. */
import type { ApiClassifier, ExplainQuery, ExplainResult } from '../../src/api/deps.js';

export class FakeClassifier implements ApiClassifier {
  reloads = 0;
  explain(q: ExplainQuery): ExplainResult {
    if (q.host.endsWith('openai.com')) {
      return {
        verdict: { category: 'api', provider: 'openai', ruleId: 'openai-api', sanctioned: false },
        steps: [{ ruleId: 'openai-api', matched: true, reason: 'suffix openai.com' }],
      };
    }
    return { steps: [{ ruleId: 'openai-api', matched: false, reason: 'no suffix match' }] };
  }
  exportDocument(): Record<string, unknown> {
    return { version: 1, rules: [{ id: 'openai-api', hosts: ['*.openai.com'], category: 'api', provider: 'openai' }] };
  }
  reload(): { rules: number } {
    this.reloads++;
    return { rules: 1 };
  }
}
