/**
 * Every record that crosses a stage boundary, in pipeline order.
 *
 *   source ─PacketBatch─► decode ─PacketView─► flow ─(FlowMeta)─► dissect ─DnsAnswer─► names
 *   flow ─FlowRecord─► names ─FlowRecord(host)─► attribute ─Observation─► classify ─► detect ─Alert─► store ─► api
 *   EDR feeds ─EdrConnection─► attribute
 *
 * Conventions (see docs/architecture.md): `orig*`/`resp*` are the flow's initiator and responder;
 * `client`/`server` are handshake roles. Timestamps are `tsUs`: microseconds since the Unix
 * epoch in a double (exact until 2255). Byte counters carry their unit: `wireBytes` (original
 * frame length including the link header), `capBytes` (captured length), `ipBytes` (outermost
 * IP packet length as the IP header states it, clipped to what the frame holds).
 *
 * No record here ever carries payload bytes, prompt text or command lines.
 */

// ───────────────────────────── source ─────────────────────────────

/**
 * A batch of packets from a capture file or the live binding. Packet `i` occupies
 * `buf[offset[i] .. offset[i] + capLen[i])`. The batch (and `buf`) is valid only during the
 * call that receives it: a stage that keeps anything copies numbers out.
 */
export interface PacketBatch {
  buf: Buffer;
  count: number;
  offset: Uint32Array;
  capLen: Uint32Array;
  wireLen: Uint32Array;
  /** Kernel/file timestamp, µs since the epoch (fractional µs kept for ns captures). */
  tsUs: Float64Array;
  /** LINKTYPE_* number per packet (pcapng interfaces may differ). */
  linkType: Uint16Array;
  /** Interface index within the file/capture (0 for classic pcap). */
  ifIndex: Uint16Array;
}

/** Where a capture file or live source stands; reported in the replay summary and metrics. */
export interface SourceStats {
  packets: number;
  capBytes: number;
  wireBytes: number;
  /** Bytes of the file consumed so far (for progress), 0 for live. */
  fileBytes: number;
  /** Records cut by the end of the file (counted, everything before kept). */
  truncatedRecords: number;
  /** Files only: capture-file problems by reason (`source.unknown_interface`, `source.gzip_error`, …; src/source/reasons.ts). */
  fileReasons?: Record<string, number>;
  /** Live only: kernel drop counters as libpcap reports them. */
  kernelReceived?: number;
  kernelDropped?: number;
  ifDropped?: number;
}

// ───────────────────────────── flow ─────────────────────────────

/** Why a flow record was emitted. */
export type FlowEndReason = 'fin' | 'rst' | 'idle' | 'active' | 'evicted' | 'eof';

/**
 * Where a flow's destination name came from, most trustworthy first:
 * - `sni`: TLS ClientHello server_name over TCP
 * - `quic-sni`: server_name from a decrypted QUIC Initial
 * - `dns-client`: an answer this same client received for the server address
 * - `dns-any`: an answer some other client received for that address (CDN: low confidence)
 * - `edr`: a name hint from the endpoint record (MDE RemoteUrl, Sysmon EID 22); lowest
 * - `ip-range`: no name at all; the destination address lies in a provider-published range
 *   of a rule (set on observations by classify, never on flow records: `host` stays unset)
 * - `none`
 */
export type HostSource = 'sni' | 'quic-sni' | 'dns-client' | 'dns-any' | 'edr' | 'ip-range' | 'none';

/**
 * What dissect learned from a flow's handshake. Reports everything, decides nothing (no
 * category here). Absent fields were not seen.
 */
export interface Handshake {
  transport: 'tls' | 'quic' | 'gquic';
  /** server_name of the (first) ClientHello; absent when the extension was missing. */
  sni?: string;
  /** Every server_name seen when a flow carried more than one hello with different names. */
  sniAll?: string[];
  alpn?: string[];
  /** legacy_version as 0xXXXX hex text, e.g. "0x0303". */
  legacyVersion?: string;
  /** supported_versions entries (GREASE removed), hex text. */
  tlsVersions?: string[];
  ja4?: string;
  /**
   * encrypted_client_hello present: `grease` when the bytes look like Chromium's GREASE ECH,
   * `real` when it looks like a real outer hello (then `sni` is the public front name, not the
   * destination), `unknown` otherwise.
   */
  ech?: 'grease' | 'real' | 'unknown';
  esni?: boolean;
  /** QUIC version as 0xXXXXXXXX hex text. */
  quicVersion?: string;
  /** ClientHellos parsed in this flow (duplicate hellos, HRR, QUIC Retry). */
  hellos: number;
}

/**
 * A finished (or evicted, or still open at end of file) bidirectional flow. Emitted exactly
 * once per flow by the flow table.
 */
export interface FlowRecord {
  /** Monotonic per process run; unique key for evidence. */
  flowId: number;
  /** Community ID v1 (seed 0), e.g. "1:LQU9qZlK+B5F3KDmev6m5PMibrg=". */
  communityId: string;
  /** IANA protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, others). */
  proto: number;
  /** 802.1Q/802.1ad ids outermost first; empty when untagged. */
  vlan: number[];
  /** Canonical text: dotted quad / RFC 5952. */
  origAddr: string;
  origPort: number;
  respAddr: string;
  respPort: number;
  /** How the initiator was chosen: `syn` (sender of a SYN without ACK), `synack` (the
   * receiver of a SYN+ACK), `port` (first packet ambiguous, lower/well-known port taken as the
   * responder), `first` (sender of the first packet seen). */
  origBy: 'syn' | 'synack' | 'port' | 'first';
  origPkts: number;
  respPkts: number;
  origWireBytes: number;
  respWireBytes: number;
  origCapBytes: number;
  respCapBytes: number;
  origIpBytes: number;
  respIpBytes: number;
  /** Transport payload bytes (TCP/UDP data as the headers state it). */
  origPayloadBytes: number;
  respPayloadBytes: number;
  firstTsUs: number;
  lastTsUs: number;
  /** OR of TCP flags seen from each side (0 for UDP). */
  origTcpFlags: number;
  respTcpFlags: number;
  endReason: FlowEndReason;
  /** Capture interface index of the first packet. */
  ifIndex: number;
  handshake?: Handshake;
  /** Filled by names: the destination host name and where it came from. */
  host?: string;
  hostSource: HostSource;
  /** SNI and the client's DNS answers agree on the name (absent when there is only one source). */
  hostAgrees?: boolean;
  /** Passive DNS had different recent names for this address (CDN sharing); recorded, not hidden. */
  dnsConflict?: boolean;
  /** Opt-in per tenant (off by default): Shannon entropy (bits/byte) of the first client data
   * after the handshake. One number, never the bytes. */
  payloadEntropy?: number;
}

// ───────────────────────────── dissect → names ─────────────────────────────

/** One resource record of a DNS answer section, reduced to what names needs. */
export interface DnsRecord {
  name: string;
  type: 'A' | 'AAAA' | 'CNAME' | 'HTTPS' | 'SVCB' | string;
  /** A/AAAA: canonical address text; CNAME: target name; HTTPS/SVCB: target name. */
  data: string;
  ttl: number;
  /** HTTPS/SVCB: address hints and whether an ECH config is present. */
  ipv4hint?: string[];
  ipv6hint?: string[];
  ech?: boolean;
}

/** A DNS response seen on the wire (UDP or TCP), addressed to `client`. */
export interface DnsAnswer {
  tsUs: number;
  client: string;
  server: string;
  proto: 'udp' | 'tcp';
  id: number;
  rcode: number;
  qname: string;
  qtype: string;
  answers: DnsRecord[];
  flowId: number;
  vlan: number[];
}

// ───────────────────────────── EDR → attribute ─────────────────────────────

/** Every EDR source format. */
export const EDR_SOURCE_FORMATS = ['llmtap', 'sysmon', 'wfp', 'mde', 'osquery', 'fdr', 'elastic_defend', 'tetragon', 'falco', 'auditd'] as const;
export type EdrSourceFormat = (typeof EDR_SOURCE_FORMATS)[number];

/**
 * The normalized EDR connection record, version 1 (`v: 1`). Adapters produce this and only
 * this: command lines, user names, SIDs, the rendered message and every other field are
 * dropped at parse time. See src/attribute/README.md for the field rules.
 */
export interface EdrConnection {
  v: 1;
  tenant: string;
  source: EdrSourceFormat;
  /** Dedup key from the source (e.g. Sysmon Computer+RecordID). */
  sourceEventId?: string;
  /** Event time from the source's event-time field, ms since the epoch (UTC as labelled). */
  tsMs: number;
  tsKind: 'connect' | 'accept' | 'observed' | 'close';
  receivedAtMs: number;
  deviceId: string;
  deviceName?: string;
  localAddr: string;
  localPort: number;
  remoteAddr: string;
  remotePort: number;
  transport: 'tcp' | 'udp' | 'icmp' | 'other';
  direction: 'outbound' | 'inbound' | 'unknown';
  pid?: number;
  processKey?: string;
  processStartMs?: number;
  processName?: string;
  /** User-profile segment redacted (C:\Users\*\..., /home/*\/...). */
  processPath?: string;
  /** Lower-case hex, absent when unknown; never a SHA-1 in this field. */
  sha256?: string;
  sha1?: string;
  /** Vendor file id when no hash is available, labelled by vendor. */
  fileId?: string;
  /** No binary hash at all (neither SHA-256 nor SHA-1). */
  hashUnknown: boolean;
  parentName?: string;
  /** One-way, per-tenant keyed hash of the ancestor basenames (nearest first, bounded). */
  lineageHash?: string;
  /** Low-confidence destination name from the endpoint (never overrides SNI). */
  remoteNameHint?: string;
}

/** What the join learned about one side of a flow. */
export interface Attribution {
  side: 'orig' | 'resp';
  deviceId: string;
  deviceName?: string;
  pid?: number;
  processName?: string;
  processPath?: string;
  sha256?: string;
  sha1?: string;
  hashUnknown: boolean;
  parentName?: string;
  lineageHash?: string;
  source: EdrSourceFormat;
  /** `edr` = matched a per-connection record; `device-map` = device known from its address only. */
  method: 'edr' | 'device-map';
  /** Learned clock offset applied (ms, EDR time minus capture time). */
  skewMs?: number;
  ambiguous?: boolean;
}

// ───────────────────────────── classify ─────────────────────────────

export type AiCategory = 'api' | 'assistant' | 'sdk' | 'local_llm' | 'plugin' | 'agent';

/** Precedence of categories, strongest first (the published order): one connection, one
 * category. Classify decides by it; an alert spanning several categories names the first. */
export const CATEGORY_ORDER: readonly AiCategory[] = ['api', 'assistant', 'sdk', 'local_llm', 'plugin', 'agent'];

/** The classifier's decision for one connection. */
export interface Verdict {
  category: AiCategory;
  provider: string;
  /** Id of the deciding rule (audit trail). */
  ruleId: string;
  /** A tenant rule marked this endpoint sanctioned; category kept. */
  sanctioned: boolean;
  /** The rule entry is marked "(verify)" in the sources. */
  verify?: boolean;
  /**
   * The provider-published destination prefix that decided, when no host name was known
   * (the observation's `hostSource` is then `ip-range`: a weaker signal than a name).
   */
  range?: string;
}

// ───────────────────────────── attribute → classify → detect ─────────────────────────────

/**
 * One connection as detect sees it: a flow from the tap (with or without an EDR match) or an
 * EDR-only connection (loopback to a local runtime, traffic the tap does not see).
 * `obsId` is stable: a late EDR join re-emits the same obsId with `update: true`.
 */
export interface Observation {
  obsId: string;
  tenant: string;
  kind: 'flow' | 'edr-only';
  update: boolean;
  tsUs: number;
  lastTsUs: number;
  flow?: FlowRecord;
  /** The client side's attribution (the one detection uses); `server` when the responder also reported. */
  client?: Attribution;
  server?: Attribution;
  clientAddr: string;
  serverAddr: string;
  serverPort: number;
  proto: number;
  host?: string;
  hostSource: HostSource;
  /** Bytes the client sent / received (wire bytes from the flow, or EDR-reported if any). */
  bytesOut: number;
  bytesIn: number;
  verdict?: Verdict;
}

// ───────────────────────────── detect → store → api ─────────────────────────────

export type Heuristic = 'h1' | 'h7' | 'beacon' | 'upload' | 'lineage' | 'shadow_volume' | 'learning' | 'threat_intel';
export type Severity = 'info' | 'low' | 'medium' | 'high' | 'critical';
export type AlertStatus = 'open' | 'acknowledged' | 'closed';

export interface AlertEvidence {
  flowIds: number[];
  communityIds: string[];
  obsIds: string[];
  host?: string;
  hostSource?: HostSource;
  ruleId?: string;
  bytesOut: number;
  bytesIn: number;
  /** Heuristic-specific numbers (e.g. devices for H7, interval and dispersion for beacon). */
  detail: Record<string, number | string | string[] | boolean>;
  /** H7: what each device of the spread called (device order of first sighting). */
  spread?: SpreadDevice[];
}

/** One device of an H7 spread: the providers and hosts its connections reached. */
export interface SpreadDevice {
  deviceId: string;
  deviceName?: string;
  providers: string[];
  hosts: string[];
  firstSeenUs: number;
}

export type ConfidenceLevel = 'low' | 'medium' | 'high';

/**
 * Why an alert is as credible as it is (the playbook: agreement across sources, programmatic,
 * repeated or off-hours use raise confidence). Each signal has a fixed weight; see
 * src/detect/confidence.ts for the table.
 */
export type ConfidenceSignal =
  | 'sni_dns_agree'
  | 'sni'
  | 'dns_client'
  | 'dns_any'
  | 'edr_name'
  | 'ip_range'
  | 'no_name'
  | 'sni_dns_conflict'
  | 'edr_process'
  | 'programmatic'
  | 'browser'
  | 'repeated'
  | 'off_hours'
  | 'first_seen'
  | 'threat_intel';

export interface ConfidenceReason {
  signal: ConfidenceSignal;
  /** What the signal adds to the score (negative lowers it). */
  weight: number;
  /** Short words for the analyst, e.g. "Sat 03:12 Europe/Berlin"; never content. */
  note: string;
}

/** An alert's confidence: level from the summed weights (≥ 4 high, 2–3 medium, ≤ 1 low). */
export interface Confidence {
  level: ConfidenceLevel;
  score: number;
  reasons: ConfidenceReason[];
}

/**
 * An alert, deduplicated per (tenant, heuristic, device, process, provider): repeats update
 * `count`, `lastSeenUs` and evidence instead of creating a new alert. `seq` is the change
 * sequence number the store assigns on every create and update (SIEM cursors follow it).
 */
export interface Alert {
  id: string;
  tenant: string;
  heuristic: Heuristic;
  severity: Severity;
  status: AlertStatus;
  title: string;
  deviceId?: string;
  deviceName?: string;
  clientAddr?: string;
  processName?: string;
  /** The binary's identity: SHA-256 (lower-case hex) when the endpoint reported one, ... */
  sha256?: string;
  /** ... else SHA-1 (Defender/MDE streaming events): set only without a SHA-256, typed as
   * SHA-1 everywhere (API `sha1`, OCSF algorithm SHA-1), never compared with a SHA-256. */
  sha1?: string;
  /** The provider; an alert spanning several (H7) lists them all, comma-separated, in order of
   * first sighting — `providers` has the same as a list. */
  provider?: string;
  /** The category; for an alert spanning several, the highest-precedence one (`categories` has all). */
  category?: AiCategory;
  /** The host; for an alert spanning several, every host comma-separated (`hosts` has the list). */
  host?: string;
  /** Alerts that span several destinations (H7): every provider, category and host reached. */
  providers?: string[];
  categories?: AiCategory[];
  hosts?: string[];
  count: number;
  firstSeenUs: number;
  lastSeenUs: number;
  evidence: AlertEvidence;
  /** How credible the alert is, with its reasons (signals of every contributing connection). */
  confidence?: Confidence;
  /** Related alerts (H7 links the H1 alerts of the same hash). */
  related?: string[];
  /** The server of the connection that first raised the alert (address, port, IP protocol). */
  server?: { addr: string; port: number; proto: number };
  /** The client process id of that connection, when the endpoint feed reported it (not for fleet alerts). */
  pid?: number;
  seq?: number;
  /**
   * Set on alerts read from the change log: `create` for the alert's first change, `update`
   * for every later one (not stored in the alert body).
   */
  change?: 'create' | 'update';
}

// ───────────────────────────── flow ⇄ dissect ─────────────────────────────

/**
 * The per-flow object dissect may attach state to. Created by the flow table when a flow is
 * created, handed to dissect with every packet that has transport payload while `inspect` is
 * true, and released when the flow ends. Dissect sets `inspect = false` once it has what it
 * wants (handshake-then-bypass): from then on the flow costs only counters.
 */
export interface FlowMeta {
  flowId: number;
  proto: number;
  /** Server port as oriented by the flow table (respPort). */
  respPort: number;
  origPort: number;
  inspect: boolean;
  handshake?: Handshake | undefined;
  /** Owned by dissect: reassembly buffers etc. Must be dropped when inspect becomes false. */
  dissectState?: unknown;
  /** Opt-in entropy of first client data after the handshake (set by dissect when enabled). */
  payloadEntropy?: number | undefined;
  /** Created during overload (src/overload.ts): 1 not dissected, 2 not dissected nor analyzed. */
  shed?: 1 | 2 | undefined;
}

/**
 * One change made by an operator or a tenant, for the audit log (src/log.ts): what was done to
 * which object, by whom. No secrets, no payload: identifiers and the new values only.
 */
export interface AuditEvent {
  /** e.g. allowlist.add, allowlist.remove, candidate.approve, inventory.import, alert.status, rules.reload, config.reload */
  action: string;
  /** The token's tenant (`tenant:ID`), operator (`operator:NAME`), or the local signal (`signal:SIGHUP`). */
  who: string;
  /** The tenant whose data changed, where there is one. */
  tenant?: string;
  /** The changed object's id (alert id, allowlist entry id, candidate id). */
  target?: string;
  /** The new values (status, process name, counts). */
  detail?: Record<string, unknown>;
  /** Whether the change took effect (false: refused or failed, with the HTTP status). */
  ok: boolean;
  status?: number;
}
