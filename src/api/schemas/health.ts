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
    overload: {
      type: 'object',
      description: 'Live capture: the overload level (0 normal, 1 new flows not dissected, 2 new flows not dissected nor analyzed), degraded but ready.',
      properties: {
        level: { type: 'integer', enum: [0, 1, 2] },
        state: { type: 'string', enum: ['normal', 'shed_dissect', 'shed_analysis'] },
        new_flows_per_s: { type: 'integer' },
        lag_s: { type: 'number' },
        undissected_flows: { type: 'integer', description: 'Flows created while dissect was shed, since start.' },
        unanalyzed_flows: { type: 'integer', description: 'Flows created while analysis was shed, since start.' },
      },
      required: ['level', 'state', 'new_flows_per_s', 'lag_s', 'undissected_flows', 'unanalyzed_flows'],
    },
  },
  required: ['ready', 'capture', 'db_writable'],
} as const;
