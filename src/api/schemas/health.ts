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
    db_fault: { type: 'string', enum: ['full', 'io', 'readonly', 'busy', 'cantopen'], description: 'While the database cannot take writes: disk full, I/O error, read-only file, locked by another connection, cannot be opened.' },
    db_fault_detail: { type: 'string', description: "SQLite's message for the fault." },
    db_queued: { type: 'integer', description: 'Writes (alerts first) held in memory until the fault clears.' },
  },
  required: ['ready', 'capture', 'db_writable'],
} as const;
