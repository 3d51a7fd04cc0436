/**
 * A sensor started with small bounds stays under them: a SYN scan with DNS answers mixed in
 * (every packet a new flow) through the whole `llmtap replay`, with every bounded structure
 * small. Every flow is still emitted (one flow record per distinct flow), every bound holds at
 * the end, the evictions are counted, and the peak RSS stays under a stated bound. With the
 * default bounds the same scan peaks far higher (the flow table, the join's waiting flows and
 * passive DNS each hold their whole default).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeScanPcap, type ScanSummary } from '../../bench/scan-pcap.mjs';
import { ensureBuilt } from '../helpers/build-once.js';
import { repoRoot } from '../helpers/corpus.js';

const FLOWS = 400_000;
/**
 * Peak RSS allowed with the small bounds below: Node.js, the rules and SQLite (~100 MB), the
 * bounded state (~30 MB live) and the garbage V8 lets build up between full collections (it
 * sizes its old generation from the allocation rate). The default bounds peak at ~700 MB here.
 */
const PEAK_RSS_MB = 400;
/**
 * The child's V8 old generation is capped: the live state of a bounded sensor fits in it (an
 * unbounded structure ends the run with a heap out-of-memory error, so the test fails), and the
 * peak RSS then measures the sensor rather than the garbage policy of one V8 version (Node.js 24
 * lets garbage grow further before a full collection than 20 did: 463 against ~320 MB uncapped).
 */
const HEAP_CAP_MB = 128;

const SMALL = {
  flow: { max_flows: 20_000, max_fragments: 256 },
  names: { max_entries: 5_000 },
  attribute: { max_flows: 20_000, max_records: 20_000, max_devices: 1_000, max_edr_only_dedup: 1_000 },
  edr: { max_processes: 1_000, max_dns_hints: 1_000 },
  classify: { max_memo: 1_000 },
  detect: { max_beacon_series: 1_000, max_window_keys: 1_000, max_upload_seen: 1_000, max_lineage_names: 1_000, max_inventory: 1_000 },
};

let dir: string;
let scan: ScanSummary;
let run: { status: number | null; stderr: string; summary: { flows: number; flowsEnded: Record<string, number>; stats: Record<string, number> }; flowLines: string[]; maxRssMB: number };

beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'llmtap-scan-'));
  const pcap = join(dir, 'scan.pcap');
  scan = writeScanPcap(pcap, FLOWS, { dnsEvery: 8, pps: 100_000 });
  writeFileSync(join(dir, 'small.json'), JSON.stringify(SMALL));
  const rssFile = join(dir, 'maxrss');
  const r = spawnSync(
    process.execPath,
    [`--max-old-space-size=${HEAP_CAP_MB}`, '--require', join(repoRoot, 'test/helpers/maxrss-preload.cjs'), 'bin/llmtap.js', 'replay', '--config', join(dir, 'small.json'), '--db', join(dir, 'scan.db'), '--flows', join(dir, 'flows.ndjson'), '--format', 'json', pcap],
    { cwd: repoRoot, encoding: 'utf8', timeout: 600_000, maxBuffer: 1 << 26, env: { ...process.env, LLMTAP_TEST_MAXRSS_FILE: rssFile } },
  );
  run = {
    status: r.status,
    stderr: r.stderr,
    summary: JSON.parse(r.stdout) as typeof run.summary,
    flowLines: readFileSync(join(dir, 'flows.ndjson'), 'utf8').split('\n').filter((l) => l !== ''),
    maxRssMB: Number(readFileSync(rssFile, 'utf8')) / 1024,
  };
}, 900_000);

afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('a SYN scan through a sensor with small bounds', () => {
  it('emits every flow once: one flow record per distinct flow', () => {
    expect(run.status, run.stderr).toBe(0);
    expect(scan.flows).toBe(FLOWS);
    expect(scan.syns + scan.dnsAnswers).toBe(FLOWS);
    expect(run.summary.flows).toBe(FLOWS);
    expect(run.flowLines.length).toBe(FLOWS);
    const distinct = new Set<string>();
    let syns = 0;
    for (const line of run.flowLines) {
      const f = JSON.parse(line) as { proto: number; origAddr: string; origPort: number; respAddr: string; respPort: number };
      distinct.add(`${f.proto} ${f.origAddr} ${f.origPort} ${f.respAddr} ${f.respPort}`);
      if (f.proto === 6) syns++;
    }
    expect(distinct.size).toBe(FLOWS);
    expect(syns).toBe(scan.syns);
  });

  it('holds every bound and counts the evictions', () => {
    const s = run.summary.stats;
    // The flow table held 20,000 flows: every other flow was evicted (and emitted), the last
    // 20,000 ended with the input. Nothing timed out: the scan lasts 4 s of capture time.
    expect(run.summary.flowsEnded).toEqual({ fin: 0, rst: 0, idle: 0, active: 0, evicted: FLOWS - SMALL.flow.max_flows, eof: SMALL.flow.max_flows });
    // The join held 20,000 flows waiting for EDR records: the rest were finalized early.
    expect(s['flows.evicted']).toBe(FLOWS - SMALL.attribute.max_flows);
    expect(s['flows.waiting']).toBe(0); // settled at the end
    expect(s['names.entries_addr']).toBeLessThanOrEqual(SMALL.names.max_entries);
    // 50,000 answers name 6,250 scan addresses (64 ports each): more than the 5,000 kept
    expect(s['names.answers']).toBe(scan.dnsAnswers);
    expect(s['names.evictions']).toBeGreaterThan(0);
  });

  it(`peaks under ${PEAK_RSS_MB} MB of RSS`, () => {
    expect(run.maxRssMB).toBeGreaterThan(40);
    expect(run.maxRssMB).toBeLessThan(PEAK_RSS_MB);
  });
});
