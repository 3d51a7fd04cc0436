/**
 * Why an EDR input record was not used, declared once: `ingest.*` for the reader (the record
 * could not be read), `edr.*` for a connection the join cannot use, `<format>.*` for a record
 * of a known format that is not a connection event. Each is counted in the ingest result's
 * `rejected` and in `llmtap_edr_records_total{format,outcome="rejected"}` (the reason's first
 * part as the format); the reader's failures also in `llmtap_edr_input_skipped_total{reason}`.
 */
import type { CounterDecl, CounterDecls, CounterKind } from '../counters.js';
import { EDR_SOURCE_FORMATS, type EdrSourceFormat } from '../records.js';

type Reasons = Readonly<Record<string, readonly [CounterKind, string]>>;

/** The declarations of one format's reasons: each feeds the rejected series of that format. */
function rejected<const R extends Reasons>(format: string, r: R): { readonly [K in keyof R]: CounterDecl } {
  return Object.fromEntries(
    Object.entries(r).map(([name, [kind, doc]]) => [name, { kind, doc, metric: { name: 'llmtap_edr_records_total', labels: { format, outcome: 'rejected' } } }]),
  ) as unknown as { readonly [K in keyof R]: CounterDecl };
}

/** The reader's reasons: the record could not be read at all. */
const INGEST_REASONS = rejected('ingest', {
  'ingest.record_too_long': ['failure', 'A record longer than the record cap (skipped while read; memory stays bounded).'],
  'ingest.binary_record': ['failure', 'A record that is not UTF-8 text.'],
  'ingest.bad_json': ['failure', 'A record that is not valid JSON (or a JSON stream cut inside a value).'],
  'ingest.not_an_object': ['failure', 'A JSON value that is not an object (nor an array of objects).'],
  'ingest.unknown_format': ['failure', 'A JSON object of no EDR format llmtap reads.'],
  'ingest.bad_xml_event': ['failure', 'A Windows event XML element that does not parse.'],
  'ingest.truncated_xml_event': ['failure', 'A Windows event XML stream that ends inside an event.'],
  'ingest.unsupported_windows_provider': ['failure', 'A Windows event of a provider other than Sysmon or the Security log.'],
  'ingest.adapter_error': ['failure', 'A format adapter threw on the record (a bug; the record is skipped, the batch goes on).'],
});

/** The shared checks of a connection record (src/attribute/feeds/context.ts). */
const EDR = rejected('edr', {
  'edr.not_tcp_udp': ['outcome', 'A connection of another transport than TCP or UDP.'],
  'edr.unknown_endpoint': ['failure', 'A connection without a usable local or remote address or port (missing, zero or unspecified).'],
  'edr.link_local': ['outcome', 'A connection to or from a link-local address.'],
  'edr.multicast': ['outcome', 'A connection to or from a multicast address.'],
  'edr.broadcast': ['outcome', 'A connection to or from a broadcast address.'],
  'edr.loopback_mismatch': ['failure', 'A connection with one loopback and one non-loopback end.'],
});

/** Checks of a connection record every format's adapter makes, counted under the format. */
const CONNECTION = {
  no_device: ['failure', 'a connection record without a device id'],
  bad_time: ['failure', 'a connection record without a readable time'],
  bad_transport: ['failure', 'a connection record without a transport'],
} as const satisfies Reasons;
type ConnectionCheck = keyof typeof CONNECTION;
export type ConnectionReason = `${EdrSourceFormat}.${ConnectionCheck}`;

/** The reason of a failed connection check, by format: `CONNECTION_REASON.sysmon.no_device` is `sysmon.no_device`. */
export const CONNECTION_REASON = Object.fromEntries(
  EDR_SOURCE_FORMATS.map((f) => [f, Object.fromEntries(Object.keys(CONNECTION).map((c) => [c, `${f}.${c}`]))]),
) as Readonly<Record<EdrSourceFormat, Readonly<Record<ConnectionCheck, ConnectionReason>>>>;

/** Each format's connection checks, declared like its other reasons. */
const CONNECTION_DECLS = Object.assign(
  {},
  ...EDR_SOURCE_FORMATS.map((f) =>
    rejected(f, Object.fromEntries(Object.entries(CONNECTION).map(([c, [kind, doc]]) => [CONNECTION_REASON[f][c as ConnectionCheck], [kind, `${f}: ${doc}.`]]))),
  ),
) as Record<ConnectionReason, CounterDecl>;

const FORMATS = {
  ...rejected('llmtap', {
    'llmtap.bad_ts_kind': ['failure', 'An llmtap record whose ts_kind is not connect, accept or observed.'],
    'llmtap.bad_direction': ['failure', 'An llmtap record whose direction is not outbound or inbound.'],
  }),
  ...rejected('sysmon', {
    'sysmon.process_create': ['outcome', 'A Sysmon process creation (event 1): fed to the process table.'],
    'sysmon.process_terminate': ['outcome', 'A Sysmon process termination (event 5): fed to the process table.'],
    'sysmon.dns_query': ['outcome', 'A Sysmon DNS query (event 22): a name hint, not a connection.'],
    'sysmon.unsupported_event': ['outcome', 'Another Sysmon event.'],
  }),
  ...rejected('wfp', {
    'wfp.bind_event': ['outcome', 'A Windows Filtering Platform bind (event 5158), not a connection.'],
    'wfp.unsupported_event': ['outcome', 'Another Security log event than 5156 or 5158.'],
    'wfp.bad_direction': ['failure', 'A WFP connection whose direction is neither inbound nor outbound.'],
  }),
  ...rejected('mde', {
    'mde.unsupported_table': ['outcome', 'A Defender for Endpoint record of another table than DeviceNetworkEvents.'],
    'mde.tenant_mismatch': ['failure', 'A Defender record of another tenant than the feed\'s.'],
    'mde.no_row': ['failure', 'A Defender envelope without a network event row.'],
    'mde.listening': ['outcome', 'A listening socket (ListeningConnectionCreated), not a connection.'],
    'mde.no_process_action': ['outcome', 'A Defender network action without a connecting process (blocked, failed, …).'],
  }),
  ...rejected('osquery', {
    'osquery.no_rows': ['outcome', 'An osquery result without rows.'],
    'osquery.not_connect': ['outcome', 'An evented socket row other than connect.'],
    'osquery.not_inet': ['outcome', 'A socket row of another family than IPv4 or IPv6.'],
    'osquery.listening': ['outcome', 'A listening socket row.'],
  }),
  ...rejected('fdr', {
    'fdr.tenant_mismatch': ['failure', 'A Falcon Data Replicator event of another customer id than the feed\'s.'],
    'fdr.process_rollup': ['outcome', 'A process event (ProcessRollup2 …): fed to the process table.'],
    'fdr.listening': ['outcome', 'A listening socket event (NetworkListen…).'],
    'fdr.unsupported_event': ['outcome', 'Another FDR event.'],
  }),
  ...rejected('elastic_defend', {
    'elastic_defend.process_event': ['outcome', 'An Elastic Defend process event: fed to the process table.'],
    'elastic_defend.unsupported_dataset': ['outcome', 'An Elastic Defend event of another data set than network or process.'],
    'elastic_defend.not_connection': ['outcome', 'A network event other than connection_attempted or connection_accepted.'],
  }),
  ...rejected('tetragon', {
    'tetragon.lifecycle_event': ['outcome', 'A Tetragon event other than process_connect, process_kprobe or process_exec (exit, …).'],
    'tetragon.not_connect': ['outcome', 'A Tetragon kprobe of another function than tcp_connect.'],
    'tetragon.no_sock_arg': ['failure', 'A tcp_connect kprobe without its socket argument.'],
    'tetragon.process_exec': ['outcome', 'A Tetragon process_exec: fed to the process table.'],
    'tetragon.unsupported_event': ['outcome', 'Another Tetragon event.'],
  }),
};

/** A connection's shared checks and each format's reasons. */
const EDR_REASONS = { ...EDR, ...FORMATS, ...CONNECTION_DECLS };

export type IngestReason = keyof typeof INGEST_REASONS;
export type EdrReason = keyof typeof EDR_REASONS;

/** Every reason, for the ingest result (`rejected`). */
export type RejectReason = IngestReason | EdrReason;

/** The declarations' type, for the list of stages. */
export const INGEST_DECLS: CounterDecls<IngestReason> = INGEST_REASONS;
export const EDR_DECLS: CounterDecls<EdrReason> = EDR_REASONS;
