/**
 * `llmtap config check FILE`: validate a sensor config without starting anything and print the
 * effective config, every default filled in, as YAML. Secrets written inline (lineage_key,
 * cursor_key) are shown as `<redacted>`; the token lists hold SHA-256 digests only.
 *
 * Exit codes (src/cli/exit.ts): 0 valid, 2 invalid or unreadable config or usage error.
 */
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { loadConfig, DEFAULT_LINEAGE_KEY, type SensorConfig } from '../config.js';
import { LlmtapError } from '../errors.js';
import { EXIT, printUsage, wantsHelp } from './exit.js';

export const CONFIG_USAGE = `usage: llmtap config check FILE

Validates FILE (YAML or JSON) and prints the effective config with every default filled in.
Inline secrets (attribute.lineage_key, api.cursor_key) are printed as <redacted>.

exit codes: 0 valid, 2 invalid config (the key and the problem on stderr) or usage error
`;

const REDACTED = '<redacted>';

/** The effective config as a plain object, inline secrets redacted. */
export function effectiveConfig(cfg: SensorConfig): Record<string, unknown> {
  const { source: _source, baseDir: _baseDir, ...rest } = cfg;
  const out = structuredClone(rest) as unknown as { attribute: { lineage_key: string }; api: { cursor_key?: string } };
  if (out.attribute.lineage_key !== DEFAULT_LINEAGE_KEY) out.attribute.lineage_key = REDACTED;
  if (out.api.cursor_key !== undefined) out.api.cursor_key = REDACTED;
  return out as unknown as Record<string, unknown>;
}

/** Problems that do not make a config invalid but need an operator's attention. */
export function configWarnings(cfg: SensorConfig): string[] {
  const w: string[] = [];
  if (cfg.attribute.lineage_key === DEFAULT_LINEAGE_KEY) {
    w.push('attribute.lineage_key is the built-in default: lineage hashes can be recomputed by anyone; set a secret of your own');
  }
  return w;
}

export async function configCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help' || wantsHelp(rest)) {
    if (sub === undefined) {
      process.stderr.write(`llmtap config: give a subcommand\n${CONFIG_USAGE}`);
      return EXIT.usage;
    }
    return printUsage(CONFIG_USAGE);
  }
  if (sub !== 'check') throw new LlmtapError('LLMTAP_ERR_USAGE', `unknown config subcommand '${sub}' (check)`);
  const { positionals } = parseArgs({ args: rest, allowPositionals: true, options: {} });
  const file = positionals[0];
  if (file === undefined || positionals.length > 1) throw new LlmtapError('LLMTAP_ERR_USAGE', 'config check takes one FILE');
  const cfg = loadConfig(file); // ConfigError (LLMTAP_ERR_CONFIG): exit 2 through main
  for (const w of configWarnings(cfg)) process.stderr.write(`llmtap config: warning: ${w}\n`);
  process.stdout.write(`# ${file}: valid; the effective config, defaults filled in\n${YAML.stringify(effectiveConfig(cfg))}`);
  return EXIT.ok;
}
