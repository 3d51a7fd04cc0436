/** Allowlist entries, warm-up candidates and the known-process inventory of the tenant. */
import type { FastifyPluginAsync } from 'fastify';
import type { AiCategory } from '../../records.js';
import { ApiError } from '../errors.js';
import type { NewAllowlistEntry } from '../deps.js';
import { presentAllowlist, presentCandidate } from '../present.js';
import {
  approveBody,
  allowlistAddBody,
  allowlistEntrySchema,
  allowlistListSchema,
  candidateListSchema,
  inventoryBody,
  inventoryResultSchema,
} from '../schemas/allowlist.js';
import { idParams, withErrors } from '../schemas/common.js';
import type { RouteContext } from './context.js';

interface AddBody {
  process_name: string;
  binary_hash?: string;
  device_group?: string;
  provider?: string;
  category?: AiCategory;
  justification: string;
  expires?: string;
}

interface InventoryBody {
  hashes: string[];
  source?: string;
}

/** Store ids are positive integers; anything else cannot name a row of this tenant. */
function rowId(text: string): number {
  if (!/^[1-9][0-9]{0,15}$/.test(text)) throw new ApiError('LLMTAP_ERR_NOT_FOUND');
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new ApiError('LLMTAP_ERR_NOT_FOUND');
  return n;
}

const deletedSchema = {
  type: 'object',
  properties: { deleted: { type: 'boolean' } },
  required: ['deleted'],
} as const;

export function allowlistRoutes(ctx: RouteContext): FastifyPluginAsync {
  const { store } = ctx.deps;
  const requireWritable = (): void => {
    if (!store.writable()) throw new ApiError('LLMTAP_ERR_UNAVAILABLE', 'store is read-only');
  };
  return async (app) => {
    app.get(
      '/allowlist',
      { schema: { summary: 'Allowlist entries', response: withErrors({ 200: allowlistListSchema }) } },
      async (request) => ({ items: (await store.listAllowlist(request.tenant)).map(presentAllowlist) }),
    );

    app.post<{ Body: AddBody }>(
      '/allowlist',
      {
        schema: {
          summary: 'Add an allowlist entry (a process, optionally pinned to a binary hash, device group, provider, category; with a justification)',
          body: allowlistAddBody,
          response: withErrors({ 201: allowlistEntrySchema }),
        },
      },
      async (request, reply) => {
        requireWritable();
        const b = request.body;
        const entry: NewAllowlistEntry = { processName: b.process_name, justification: b.justification };
        if (b.binary_hash !== undefined) entry.binaryHash = b.binary_hash.toLowerCase();
        if (b.device_group !== undefined) entry.deviceGroup = b.device_group;
        if (b.provider !== undefined) entry.provider = b.provider;
        if (b.category !== undefined) entry.category = b.category;
        if (b.expires !== undefined) {
          const ms = Date.parse(b.expires);
          // An entry that could never match is a mistake, not an entry.
          if (!(ms > Date.now())) throw new ApiError('LLMTAP_ERR_REJECTED', 'expires is in the past');
          entry.expiresAtMs = ms;
        }
        const saved = await store.addAllowlist(request.tenant, entry);
        reply.code(201);
        return presentAllowlist(saved);
      },
    );

    app.delete<{ Params: { id: string } }>(
      '/allowlist/:id',
      { schema: { summary: 'Remove an allowlist entry', params: idParams, response: withErrors({ 200: deletedSchema }) } },
      async (request) => {
        requireWritable();
        if (!(await store.removeAllowlist(request.tenant, rowId(request.params.id)))) throw new ApiError('LLMTAP_ERR_NOT_FOUND');
        return { deleted: true };
      },
    );

    app.get(
      '/candidates',
      { schema: { summary: 'Allowlist candidates seen during warm-up', response: withErrors({ 200: candidateListSchema }) } },
      async (request) => ({ items: (await store.listCandidates(request.tenant)).map(presentCandidate) }),
    );

    app.post<{ Params: { id: string }; Body: { justification: string } }>(
      '/candidates/:id/approve',
      {
        schema: {
          summary: 'Approve a candidate onto the allowlist',
          params: idParams,
          body: approveBody,
          response: withErrors({ 200: allowlistEntrySchema }),
        },
      },
      async (request) => {
        requireWritable();
        const entry = await store.approveCandidate(request.tenant, rowId(request.params.id), request.body.justification);
        if (entry === undefined) throw new ApiError('LLMTAP_ERR_NOT_FOUND');
        return presentAllowlist(entry);
      },
    );

    app.post<{ Body: InventoryBody }>(
      '/inventory',
      {
        schema: {
          summary: 'Import known binary hashes (SHA-256 or SHA-1; the known process inventory H7 consults)',
          body: inventoryBody,
          response: withErrors({ 200: inventoryResultSchema }),
        },
      },
      async (request) => {
        requireWritable();
        const hashes = request.body.hashes.map((h) => h.toLowerCase());
        const imported = await store.importInventory(request.tenant, hashes, request.body.source ?? 'api');
        return { received: hashes.length, imported };
      },
    );
  };
}
