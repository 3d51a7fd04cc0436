/**
 * What a live test needs before it can run. `prerequisites` returns the missing ones (the file's
 * describe blocks skip when any is missing) and, under CI=true, registers a test that fails naming
 * them: a clean CI machine must have everything.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { it } from 'vitest';
import { loadNative } from '../../src/source/live.js';
import { repoRoot } from './child.js';
import { netnsUnavailable } from './netns.js';

/** The capture corpus (LLMTAP_CORPUS, else ../shared/corpus beside the repository). */
export const corpus = resolve(repoRoot, process.env['LLMTAP_CORPUS'] ?? '../shared/corpus');

/** Corpus, network namespaces with tcpreplay, and the native binding: a capture on a veth pair. */
export function vethCaptureMissing(): (string | undefined)[] {
  return [
    !existsSync(corpus) ? `corpus not found at ${corpus}` : undefined,
    netnsUnavailable(),
    loadNative() instanceof Error ? 'native binding not built (npm run build:native)' : undefined,
  ];
}

/** The missing prerequisites of `checks`; under CI=true a test named `<what> prerequisites` fails with them. */
export function prerequisites(what: string, checks: (string | undefined)[]): string[] {
  const missing = checks.filter((x): x is string => x !== undefined);
  if (process.env['CI'] === 'true' && missing.length > 0) {
    it(`${what} prerequisites`, () => {
      throw new Error(missing.join('; '));
    });
  }
  return missing;
}
