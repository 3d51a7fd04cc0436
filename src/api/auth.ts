/**
 * Bearer authentication. Each tenant holds one token; operators hold their own (config
 * `api.operator_tokens`). Config stores only SHA-256 hashes (hex). A request's token is hashed
 * and compared with every known hash with `crypto.timingSafeEqual` (equal 32-byte inputs, no
 * early exit), so neither the comparison nor the loop reveals how much of a token matched or
 * whose token came close.
 *
 * Scopes: a tenant token reaches its own tenant's data and nothing global; an operator token
 * reaches the global routes (rule reload, the full metrics) and no tenant's data. Each /v1 route
 * declares its scope in `config.scope` (default `tenant`); the wrong kind of valid token is
 * answered 403.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';

/** Which kind of token a route accepts. `any`: a tenant token (scoped to its tenant) or an operator token. */
export type RouteScope = 'tenant' | 'operator' | 'any';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated tenant; '' outside the authenticated scope and for operator tokens. */
    tenant: string;
    /** The authenticated operator's name; '' unless an operator token was presented. */
    operator: string;
  }
  interface FastifyContextConfig {
    /** Token kind the route accepts (default `tenant`). */
    scope?: RouteScope;
  }
}

export interface TenantCredential {
  tenant: string;
  /** SHA-256 of the bearer token, 64 lower-case hex characters. */
  tokenSha256: string;
}

export interface OperatorCredential {
  /** A name for logs and the audit trail (e.g. the team or the automation holding it). */
  name: string;
  tokenSha256: string;
}

/** The hash to put in config for a token (`llmtap` operators generate tokens themselves). */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

const MAX_TOKEN_CHARS = 512;

export type Principal = { kind: 'tenant'; tenant: string } | { kind: 'operator'; name: string };

export interface Authenticator {
  /** Who holds the `Authorization` header's token; throws 401 when absent or unknown. */
  principal(header: string | undefined): Principal;
  /** The /v1 onRequest hook: authenticates and enforces the route's scope. */
  hook(request: FastifyRequest, reply: FastifyReply): Promise<void>;
}

export function makeAuth(tenants: readonly TenantCredential[], operators: readonly OperatorCredential[] = []): Authenticator {
  const check = (who: string, hash: string): Buffer => {
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new Error(`${who}: tokenSha256 must be 64 lower-case hex characters`);
    return Buffer.from(hash, 'hex');
  };
  const table: Array<{ p: Principal; hash: Buffer }> = [];
  for (const c of tenants) {
    if (c.tenant.length === 0) throw new Error('tenant id must not be empty');
    table.push({ p: { kind: 'tenant', tenant: c.tenant }, hash: check(`tenant ${c.tenant}`, c.tokenSha256) });
  }
  for (const o of operators) {
    if (o.name.length === 0) throw new Error('operator name must not be empty');
    const hash = check(`operator ${o.name}`, o.tokenSha256);
    // One token, one scope: a token that is both a tenant's and an operator's would be either.
    if (tenants.some((t) => t.tokenSha256 === o.tokenSha256)) throw new Error(`operator ${o.name}: the token is also a tenant's token`);
    table.push({ p: { kind: 'operator', name: o.name }, hash });
  }

  /** Runs over every credential regardless of matches. */
  function lookup(token: string): Principal | undefined {
    const h = createHash('sha256').update(token, 'utf8').digest();
    let found: Principal | undefined;
    for (const t of table) {
      if (timingSafeEqual(h, t.hash) && found === undefined) found = t.p;
    }
    return found;
  }

  function principal(header: string | undefined): Principal {
    if (typeof header !== 'string' || header.length > MAX_TOKEN_CHARS + 7) throw new ApiError('LLMTAP_ERR_UNAUTHORIZED');
    const m = /^Bearer ([\x21-\x7e]+)$/i.exec(header);
    const token = m?.[1];
    if (token === undefined) throw new ApiError('LLMTAP_ERR_UNAUTHORIZED');
    const p = lookup(token);
    if (p === undefined) throw new ApiError('LLMTAP_ERR_UNAUTHORIZED');
    return p;
  }

  async function hook(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const p = principal(request.headers.authorization);
    const scope = request.routeOptions.config.scope ?? 'tenant';
    if (p.kind === 'tenant') {
      if (scope === 'operator') throw new ApiError('LLMTAP_ERR_FORBIDDEN', 'this route needs an operator token');
      request.tenant = p.tenant;
    } else {
      if (scope === 'tenant') throw new ApiError('LLMTAP_ERR_FORBIDDEN', "this route needs a tenant's token");
      request.operator = p.name;
    }
  }

  return { principal, hook };
}
