/**
 * llmtap's version, read once from the package.json beside src/ and dist/ (both sit one level
 * below the package root), so the CLI, the API and OCSF metadata report the released version.
 */
import { readFileSync } from 'node:fs';

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export const LLMTAP_VERSION: string = readVersion();
