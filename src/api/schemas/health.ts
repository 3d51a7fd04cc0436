/** Schemas of the unauthenticated health routes. */

export const healthSchema = {
  type: 'object',
  properties: { status: { type: 'string', enum: ['ok'] } },
  required: ['status'],
} as const;

export const readySchema = {
  type: 'object',
  properties: {
    ready: { type: 'boolean' },
    capture: { type: 'boolean' },
    db_writable: { type: 'boolean' },
  },
  required: ['ready', 'capture', 'db_writable'],
} as const;
