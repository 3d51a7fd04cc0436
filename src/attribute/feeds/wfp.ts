/**
 * Windows Security 5156, "The Windows Filtering Platform has permitted a connection"
 * (docs/edr-join.md §2.5): pid + application path + 5-tuple, no hash, no parent. Direction
 * %%14593 = outbound (Source is local), %%14592 = inbound (Dest is local). Event time is the
 * envelope time (TimeCreated, or the shipper's @timestamp); NXLog's EventTime (local, no zone)
 * only as a last resort — skew learning is per device and source, so a constant offset is fine.
 */
import { canonInt, canonIp, canonPort, canonTransport, parseTimeMs } from '../normalize.js';
import { buildConnection, type FeedContext, type FeedOutcome } from './context.js';
import { winConnection, type WinEvent } from './win-event.js';

export function handleWfp(ctx: FeedContext, ev: WinEvent): FeedOutcome {
  if (ev.eventId === 5158) return 'wfp.bind_event';
  if (ev.eventId !== 5156) return 'wfp.unsupported_event';
  const d = ev.data;
  const dirRaw = String(d['Direction'] ?? '').toLowerCase();
  const outbound = dirRaw === '%%14593' || dirRaw === 'outbound';
  const inbound = dirRaw === '%%14592' || dirRaw === 'inbound';
  if (!outbound && !inbound) return 'wfp.bad_direction';
  const src = { ip: canonIp(d['SourceAddress']), port: canonPort(d['SourcePort']) };
  const dst = { ip: canonIp(d['DestAddress']), port: canonPort(d['DestPort']) };
  const local = outbound ? src : dst;
  const remote = outbound ? dst : src;
  return buildConnection(ctx, {
    source: 'wfp',
    ...winConnection(ev, outbound, local, remote),
    tsMs: ev.systemTimeMs ?? parseTimeMs(d['EventTime']),
    transport: canonTransport(d['Protocol']),
    pid: canonInt(d['ProcessID'] ?? d['ProcessId']),
    image: typeof d['Application'] === 'string' ? d['Application'] : undefined,
  });
}
