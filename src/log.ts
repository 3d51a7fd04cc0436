/**
 * The service log (pino): JSON lines, one object per line, when stderr is not a terminal (systemd's
 * journal, a container runtime, a file); readable coloured lines on a terminal (pino-pretty).
 * Every line keeps pino's `pid` and `hostname` and names its `stage` (run, api, pipeline,
 * output, audit). Secrets are never logged: a generated API token goes to a file (see
 * src/sensor/api.ts), and `redact` drops authorization headers should a caller log a request.
 *
 * Audit lines (`stage: "audit"`, msg `audit`) record every change an operator or a tenant makes:
 * allowlist, candidates, inventory, alert status, rule reload, config reload; `who` names the
 * token's tenant or operator (or the signal for a reload).
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { AuditEvent } from './records.js';

export type { Logger } from 'pino';

export interface LogOptions {
  level?: string;
  /** Where lines go (default: stderr, fd 2). */
  destination?: DestinationStream;
  /** Readable lines instead of JSON (default: stderr is a terminal). */
  pretty?: boolean;
}

/** The root logger: no stage of its own; each part takes `log.child({ stage })`. */
export function createLogger(o: LogOptions = {}): Logger {
  const opts = {
    level: o.level ?? 'info',
    redact: { paths: ['req.headers.authorization', 'headers.authorization', 'authorization', 'token'], censor: '[redacted]' },
  };
  const human = o.pretty ?? (o.destination === undefined && process.stderr.isTTY === true);
  if (human) return pino(opts, pretty({ destination: 2, sync: true, translateTime: 'SYS:standard' }));
  return pino(opts, o.destination ?? pino.destination({ dest: 2, sync: true }));
}

/** An audit line: `{stage: "audit", action, who, ...}`. */
export function auditLogger(log: Logger): (e: AuditEvent) => void {
  const a = log.child({ stage: 'audit' });
  return (e) => a.info(e, 'audit');
}
