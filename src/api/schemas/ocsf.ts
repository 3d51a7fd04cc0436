/** JSON Schema of the OCSF Detection Finding objects llmtap emits (see ../ocsf.ts for the mapping). */

const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;

const hashSchema = {
  type: 'object',
  properties: { algorithm_id: int, algorithm: str, value: str },
  required: ['algorithm_id', 'value'],
} as const;

const fileSchema = {
  type: 'object',
  properties: { name: str, type_id: int, type: str, hashes: { type: 'array', items: hashSchema } },
  required: ['name', 'type_id'],
} as const;

const endpointSchema = {
  type: 'object',
  properties: { ip: str, uid: str, name: str, hostname: str, port: int },
} as const;

export const ocsfFindingSchema = {
  type: 'object',
  properties: {
    class_uid: { type: 'integer', const: 2004 },
    class_name: str,
    category_uid: { type: 'integer', const: 2 },
    category_name: str,
    activity_id: int,
    activity_name: str,
    type_uid: int,
    type_name: str,
    time: int,
    severity_id: int,
    severity: str,
    status_id: int,
    status: str,
    confidence_id: int,
    confidence: str,
    count: int,
    message: str,
    metadata: {
      type: 'object',
      properties: {
        version: str,
        profiles: { type: 'array', items: str },
        uid: str,
        sequence: int,
        tenant_uid: str,
        product: {
          type: 'object',
          properties: { name: str, vendor_name: str, version: str },
          required: ['name', 'vendor_name'],
        },
      },
      required: ['version', 'product'],
    },
    finding_info: {
      type: 'object',
      properties: {
        uid: str,
        title: str,
        types: { type: 'array', items: str },
        first_seen_time: int,
        last_seen_time: int,
        related_events: { type: 'array', items: { type: 'object', properties: { uid: str }, required: ['uid'] } },
        analytic: {
          type: 'object',
          properties: { name: str, type_id: int, type: str, uid: str },
          required: ['type_id'],
        },
      },
      required: ['uid', 'title'],
    },
    device: {
      type: 'object',
      properties: { uid: str, name: str, ip: str, type_id: int, type: str },
      required: ['type_id'],
    },
    evidences: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          src_endpoint: endpointSchema,
          dst_endpoint: endpointSchema,
          connection_info: {
            type: 'object',
            properties: {
              direction_id: int,
              direction: str,
              protocol_num: int,
              protocol_name: str,
              protocol_ver_id: int,
              protocol_ver: str,
            },
            required: ['direction_id'],
          },
          process: {
            type: 'object',
            properties: { pid: int, name: str, file: fileSchema },
            required: ['pid'],
          },
          file: fileSchema,
        },
      },
    },
    observables: {
      type: 'array',
      items: {
        type: 'object',
        properties: { name: str, type_id: int, type: str, value: str },
        required: ['name', 'type_id'],
      },
    },
    unmapped: {
      type: 'object',
      properties: {
        heuristic: str,
        provider: str,
        providers: { type: 'array', items: str },
        category: str,
        categories: { type: 'array', items: str },
        hosts: { type: 'array', items: str },
        host: str,
        host_source: str,
        rule_id: str,
        bytes_out: int,
        bytes_in: int,
        community_ids: { type: 'array', items: str },
        confidence_reasons: { type: 'array', items: str },
      },
    },
  },
  required: [
    'class_uid', 'category_uid', 'activity_id', 'type_uid', 'time', 'severity_id', 'status_id',
    'metadata', 'finding_info',
  ],
} as const;
