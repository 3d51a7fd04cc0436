// Preloaded (node --require) into a child llmtap process by tests: on exit, writes the process's
// peak resident set size (KiB, getrusage ru_maxrss) to the file named by LLMTAP_TEST_MAXRSS_FILE.
const { writeFileSync } = require('node:fs');
const file = process.env.LLMTAP_TEST_MAXRSS_FILE;
if (file) process.on('exit', () => writeFileSync(file, String(process.resourceUsage().maxRSS)));
