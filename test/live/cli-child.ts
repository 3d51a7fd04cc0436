/** Runs the llmtap CLI from source (used inside test namespaces): argv as for bin/llmtap.js. */
import { main } from '../../src/cli/main.js';

// vite-node's dev server exits the process on SIGTERM (exit 143) before the command's own
// shutdown can finish; the command under test must own the signal, as it does under node.
for (const l of process.listeners('SIGTERM')) process.off('SIGTERM', l);
await main(process.argv.slice(2));
