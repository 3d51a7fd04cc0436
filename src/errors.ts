/**
 * Coded errors for configuration, API and CLI paths. Each code is declared once here with the
 * message a user reads first; the `detail` given at the throw site says what exactly was wrong
 * (file, rule id, line, key). Hot paths never throw these: they return reasons.
 */

export const ERROR_MESSAGES = {
  /** A rule file (default rule set, tenant rules or an export document) is invalid. */
  LLMTAP_ERR_RULES: 'invalid rule file',
  /** A CLI command was called with wrong or missing arguments. */
  LLMTAP_ERR_USAGE: 'invalid command line',
  /** A file could not be read or written. */
  LLMTAP_ERR_IO: 'file access failed',
} as const;

export type LlmtapErrorCode = keyof typeof ERROR_MESSAGES;

export class LlmtapError extends Error {
  readonly code: LlmtapErrorCode;
  /** The specific problem, without the generic message prefix. */
  readonly detail: string;

  constructor(code: LlmtapErrorCode, detail: string, options?: { cause?: unknown }) {
    super(`${ERROR_MESSAGES[code]}: ${detail}`, options);
    this.name = 'LlmtapError';
    this.code = code;
    this.detail = detail;
  }
}

export function isLlmtapError(e: unknown, code?: LlmtapErrorCode): e is LlmtapError {
  return e instanceof LlmtapError && (code === undefined || e.code === code);
}
