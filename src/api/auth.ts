/**
 * Tenant bearer authentication. Each tenant holds one token; config stores only its SHA-256
 * (hex). A request's token is hashed and compared with every tenant's hash with
 * `crypto.timingSafeEqual` (equal 32-byte inputs, no early exit), so neither the comparison nor
 * the loop reveals how much of a token matched or which tenant came close.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated tenant; '' outside the authenticated scope. */
    tenant: string;
  }
}

export interface TenantCredential {
  tenant: string;
  /** SHA-256 of the bearer token, 64 lower-case hex characters. */
  tokenSha256: string;
}

/** The hash to put in config for a token (`llmtap` operators generate tokens themselves). */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

const MAX_TOKEN_CHARS = 512;

export function makeTenantAuth(creds: readonly TenantCredential[]) {
  const table = creds.map((c) => {
    if (!/^[0-9a-f]{64}$/.test(c.tokenSha256)) {
      throw new Error(`tenant ${c.tenant}: tokenSha256 must be 64 lower-case hex characters`);
    }
    if (c.tenant.length === 0) throw new Error('tenant id must not be empty');
    return { tenant: c.tenant, hash: Buffer.from(c.tokenSha256, 'hex') };
  });

  /** The tenant holding `token`, or undefined. Runs over every tenant regardless of matches. */
  function tenantFor(token: string): string | undefined {
    const h = createHash('sha256').update(token, 'utf8').digest();
    let found: string | undefined;
    for (const t of table) {
      if (timingSafeEqual(h, t.hash) && found === undefined) found = t.tenant;
    }
    return found;
  }

  return async function tenantAuth(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const header = request.headers.authorization;
    if (typeof header !== 'string' || header.length > MAX_TOKEN_CHARS + 7) {
      throw new ApiError('LLMTAP_ERR_UNAUTHORIZED');
    }
    const m = /^Bearer ([\x21-\x7e]+)$/i.exec(header);
    const token = m?.[1];
    if (token === undefined) throw new ApiError('LLMTAP_ERR_UNAUTHORIZED');
    const tenant = tenantFor(token);
    if (tenant === undefined) throw new ApiError('LLMTAP_ERR_UNAUTHORIZED');
    request.tenant = tenant;
  };
}
