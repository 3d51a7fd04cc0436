/**
 * Exit codes and `-h/--help`, the same for every command:
 *   0  success (and `--help`)
 *   1  runtime failure: a file that cannot be read or is corrupt, capture that cannot start
 *      (interface missing, no permission, binding not built), the database, an output
 *   2  usage or configuration error: unknown command or option, a missing or extra argument,
 *      an invalid config or rule file
 * The stderr line names the error code (LLMTAP_ERR_…) where there is one.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Error codes that mean "the command line or a config/rule file is wrong" (exit 2). */
const USAGE_CODES = new Set(['LLMTAP_ERR_USAGE', 'LLMTAP_ERR_CONFIG', 'LLMTAP_ERR_RULES', 'LLMTAP_ERR_TENANT_CONFIG']);

/** The exit code for an error thrown out of a command. */
export function exitCodeFor(err: unknown): number {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return EXIT.failed;
  if (USAGE_CODES.has(code) || code.startsWith('ERR_PARSE_ARGS')) return EXIT.usage;
  return EXIT.failed;
}

/** `-h` or `--help` anywhere before a `--`. */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '-h' || a === '--help') return true;
  }
  return false;
}

/** Print a usage text on stdout (asked for: exit 0). */
export function printUsage(usage: string): number {
  process.stdout.write(usage.endsWith('\n') ? usage : `${usage}\n`);
  return EXIT.ok;
}
