/** What every route plugin receives besides the fastify scope. */
import type { CursorCodec } from '../cursor.js';
import type { ApiDeps } from '../deps.js';

export interface RouteContext {
  deps: ApiDeps;
  cursors: CursorCodec;
  /** llmtap version reported in OCSF metadata. */
  version: string;
}
