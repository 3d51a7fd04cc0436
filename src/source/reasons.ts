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
