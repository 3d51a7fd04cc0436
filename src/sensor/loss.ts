/**
 * What the database did not take by the end of a run (a storage fault that outlasted it, or
 * writes dropped from a full queue): counted by kind, with every alert not stored named.
 */
import type { Alert } from '../records.js';
import { FAULT_TEXT } from '../store/faults.js';
import { Store, type StoreStatus } from '../store/store.js';
import type { PgStore } from '../store/pg/store.js';

export interface StoreLoss {
  /** The database (a file, or the PostgreSQL server without its password). */
  file: string;
  /** The store's state at the end (fault reason, queued and dropped writes by kind). */
  status: StoreStatus;
  /** Alerts still queued, and alerts dropped from a full queue. */
  queued: Alert[];
  dropped: Alert[];
}

/** Undefined when every write was stored. (Alerts are named by the SQLite store only.) */
export function storeLoss(store: Store | PgStore): StoreLoss | undefined {
  const status = store.status();
  const q = status.queued;
  const d = status.dropped;
  if (q.alert + d.alert + q.observation + d.observation + q.other + d.other === 0) return undefined;
  return { file: store.file(), status, ...(store instanceof Store ? store.unstoredAlerts() : { queued: [], dropped: [] }) };
}

/**
 * The loss as text: one line naming the file, the fault and the counts, then one line per alert
 * that was not stored. `cmd` prefixes the first line (`llmtap replay`).
 */
export function lossReport(cmd: string, loss: StoreLoss): string {
  const st = loss.status;
  const { queued, dropped } = loss;
  const why = st.reason !== undefined ? `${FAULT_TEXT[st.reason]}: ${st.code}: ${st.message}` : 'writes dropped from a full queue';
  // the alert lane also holds the contributions that count observations toward alerts
  const lostAlertLane = st.queued.alert + st.dropped.alert;
  const lines = [
    `${cmd}: LLMTAP_ERR_STORE_FAULT: ${loss.file}: not stored (${why}): ${queued.length + dropped.length} alerts, ${st.queued.observation + st.dropped.observation} observations, ${lostAlertLane - queued.length - dropped.length + st.queued.other + st.dropped.other} other writes`,
  ];
  for (const a of [...queued, ...dropped]) {
    const who = [a.deviceId ?? a.clientAddr, a.processName, a.provider].filter((x) => x !== undefined).join(' ');
    lines.push(`  not stored: alert ${a.id} ${a.tenant} ${a.heuristic} ${a.severity} ${a.title}${who !== '' ? ` (${who})` : ''} count ${a.count}`);
  }
  return `${lines.join('\n')}\n`;
}
