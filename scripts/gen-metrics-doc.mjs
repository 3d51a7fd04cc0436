// Writes docs/metrics.md from the metric and counter declarations (never hand-edited).
//   npm run build && node scripts/gen-metrics-doc.mjs
import { writeFileSync } from 'node:fs';
import { renderMetricsDoc } from '../dist/cli/metrics-doc.js';

writeFileSync(new URL('../docs/metrics.md', import.meta.url), renderMetricsDoc());
