/**
 * `POST /v1/edr/events`: EDR connection records into the join. The body is NDJSON or a JSON
 * array, optionally gzip-compressed. The body limit applies to the bytes on the wire and the
 * decompressed size is capped separately (a gzip bomb stops at the cap, answered 413). The
 * parser hands the raw bytes to the ingest, which validates record by record.
 */
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { FastifyPluginAsync } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { ApiError } from '../errors.js';
import { withErrors } from '../schemas/common.js';
import { edrBodyDoc, edrResultSchema } from '../schemas/edr.js';
import type { EdrIngestResult } from '../deps.js';
import { reasonLabel } from '../../metrics.js';
import type { RouteContext } from './context.js';

const gunzipAsync = promisify(gunzip);

export interface EdrRouteOptions {
  /** Largest request body on the wire, bytes. */
  bodyLimitBytes: number;
  /** Largest decompressed body, bytes. */
  inflatedLimitBytes: number;
  /** Requests per tenant per window. */
  rateMax: number;
  rateWindowMs: number;
}

const MEDIA_TYPES = ['application/json', 'application/x-ndjson', 'application/ndjson', 'application/jsonl'];

async function inflate(body: Buffer, encoding: string | undefined, limit: number): Promise<Buffer> {
  const enc = (encoding ?? 'identity').trim().toLowerCase();
  if (enc === 'identity' || enc === '') return body;
  if (enc !== 'gzip' && enc !== 'x-gzip') throw new ApiError('LLMTAP_ERR_BAD_ENCODING', 'only gzip is accepted');
  try {
    return await gunzipAsync(body, { maxOutputLength: limit });
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) throw new ApiError('LLMTAP_ERR_BODY_TOO_LARGE', 'decompressed body over the limit');
    throw new ApiError('LLMTAP_ERR_BAD_ENCODING', 'corrupt gzip stream');
  }
}

export function edrRoutes(ctx: RouteContext, opts: EdrRouteOptions): FastifyPluginAsync {
  return async (app) => {
    await app.register(rateLimit, {
      global: false,
      hook: 'preHandler',
      keyGenerator: (request) => request.tenant || request.ip,
      errorResponseBuilder: () => new ApiError('LLMTAP_ERR_RATE_LIMITED'),
    });
    // This scope accepts only the batch media types, as raw bytes (the ingest parses them).
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(MEDIA_TYPES, { parseAs: 'buffer', bodyLimit: opts.bodyLimitBytes }, (_req, body, done) => {
      done(null, body);
    });

    app.post(
      '/edr/events',
      {
        bodyLimit: opts.bodyLimitBytes,
        config: { rateLimit: { max: opts.rateMax, timeWindow: opts.rateWindowMs } },
        schema: {
          summary: 'Ingest EDR connection records (NDJSON or JSON array, optionally gzip)',
          description: edrBodyDoc.description,
          response: withErrors({ 200: edrResultSchema }),
        },
      },
      async (request) => {
        const raw = request.body;
        if (!Buffer.isBuffer(raw) || raw.length === 0) throw new ApiError('LLMTAP_ERR_BAD_EDR_BATCH', 'empty body');
        const ce = request.headers['content-encoding'];
        const body = await inflate(raw, typeof ce === 'string' ? ce : undefined, opts.inflatedLimitBytes);
        let r: EdrIngestResult;
        try {
          r = await ctx.deps.ingestEdr(request.tenant, body);
        } catch (err) {
          const code = (err as { code?: unknown }).code;
          if (code === 'LLMTAP_ERR_EDR_TOO_LARGE') throw new ApiError('LLMTAP_ERR_BODY_TOO_LARGE');
          if (typeof code === 'string' && code.startsWith('LLMTAP_ERR_EDR_')) throw new ApiError('LLMTAP_ERR_BAD_EDR_BATCH', code);
          throw err;
        }
        let rejected = 0;
        for (const v of Object.values(r.rejected)) rejected += v;
        if (r.accepted === 0) {
          const reasons = Object.keys(r.rejected).map(reasonLabel).sort().join(', ');
          throw new ApiError('LLMTAP_ERR_BAD_EDR_BATCH', `0 accepted, ${rejected} rejected (${reasons || 'no records'})`);
        }
        return { accepted: r.accepted, rejected, rejected_by_reason: r.rejected, by_format: r.byFormat };
      },
    );
  };
}
