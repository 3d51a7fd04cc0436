/**
 * Stage-like counters for the metrics tests: plain numbers under the stages' declared counter
 * names that grow the way the stages' own `stats()` do while traffic flows, read by the metrics
 * through the declarations (src/sensor/counters.ts). The demo replay replaces this feed with the
 * real stages.
 */
import { STAGE_COUNTERS } from '../../src/sensor/counters.js';
import { FamilyCounts } from '../../src/counters.js';
import type { MetricSources, StageSource } from '../../src/metrics.js';

const declsOf = (stage: string): StageSource['decls'] => STAGE_COUNTERS.find((s) => s.stage === stage)?.decls ?? {};

export class StageFeed {
  packets = 0;
  wireBytes = 0;
  kernelDropped = 0;
  ifDropped = 0;
  /** Each stage's plain counters, by declared name. */
  counts: Record<string, Record<string, number>> = {
    decode: { 'decode.ok': 0, 'decode.ipv4_truncated': 0, 'decode.tcp_bad_offset': 0 },
    flow_end: { fin: 0, rst: 0, idle: 0, evicted: 0 },
    dissect: { 'tls.hello_parsed': 0, 'quic.hello_parsed': 0, 'tls.gap': 0, 'quic.decrypt_failed': 0, 'quic.decrypted': 0 },
    names: { 'names.answers': 0, 'names.entries_client': 0, 'names.entries_addr': 0 },
    edr: { 'sysmon.process_create': 0 },
    attribute: { flows: 0, 'join.hit': 0 },
  };
  active = 0;
  records = new FamilyCounts('records.<format>');
  alerts = new FamilyCounts('alerts.<heuristic>.<severity>');
  classes: Record<string, Record<string, number>> = { api: { openai: 0, anthropic: 0 }, assistant: { github_copilot: 0 } };
  bytesOut: Record<string, number> = { openai: 0, anthropic: 0, github_copilot: 0 };
  bytesIn: Record<string, number> = { openai: 0, anthropic: 0, github_copilot: 0 };

  private add(stage: string, name: string, n: number): void {
    const c = (this.counts[stage] ??= {});
    c[name] = (c[name] ?? 0) + n;
  }

  /** One step of traffic: ~what a few ms of a busy link adds. */
  step(): void {
    this.packets += 1000;
    this.wireBytes += 900_000;
    this.kernelDropped += 1;
    this.ifDropped += 1;
    this.add('decode', 'decode.ok', 990);
    this.add('decode', 'decode.ipv4_truncated', 1);
    this.add('decode', 'decode.tcp_bad_offset', 1);
    for (const r of ['fin', 'rst', 'idle']) this.add('flow_end', r, 3);
    this.add('flow_end', 'evicted', 1);
    this.active = 40 + (this.packets % 7);
    this.add('dissect', 'tls.hello_parsed', 5);
    this.add('dissect', 'quic.hello_parsed', 2);
    this.add('dissect', 'tls.gap', 1);
    this.add('dissect', 'quic.decrypt_failed', 1);
    this.add('dissect', 'quic.decrypted', 2);
    this.add('names', 'names.answers', 10);
    this.add('names', 'names.entries_client', 2);
    this.add('names', 'names.entries_addr', 2);
    this.add('edr', 'sysmon.process_create', 2);
    this.records.inc(['sysmon'], 2);
    this.records.inc(['mde'], 2);
    this.add('attribute', 'flows', 9);
    this.add('attribute', 'join.hit', 6);
    for (const inner of Object.values(this.classes)) for (const k of Object.keys(inner)) inner[k] = (inner[k] ?? 0) + 1;
    for (const k of Object.keys(this.bytesOut)) {
      this.bytesOut[k] = (this.bytesOut[k] ?? 0) + 5_000;
      this.bytesIn[k] = (this.bytesIn[k] ?? 0) + 40_000;
    }
    this.alerts.inc(['h1', 'high']);
    this.alerts.inc(['h7', 'critical']);
    this.alerts.inc(['beacon', 'medium']);
  }

  sources(): MetricSources {
    const stage = (name: string, families?: () => FamilyCounts[]): StageSource => ({
      stage: name,
      decls: declsOf(name),
      values: () => this.counts[name] ?? {},
      ...(families !== undefined ? { families } : {}),
    });
    return {
      source: () => ({ packets: this.packets, wireBytes: this.wireBytes, capBytes: this.wireBytes, truncatedRecords: 0, kernelReceived: this.packets + this.kernelDropped, iface: 'eth1', kernelDropped: this.kernelDropped, ifDropped: this.ifDropped }),
      flow: () => ({ active: this.active }),
      stages: [
        stage('decode'),
        stage('flow_end'),
        stage('dissect'),
        stage('names'),
        stage('edr'),
        stage('attribute', () => [this.records]),
        stage('detect', () => [this.alerts]),
      ],
      classify: () => ({ classifications: this.classes, bytesOut: this.bytesOut, bytesIn: this.bytesIn }),
      pipelineLagSeconds: () => 0.25,
      lastPacketAgeSeconds: () => 0.5,
      build: { version: '0.0.0-test', node: process.versions.node },
      store: () => ({ writable: true, queued: { alert: 0, observation: 0, other: 0 }, dropped: { alert: 0, observation: 0, other: 0 }, episodes: {}, queuedTotal: 0 }),
      outputs: () => [{ name: 'siem', type: 'syslog', sent: this.packets, failed: 0, dropped: 0, queued: 0 }],
      // two live capture workers sharing the packets, the second one behind (drops, restarted once)
      workers: () => [
        { worker: 0, packets: this.packets * 0.6, kernelReceived: this.packets * 0.6, kernelDropped: 0, busyRatio: 0.3, activeFlows: 25, restarts: 0 },
        { worker: 1, packets: this.packets * 0.4, kernelReceived: this.packets * 0.4 + this.kernelDropped, kernelDropped: this.kernelDropped, busyRatio: 0.95, activeFlows: 15, restarts: 1 },
      ],
    };
  }
}
