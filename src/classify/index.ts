/** The classify stage: import from here. */
export { Classifier, classifierFromExport, DEFAULT_RULES_PATH, DEFAULT_TENANT_DIR } from './classifier.js';
export type { ClassifierOptions } from './classifier.js';
export type { Explanation, ExplainedMatch } from './explain.js';
export type { ClassifyQuery, RuleSet, RuleSpec } from './types.js';
export { CATEGORY_ORDER } from './types.js';
export { canonicalJson } from './export.js';
export { parseRuleFile, loadRuleFiles } from './load.js';
