/**
 * Stage-like counters for the metrics tests: plain numbers that grow the way the stages' own
 * `stats()` do while traffic flows, exposed through the MetricSources getters. The demo
 * replay replaces this feed with the real stages.
 */
import type { MetricSources } from '../../src/metrics.js';

export class StageFeed {
  packets = 0;
  wireBytes = 0;
  kernelDropped = 0;
  ifDropped = 0;
  decode: Record<string, number> = { 'decode.ipv4_truncated': 0, 'decode.tcp_bad_offset': 0 };
  ended: Record<string, number> = { fin: 0, rst: 0, idle: 0 };
  active = 0;
  evicted = 0;
  handshakes: Record<string, number> = { tls: 0, quic: 0 };
  failed: Record<string, number> = { 'tls.gap': 0, 'quic.bad_initial': 0 };
  quicDecrypted = 0;
  dnsAnswers = 0;
  pdns = 0;
  edr: Record<string, Record<string, number>> = { sysmon: { accepted: 0, rejected: 0 }, mde: { accepted: 0 } };
  flows = 0;
  joined = 0;
  classes: Record<string, Record<string, number>> = { api: { openai: 0, anthropic: 0 }, assistant: { github_copilot: 0 } };
  bytesOut: Record<string, number> = { openai: 0, anthropic: 0, github_copilot: 0 };
  bytesIn: Record<string, number> = { openai: 0, anthropic: 0, github_copilot: 0 };
  alerts: Record<string, Record<string, number>> = { h1: { high: 0 }, h7: { critical: 0 }, beacon: { medium: 0 } };

  /** One step of traffic: ~what a few ms of a busy link adds. */
  step(): void {
    this.packets += 1000;
    this.wireBytes += 900_000;
    this.kernelDropped += 1;
    this.ifDropped += 1;
    for (const k of Object.keys(this.decode)) this.decode[k] = (this.decode[k] ?? 0) + 1;
    for (const k of Object.keys(this.ended)) this.ended[k] = (this.ended[k] ?? 0) + 3;
    this.active = 40 + (this.packets % 7);
    this.evicted += 1;
    this.handshakes['tls'] = (this.handshakes['tls'] ?? 0) + 5;
    this.handshakes['quic'] = (this.handshakes['quic'] ?? 0) + 2;
    for (const k of Object.keys(this.failed)) this.failed[k] = (this.failed[k] ?? 0) + 1;
    this.quicDecrypted += 2;
    this.dnsAnswers += 10;
    this.pdns += 4;
    for (const inner of Object.values(this.edr)) for (const k of Object.keys(inner)) inner[k] = (inner[k] ?? 0) + 2;
    this.flows += 9;
    this.joined += 6;
    for (const inner of Object.values(this.classes)) for (const k of Object.keys(inner)) inner[k] = (inner[k] ?? 0) + 1;
    for (const k of Object.keys(this.bytesOut)) {
      this.bytesOut[k] = (this.bytesOut[k] ?? 0) + 5_000;
      this.bytesIn[k] = (this.bytesIn[k] ?? 0) + 40_000;
    }
    for (const inner of Object.values(this.alerts)) for (const k of Object.keys(inner)) inner[k] = (inner[k] ?? 0) + 1;
  }

  sources(): MetricSources {
    return {
      source: () => ({ packets: this.packets, wireBytes: this.wireBytes, capBytes: this.wireBytes, truncatedRecords: 0, kernelReceived: this.packets + this.kernelDropped, iface: 'eth1', kernelDropped: this.kernelDropped, ifDropped: this.ifDropped }),
      decode: () => this.decode,
      flow: () => ({ active: this.active, ended: this.ended, evicted: this.evicted }),
      dissect: () => ({ handshakes: this.handshakes, failed: this.failed, quicDecrypted: this.quicDecrypted }),
      names: () => ({ dnsAnswers: this.dnsAnswers, passiveDnsEntries: this.pdns }),
      edr: () => this.edr,
      join: () => ({ flows: this.flows, joined: this.joined }),
      classify: () => ({ classifications: this.classes, bytesOut: this.bytesOut, bytesIn: this.bytesIn }),
      alerts: () => this.alerts,
      pipelineLagSeconds: () => 0.25,
      lastPacketAgeSeconds: () => 0.5,
      build: { version: '0.0.0-test', node: process.versions.node },
      store: () => ({ writable: true, queued: { alert: 0, observation: 0, other: 0 }, dropped: { alert: 0, observation: 0, other: 0 }, episodes: {}, queuedTotal: 0 }),
      outputs: () => [{ name: 'siem', type: 'syslog', sent: this.packets, failed: 0, dropped: 0, queued: 0 }],
    };
  }
}
