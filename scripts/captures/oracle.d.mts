// Types of oracle.mjs (the tshark oracle), for the TypeScript tests that import it.

export interface OracleHello {
  proto: 'tcp' | 'udp';
  src: string;
  sport: number;
  dst: string;
  dport: number;
  transport: 'tls' | 'quic';
  first_frame: number;
  frame: number;
  segments: number[];
  legacy_version: string;
  supported_versions: string[];
  alpn: string[];
  ech: boolean;
  sni: string | null;
  quic_version?: string;
}

export interface OracleDnsRecord {
  name: string;
  type: string;
  data: string | null;
  ttl: number;
}

export interface OracleDns {
  frame: number;
  proto: 'tcp' | 'udp';
  src: string;
  sport: number;
  dst: string;
  dport: number;
  id: number;
  rcode: number;
  qname: string | null;
  type: string;
  answers: OracleDnsRecord[];
}

export interface OracleFlow {
  proto: 'tcp' | 'udp';
  a: string;
  a_port: number;
  b: string;
  b_port: number;
  frames_a_to_b: number;
  bytes_a_to_b: number;
  frames_b_to_a: number;
  bytes_b_to_a: number;
  first_frame: number;
  first_time_epoch: string;
}

export interface OracleExpected {
  capture: string;
  sha256: string;
  generator: { tool: string; options: string[]; timezone: string };
  counts: {
    packets: number;
    tls_client_hellos: number;
    quic_client_hellos: number;
    client_hellos_without_sni: number;
    dns_responses: number;
    tcp_flows: number;
    udp_flows: number;
  };
  sni: OracleHello[];
  dns: OracleDns[];
  flows: OracleFlow[];
}

export const TSHARK: string;
export const TSHARK_OPTS: string[];
export function tsharkVersion(): string;
export function tsharkAvailable(): boolean;
export function clientHellos(file: string): OracleHello[];
export function dnsResponses(file: string): OracleDns[];
export function flows(file: string): OracleFlow[];
export function readCapture(file: string): Buffer;
export function derive(file: string, name: string): OracleExpected;
export function comparable(expected: OracleExpected): Omit<OracleExpected, 'generator'>;
