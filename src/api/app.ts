/**
 * The API factory: `buildApp(opts, deps)` returns a ready-to-listen fastify instance.
 *
 * Layout (fastify encapsulation): the root carries the error handler, swagger and the
 * health/metrics routes (open; /metrics shows more to an operator token); a `/v1` child context
 * adds the bearer hook and registers the data routes under it, so authentication guards exactly
 * those routes, each in its scope (tenant, operator or either; see auth.ts). Every
 * route has JSON Schemas for query/params/body and responses; responses serialize only listed
 * fields (the privacy guard), and every error leaves as `{ error: { code, message } }`.
 */
import { createHash } from 'node:crypto';
import Fastify from 'fastify';
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditEvent } from '../records.js';
import swagger from '@fastify/swagger';
import { makeAuth } from './auth.js';
import type { OperatorCredential, TenantCredential } from './auth.js';
import { CursorCodec } from './cursor.js';
import type { ApiDeps } from './deps.js';
import { ApiError, errorBody } from './errors.js';
import type { ApiErrorCode } from './errors.js';
import { alertRoutes } from './routes/alerts.js';
import { allowlistRoutes } from './routes/allowlist.js';
import type { RouteContext } from './routes/context.js';
import { edrRoutes } from './routes/edr.js';
import type { EdrRouteOptions } from './routes/edr.js';
import { healthRoutes } from './routes/health.js';
import { observationRoutes } from './routes/observations.js';
import { ruleRoutes } from './routes/rules.js';
import { usageRoutes } from './routes/usage.js';
import { LLMTAP_VERSION } from '../version.js';

export interface ApiOptions {
  tenants: readonly TenantCredential[];
  /** Operator credentials: the global routes (rule reload, the full /metrics). None by default. */
  operators?: readonly OperatorCredential[];
  /**
   * HMAC key of paging cursors (≥ 16 bytes). Keep it stable across restarts or pollers'
   * cursors become invalid; when absent it is derived from the tenants' token hashes.
   */
  cursorKey?: Buffer;
  /** Reported in OCSF metadata.product.version. */
  version?: string;
  /** Body limit of JSON routes, bytes (default 1 MiB). */
  bodyLimitBytes?: number;
  /** EDR ingest limits (defaults: 16 MiB on the wire, 64 MiB inflated, 120 requests/min/tenant). */
  edr?: Partial<EdrRouteOptions>;
  /** pino logger; none by default. */
  logger?: FastifyBaseLogger;
  /** TLS: serve HTTPS with this key and certificate (PEM). */
  https?: { key: Buffer | string; cert: Buffer | string };
}

const DEFAULT_BODY_LIMIT = 1024 * 1024;
const DEFAULT_EDR: EdrRouteOptions = {
  bodyLimitBytes: 16 * 1024 * 1024,
  inflatedLimitBytes: 64 * 1024 * 1024,
  rateMax: 120,
  rateWindowMs: 60_000,
};

function deriveCursorKey(tenants: readonly TenantCredential[]): Buffer {
  const h = createHash('sha256').update('llmtap cursor key v1');
  for (const t of [...tenants].sort((a, b) => (a.tenant < b.tenant ? -1 : 1))) {
    h.update(`\u0000${t.tenant}\u0000${t.tokenSha256}`);
  }
  return h.digest();
}

/** Maps whatever a handler, hook, parser or validator threw to one coded error. */
function classify(err: FastifyError | ApiError): { code: ApiErrorCode; detail?: string } {
  if (err instanceof ApiError) return err.detail === undefined ? { code: err.code } : { code: err.code, detail: err.detail };
  // a store write the database could not take (the PostgreSQL store fails the request; it never queues silently)
  if ((err as { code?: unknown }).code === 'LLMTAP_ERR_STORE_FAULT') return { code: 'LLMTAP_ERR_UNAVAILABLE', detail: 'store not writable' };
  const fe = err as FastifyError;
  if (fe.validation !== undefined) {
    const where = fe.validationContext;
    const code: ApiErrorCode = where === 'body' ? 'LLMTAP_ERR_BAD_BODY' : 'LLMTAP_ERR_BAD_QUERY';
    // ajv messages name the field and the constraint, never the value sent.
    return { code, detail: fe.message };
  }
  switch (fe.statusCode) {
    case 413:
      return { code: 'LLMTAP_ERR_BODY_TOO_LARGE' };
    case 415:
      return { code: 'LLMTAP_ERR_UNSUPPORTED_MEDIA_TYPE' };
    case 429:
      return { code: 'LLMTAP_ERR_RATE_LIMITED' };
    case 404:
      return { code: 'LLMTAP_ERR_NO_ROUTE' };
    default:
      break;
  }
  if (fe.statusCode !== undefined && fe.statusCode >= 400 && fe.statusCode < 500) return { code: 'LLMTAP_ERR_BAD_BODY' };
  return { code: 'LLMTAP_ERR_INTERNAL' };
}

/** The raw HTTP answer for errors Node's parser raises before fastify sees a request. */
function rawError(code: ApiErrorCode): string {
  const body = JSON.stringify(errorBody(code));
  const status = statusFor(code);
  const reason = code === 'LLMTAP_ERR_HEADERS_TOO_LARGE' ? 'Request Header Fields Too Large' : 'Bad Request';
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/**
 * Node's HTTP parser rejects a request it cannot read (headers over the limit, a malformed
 * request line) before routing; answer with the coded body, never the default text or the URL.
 */
function clientErrorHandler(err: NodeJS.ErrnoException, socket: import('node:net').Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  if (socket.writable && err.code !== 'ERR_HTTP_REQUEST_TIMEOUT') {
    socket.write(rawError(err.code === 'HPE_HEADER_OVERFLOW' ? 'LLMTAP_ERR_HEADERS_TOO_LARGE' : 'LLMTAP_ERR_BAD_REQUEST'));
  }
  socket.destroy(err);
}

export async function buildApp(opts: ApiOptions, deps: ApiDeps): Promise<FastifyInstance> {
  const base = {
    clientErrorHandler,
    // The router's own refusals (undecodable URL, an over-long path segment): coded, no URL echo.
    frameworkErrors: (err: FastifyError, _request: unknown, reply: import('fastify').FastifyReply) => {
      const code: ApiErrorCode = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'LLMTAP_ERR_URI_TOO_LONG' : 'LLMTAP_ERR_BAD_REQUEST';
      void reply.code(statusFor(code)).type('application/json; charset=utf-8').send(errorBody(code));
    },
    bodyLimit: opts.bodyLimitBytes ?? DEFAULT_BODY_LIMIT,
    ajv: { customOptions: { removeAdditional: false as const, coerceTypes: 'array' as const, useDefaults: true } },
    ...(opts.logger !== undefined ? { loggerInstance: opts.logger } : { logger: false }),
  };
  // fastify's HTTPS overload returns an instance typed over https.Server; the routes only use
  // the common surface, so both are handled as the default instance type.
  const app = (opts.https !== undefined
    ? Fastify({ ...base, https: { key: opts.https.key, cert: opts.https.cert } })
    : Fastify(base)) as unknown as FastifyInstance;

  const ctx: RouteContext = {
    deps,
    cursors: new CursorCodec(opts.cursorKey ?? deriveCursorKey(opts.tenants)),
    version: opts.version ?? LLMTAP_VERSION,
  };
  const auth = makeAuth(opts.tenants, opts.operators ?? []);
  const edr: EdrRouteOptions = { ...DEFAULT_EDR, ...opts.edr };

  app.decorateRequest('tenant', '');
  app.decorateRequest('operator', '');
  const apiRequests = deps.apiRequests;
  if (apiRequests !== undefined) {
    app.addHook('onResponse', async (request, reply) => {
      // The route template (bounded), never the raw URL with ids or query values.
      apiRequests.inc({ route: request.routeOptions.url ?? 'unmatched', code: String(reply.statusCode) });
    });
  }

  const apiLatency = deps.apiLatency;
  if (apiLatency !== undefined) {
    app.addHook('onResponse', async (request, reply) => {
      apiLatency.observe({ route: request.routeOptions.url ?? 'unmatched' }, reply.elapsedTime / 1000);
    });
  }

  app.setErrorHandler<FastifyError | ApiError>((err, request, reply) => {
    const { code, detail } = classify(err);
    const body = errorBody(code, detail);
    if (code === 'LLMTAP_ERR_INTERNAL') request.log.error({ err }, 'api: internal error');
    void reply.code(statusFor(code)).type('application/json').send(body);
  });
  app.setNotFoundHandler((_request, reply) => {
    void reply.code(404).type('application/json').send(errorBody('LLMTAP_ERR_NO_ROUTE'));
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'llmtap API', version: ctx.version, description: 'Alerts, observations, rules and EDR ingest of an llmtap sensor' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });

  await app.register(healthRoutes(ctx, auth));
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(
    async (v1) => {
      v1.addHook('onRequest', auth.hook);
      const audit = deps.audit;
      if (audit !== undefined) v1.addHook('onSend', async (request, reply, payload) => {
        auditRequest(audit, request, reply.statusCode, payload);
        return payload;
      });
      await v1.register(alertRoutes(ctx));
      await v1.register(observationRoutes(ctx));
      await v1.register(usageRoutes(ctx));
      await v1.register(allowlistRoutes(ctx));
      await v1.register(ruleRoutes(ctx));
      await v1.register(edrRoutes(ctx, edr));
    },
    { prefix: '/v1' },
  );

  return app;
}

/** The changing routes and the audit action each is (route template → action). */
const AUDITED: Record<string, string> = {
  'POST /v1/allowlist': 'allowlist.add',
  'DELETE /v1/allowlist/:id': 'allowlist.remove',
  'POST /v1/candidates/:id/approve': 'candidate.approve',
  'POST /v1/inventory': 'inventory.import',
  'POST /v1/alerts/:id/status': 'alert.status',
  'POST /v1/rules/reload': 'rules.reload',
};
/** Body fields an audit line repeats (identifiers and new values; never a token or free text beyond the justification). */
const AUDIT_FIELDS = ['status', 'process_name', 'binary_hash', 'device_group', 'provider', 'category', 'expires', 'justification', 'source'];

function auditRequest(audit: (e: AuditEvent) => void, request: FastifyRequest, status: number, payload: unknown): void {
  const action = AUDITED[`${request.method} ${request.routeOptions.url ?? ''}`];
  if (action === undefined) return;
  const who = request.operator !== '' ? `operator:${request.operator}` : request.tenant !== '' ? `tenant:${request.tenant}` : '';
  if (who === '') return; // not authenticated: refused before the route, nothing changed
  const e: AuditEvent = { action, who, ok: status < 400, status };
  if (request.tenant !== '') e.tenant = request.tenant;
  const params = request.params as Record<string, unknown> | undefined;
  const body = request.body as Record<string, unknown> | undefined;
  let target = typeof params?.['id'] === 'string' ? params['id'] : undefined;
  const detail: Record<string, unknown> = {};
  if (body !== undefined && body !== null && typeof body === 'object') {
    for (const k of AUDIT_FIELDS) if (body[k] !== undefined) detail[k] = body[k];
    if (Array.isArray(body['hashes'])) detail['hashes'] = body['hashes'].length;
  }
  if (e.ok && typeof payload === 'string') {
    try {
      const r = JSON.parse(payload) as Record<string, unknown>;
      if (target === undefined && (typeof r['id'] === 'string' || typeof r['id'] === 'number')) target = String(r['id']);
      for (const k of ['imported', 'rules_version']) if (r[k] !== undefined) detail[k] = r[k];
    } catch {
      // not JSON: nothing more to say
    }
  }
  if (target !== undefined) e.target = target;
  if (Object.keys(detail).length > 0) e.detail = detail;
  audit(e);
}

function statusFor(code: ApiErrorCode): number {
  return new ApiError(code).statusCode;
}
