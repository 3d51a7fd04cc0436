/** Allowlist entries, warm-up candidates and the known-process inventory of the tenant. */
import type { FastifyPluginAsync } from 'fastify';
import { ApiError } from '../errors.js';
import type { NewAllowlistEntry } from '../deps.js';
import { presentAllowlist, presentCandidate } from '../present.js';
import {
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
  sha256?: string;
  process_name?: string;
  provider?: string;
  note?: string;
}

interface InventoryBody {
  items: Array<{ sha256: string; name?: string }>;
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
      async (request) => ({ items: store.listAllowlist(request.tenant).map(presentAllowlist) }),
    );

    app.post<{ Body: AddBody }>(
      '/allowlist',
      {
        schema: {
          summary: 'Add an allowlist entry (binary hash and/or process name, optionally one provider)',
          body: allowlistAddBody,
          response: withErrors({ 201: allowlistEntrySchema }),
        },
      },
      async (request, reply) => {
        requireWritable();
        const b = request.body;
        const entry: NewAllowlistEntry = {};
        if (b.sha256 !== undefined) entry.sha256 = b.sha256;
        if (b.process_name !== undefined) entry.processName = b.process_name;
        if (b.provider !== undefined) entry.provider = b.provider;
        if (b.note !== undefined) entry.note = b.note;
        const saved = store.addAllowlist(request.tenant, entry);
        reply.code(201);
        return presentAllowlist(saved);
      },
    );

    app.delete<{ Params: { id: string } }>(
      '/allowlist/:id',
      { schema: { summary: 'Remove an allowlist entry', params: idParams, response: withErrors({ 200: deletedSchema }) } },
      async (request) => {
        requireWritable();
        if (!store.removeAllowlist(request.tenant, request.params.id)) throw new ApiError('LLMTAP_ERR_NOT_FOUND');
        return { deleted: true };
      },
    );

    app.get(
      '/candidates',
      { schema: { summary: 'Allowlist candidates seen during warm-up', response: withErrors({ 200: candidateListSchema }) } },
      async (request) => ({ items: store.listCandidates(request.tenant).map(presentCandidate) }),
    );

    app.post<{ Params: { id: string } }>(
      '/candidates/:id/approve',
      {
        schema: {
          summary: 'Approve a candidate onto the allowlist',
          params: idParams,
          response: withErrors({ 200: allowlistEntrySchema }),
        },
      },
      async (request) => {
        requireWritable();
        const entry = store.approveCandidate(request.tenant, request.params.id);
        if (entry === undefined) throw new ApiError('LLMTAP_ERR_NOT_FOUND');
        return presentAllowlist(entry);
      },
    );

    app.post<{ Body: InventoryBody }>(
      '/inventory',
      {
        schema: {
          summary: 'Import known binary hashes (the known process inventory H7 consults)',
          body: inventoryBody,
          response: withErrors({ 200: inventoryResultSchema }),
        },
      },
      async (request) => {
        requireWritable();
        const items = request.body.items.map((i) => (i.name !== undefined ? { sha256: i.sha256, name: i.name } : { sha256: i.sha256 }));
        const added = store.importInventory(request.tenant, items);
        return { received: items.length, added };
      },
    );
  };
}
