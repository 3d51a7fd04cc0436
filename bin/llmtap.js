#!/usr/bin/env -S node --max-semi-space-size=16 --no-allocation-site-pretenuring
// Thin launcher: the CLI is compiled from src/cli/main.ts into dist/ by `npm run build`
// (run automatically by `npm install` through the `prepare` script).
import('../dist/cli/main.js').then((m) => m.main(process.argv.slice(2))).catch((err) => {
  process.stderr.write(`llmtap: ${err && err.message ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
