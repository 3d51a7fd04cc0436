/** Capture-file problems, counted or reported (never thrown past the reader). */
export const SOURCE_REASONS = [
  'source.truncated_record', // last record cut by the end of the file: counted, everything before kept
  'source.record_too_large', // a record length beyond the 256 KiB sanity bound: the file is corrupt from there
  'source.bad_block', // pcapng block with an impossible length
  'source.unknown_interface', // pcapng packet naming an interface that has no IDB
  'source.gzip_error', // a .gz capture whose stream breaks (truncated, corrupt): everything before kept, the file named with both offsets
  'source.skipped_block', // pcapng block we do not need (NRB, ISB, DSB, custom): counted, not an error
] as const;
export type SourceReason = (typeof SOURCE_REASONS)[number];
