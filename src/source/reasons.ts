/**
 * Capture-file problems, counted or reported (never thrown past the reader), declared once:
 * each is a key of a file read's `reasons`; the failures are the replay summary's file
 * problems and `llmtap_source_file_problems_total{reason}`.
 */
import type { CounterDecls } from '../counters.js';

export const SOURCE_COUNTERS = {
  'source.truncated_record': { kind: 'failure', doc: 'The last record is cut by the end of the file: counted, everything before kept.' },
  'source.record_too_large': { kind: 'failure', doc: 'A record length beyond the 256 KiB sanity bound: the file is corrupt from there.' },
  'source.bad_block': { kind: 'failure', doc: 'A pcapng block with an impossible length or byte-order magic.' },
  'source.unknown_interface': { kind: 'failure', doc: 'A pcapng packet naming an interface that has no interface description block.' },
  'source.gzip_error': { kind: 'failure', doc: 'A .gz capture whose stream breaks (truncated, corrupt): everything before kept.' },
  'source.skipped_block': { kind: 'note', doc: 'A pcapng block not needed (name resolution, statistics, decryption secrets, custom): counted, not an error.' },
} as const satisfies CounterDecls<`source.${string}`>;

export type SourceReason = keyof typeof SOURCE_COUNTERS;

/**
 * Sensor log lines (`llmtap ingest`: Zeek and Suricata EVE) not used, and why: each log file's
 * `bad` of the summary (and its JSON `logs`); `ingest.bad_addr` counts flows and DNS answers
 * of a readable line whose addresses do not parse (the summary's `malformed`).
 */
export const LOG_REASONS = {
  'zeek.not_an_object': { kind: 'failure', doc: 'A Zeek JSON line that is not an object.' },
  'zeek.bad_json': { kind: 'failure', doc: 'A Zeek JSON line that does not parse.' },
  'zeek.no_fields_header': { kind: 'failure', doc: 'A Zeek TSV line before any `#fields` header.' },
  'zeek.field_count': { kind: 'failure', doc: 'A Zeek TSV line with another number of fields than its header.' },
  'zeek.bad_ts': { kind: 'failure', doc: 'A Zeek record without a readable `ts`.' },
  'zeek.bad_tuple': { kind: 'failure', doc: 'A Zeek record without a readable address and port tuple.' },
  'zeek.no_uid': { kind: 'failure', doc: 'A Zeek conn, ssl or quic record without a `uid`.' },
  'zeek.bad_proto': { kind: 'failure', doc: 'A Zeek conn record whose `proto` is not a protocol name or number llmtap knows.' },
  'eve.bad_json': { kind: 'failure', doc: 'A Suricata EVE line that does not parse.' },
  'eve.not_an_object': { kind: 'failure', doc: 'A Suricata EVE line that is not an object.' },
  'eve.bad_timestamp': { kind: 'failure', doc: 'An EVE event without a readable `timestamp`.' },
  'eve.bad_tuple': { kind: 'failure', doc: 'An EVE event without a readable address and port tuple.' },
  'eve.bad_dns': { kind: 'failure', doc: 'An EVE dns event whose `dns` is not an object.' },
  'eve.no_flow_id': { kind: 'failure', doc: 'An EVE flow, tls or quic event without a `flow_id`.' },
  'eve.bad_flow': { kind: 'failure', doc: 'An EVE flow event whose `flow` is not an object.' },
  'ingest.bad_addr': { kind: 'failure', doc: 'A log flow or DNS answer whose addresses do not parse (or mix IPv4 and IPv6).' },
} as const satisfies CounterDecls;

export type LogReason = keyof typeof LOG_REASONS;
