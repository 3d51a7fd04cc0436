/** Schemas of `POST /v1/edr/events`. The body is raw NDJSON or a JSON array (optionally gzip). */

export const edrResultSchema = {
  type: 'object',
  properties: {
    accepted: { type: 'integer' },
    rejected: { type: 'integer' },
    rejected_by_reason: { type: 'object', additionalProperties: { type: 'integer' } },
    by_format: { type: 'object', additionalProperties: { type: 'integer' } },
  },
  required: ['accepted', 'rejected', 'rejected_by_reason', 'by_format'],
} as const;

/** For the OpenAPI document only: the parser hands the handler a Buffer. */
export const edrBodyDoc = {
  description: 'NDJSON (application/x-ndjson) or a JSON array (application/json); Content-Encoding gzip allowed',
} as const;
