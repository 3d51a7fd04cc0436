/**
 * Every error the API answers with, declared once: HTTP status and a fixed message. The body is
 * always `{ error: { code, message } }` — never a stack trace, never the request's data echoed.
 */
export const API_ERRORS = {
  /** No `Authorization: Bearer` header, or a token no tenant holds. */
  LLMTAP_ERR_UNAUTHORIZED: { status: 401, message: 'missing or invalid bearer token' },
  /** A valid token of the wrong kind: a tenant's token on an operator route, or the reverse. */
  LLMTAP_ERR_FORBIDDEN: { status: 403, message: 'token not allowed on this route' },
  /** The id does not exist for this tenant (other tenants' ids answer the same). */
  LLMTAP_ERR_NOT_FOUND: { status: 404, message: 'not found' },
  /** Query string or path parameters fail their schema. */
  LLMTAP_ERR_BAD_QUERY: { status: 400, message: 'malformed query' },
  /** Request body fails its schema or is not valid JSON. */
  LLMTAP_ERR_BAD_BODY: { status: 400, message: 'malformed request body' },
  /** The cursor was not issued by this server for this tenant, or was altered. */
  LLMTAP_ERR_BAD_CURSOR: { status: 400, message: 'invalid cursor' },
  /** Not a well-formed HTTP request, or a URL that does not decode (bad percent-encoding). */
  LLMTAP_ERR_BAD_REQUEST: { status: 400, message: 'malformed request' },
  /** A path segment longer than the router accepts. */
  LLMTAP_ERR_URI_TOO_LONG: { status: 414, message: 'request URI too long' },
  /** Request line and headers larger than the server accepts (a very long URL lands here too). */
  LLMTAP_ERR_HEADERS_TOO_LARGE: { status: 431, message: 'request header fields too large' },
  /** Body larger than the route's limit. */
  LLMTAP_ERR_BODY_TOO_LARGE: { status: 413, message: 'request body too large' },
  /** Content-Type the route does not accept. */
  LLMTAP_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'unsupported content type' },
  /** Content-Encoding other than identity or gzip, or a corrupt gzip stream. */
  LLMTAP_ERR_BAD_ENCODING: { status: 400, message: 'unsupported or corrupt content encoding' },
  /** An EDR batch with no usable record (every line rejected, or not NDJSON / a JSON array). */
  LLMTAP_ERR_BAD_EDR_BATCH: { status: 400, message: 'EDR batch has no valid record' },
  /** Too many requests in the rate-limit window. */
  LLMTAP_ERR_RATE_LIMITED: { status: 429, message: 'rate limit exceeded' },
  /** The store is read-only or unavailable (e.g. disk full). */
  LLMTAP_ERR_UNAVAILABLE: { status: 503, message: 'service unavailable' },
  /** The route does not exist. */
  LLMTAP_ERR_NO_ROUTE: { status: 404, message: 'no such route' },
  /** A dependency rejected the request's data (e.g. an invalid allowlist entry). */
  LLMTAP_ERR_REJECTED: { status: 422, message: 'request rejected' },
  /** Anything else; details go to the log, not to the client. */
  LLMTAP_ERR_INTERNAL: { status: 500, message: 'internal error' },
} as const;

export type ApiErrorCode = keyof typeof API_ERRORS;

/** Thrown by route handlers; the app's error handler turns it into the coded body. */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly statusCode: number;
  /** Optional extra detail that is safe to show (never request data or payload). */
  readonly detail: string | undefined;

  constructor(code: ApiErrorCode, detail?: string) {
    super(API_ERRORS[code].message);
    this.code = code;
    this.statusCode = API_ERRORS[code].status;
    this.detail = detail;
  }
}

export interface ErrorBody {
  error: { code: ApiErrorCode; message: string };
}

export function errorBody(code: ApiErrorCode, detail?: string): ErrorBody {
  const base = API_ERRORS[code].message;
  return { error: { code, message: detail === undefined ? base : `${base}: ${detail}` } };
}
