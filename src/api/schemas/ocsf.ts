/** JSON Schema of the OCSF Detection Finding objects llmtap emits (see ../ocsf.ts for the mapping). */

const hashSchema = {
  type: 'object',
  properties: { algorithm_id: { type: 'integer' }, algorithm: { type: 'string' }, value: { type: 'string' } },
  required: ['algorithm_id', 'value'],
} as const;

export const ocsfFindingSchema = {
  type: 'object',
  properties: {
    class_uid: { type: 'integer', const: 2004 },
    class_name: { type: 'string' },
    category_uid: { type: 'integer', const: 2 },
    category_name: { type: 'string' },
    activity_id: { type: 'integer' },
    activity_name: { type: 'string' },
    type_uid: { type: 'integer' },
    type_name: { type: 'string' },
    time: { type: 'integer' },
    severity_id: { type: 'integer' },
    severity: { type: 'string' },
    status_id: { type: 'integer' },
    status: { type: 'string' },
    count: { type: 'integer' },
    message: { type: 'string' },
    metadata: {
      type: 'object',
      properties: {
        version: { type: 'string' },
        uid: { type: 'string' },
        sequence: { type: 'integer' },
        tenant_uid: { type: 'string' },
        product: {
          type: 'object',
          properties: { name: { type: 'string' }, vendor_name: { type: 'string' }, version: { type: 'string' } },
          required: ['name', 'vendor_name'],
        },
      },
      required: ['version', 'product'],
    },
    finding_info: {
      type: 'object',
      properties: {
        uid: { type: 'string' },
        title: { type: 'string' },
        types: { type: 'array', items: { type: 'string' } },
        first_seen_time: { type: 'integer' },
        last_seen_time: { type: 'integer' },
        related_events_uids: { type: 'array', items: { type: 'string' } },
        analytic: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            type_id: { type: 'integer' },
            type: { type: 'string' },
            uid: { type: 'string' },
          },
          required: ['type_id'],
        },
      },
      required: ['uid', 'title'],
    },
    device: {
      type: 'object',
      properties: {
        uid: { type: 'string' },
        name: { type: 'string' },
        ip: { type: 'string' },
        type_id: { type: 'integer' },
      },
      required: ['type_id'],
    },
    evidences: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          process: {
            type: 'object',
            properties: {
              name: { type: 'string' },
              file: {
                type: 'object',
                properties: {
                  name: { type: 'string' },
                  type_id: { type: 'integer' },
                  hashes: { type: 'array', items: hashSchema },
                },
                required: ['type_id'],
              },
            },
          },
          dst_endpoint: {
            type: 'object',
            properties: { hostname: { type: 'string' } },
          },
        },
      },
    },
    unmapped: {
      type: 'object',
      properties: {
        heuristic: { type: 'string' },
        provider: { type: 'string' },
        category: { type: 'string' },
        host_source: { type: 'string' },
        rule_id: { type: 'string' },
        bytes_out: { type: 'integer' },
        bytes_in: { type: 'integer' },
        community_ids: { type: 'array', items: { type: 'string' } },
      },
    },
  },
  required: [
    'class_uid', 'category_uid', 'activity_id', 'type_uid', 'time', 'severity_id', 'status_id',
    'metadata', 'finding_info',
  ],
} as const;
