// Types of scan-pcap.mjs (the SYN-scan capture writer), for the TypeScript tests that import it.
export interface ScanSummary {
  flows: number;
  syns: number;
  dnsAnswers: number;
  packets: number;
  bytes: number;
  captureSeconds: number;
}
export function writeScanPcap(path: string, flows: number, opts?: { dnsEvery?: number; pps?: number }): ScanSummary;
