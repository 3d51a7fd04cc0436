/**
 * `llmtap replay` on odd inputs, as a user runs it (bin/llmtap.js on dist/): a FIFO and a
 * directory named like captures inside a replay directory are skipped with a message naming
 * them (the FIFO never hangs the run), a directory or FIFO named on the command line gets a
 * clear message and exit 1, a truncated .gz names the file and both offsets, a pcapng packet
 * on an interface that was never defined is counted by name in the summary, and an EDR feed
 * that is a FIFO is refused by name.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants as zlibConstants, gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/build-once.js';
import { corpusDir, repoRoot } from '../helpers/corpus.js';
import { NgWriter } from '../helpers/pcapng-writer.js';
import { replaySource } from '../../src/cli/replay.js';
import { metricSources } from '../../src/sensor/api.js';
import { configFromObject } from '../../src/config.js';
import { createMetrics } from '../../src/metrics.js';
import { Pipeline } from '../../src/pipeline.js';
import { readCaptureFile } from '../../src/source/file.js';
import { Store } from '../../src/store/store.js';

const corpus = corpusDir();

interface Summary {
  files: { file: string; packets: number; error?: string }[];
  skipped: { path: string; why: string }[];
  packets: number;
  malformed: Record<string, number>;
}

function llmtap(args: string[]): { status: number | null; stdout: string; stderr: string; signal: NodeJS.Signals | null } {
  // a hang is a failure, not a stuck test run
  const r = spawnSync(process.execPath, ['bin/llmtap.js', ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

describe.skipIf(corpus === undefined)('replay inputs', () => {
  let tmp: string;
  const db = (): string => join(tmp, `${Math.random().toString(36).slice(2)}.db`);
  const capture = (): string => join(corpus ?? '', 'pcaps', 'arkime-curl-tls13.pcap');
  const packets = (): number => (JSON.parse(readFileSync(join(corpus ?? '', 'expected', 'arkime-curl-tls13.json'), 'utf8')) as { summary: { packet_count: number } }).summary.packet_count;

  beforeAll(() => {
    ensureBuilt();
    tmp = mkdtempSync(join(tmpdir(), 'llmtap-inputs-'));
  });
  afterAll(() => {
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  });

  it('a FIFO and a directory named like captures in a replay directory are skipped by name; the run completes', () => {
    const dir = join(tmp, 'mixed');
    mkdirSync(dir);
    copyFileSync(capture(), join(dir, 'a.pcap'));
    execFileSync('mkfifo', [join(dir, 'b.pcap')]);
    mkdirSync(join(dir, 'c.pcap'));
    const r = llmtap(['replay', dir, '--db', db(), '--format', 'json']);
    expect(r.signal).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(`llmtap replay: skipped ${join(dir, 'b.pcap')}: a FIFO, not a capture file (only regular files and .gz are read)`);
    expect(r.stderr).toContain(`llmtap replay: skipped ${join(dir, 'c.pcap')}: a directory, not a capture file (only regular files and .gz are read)`);
    const s = JSON.parse(r.stdout) as Summary;
    expect(s.files.map((f) => f.file)).toEqual([join(dir, 'a.pcap')]);
    expect(s.skipped.map((x) => x.path)).toEqual([join(dir, 'b.pcap'), join(dir, 'c.pcap')]);
    expect(s.packets).toBe(packets());
    const t = llmtap(['replay', dir, '--db', db()]);
    expect(t.stdout).toContain(`skipped ${join(dir, 'b.pcap')}: a FIFO`);
  });

  it('a directory named x.pcap, or a FIFO, named on the command line: a message naming it and exit 1', () => {
    const x = join(tmp, 'x.pcap');
    mkdirSync(x);
    const r = llmtap(['replay', x, '--db', db()]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${x}: a directory, not a capture file, and it holds no capture files`);
    const fifo = join(tmp, 'named.pcap');
    execFileSync('mkfifo', [fifo]);
    const f = llmtap(['replay', fifo, capture(), '--db', db(), '--format', 'json']);
    expect(f.signal).toBeNull();
    expect(f.status).toBe(1);
    expect(f.stderr).toContain(`llmtap replay: skipped ${fifo}: a FIFO, not a capture file`);
    expect((JSON.parse(f.stdout) as Summary).packets).toBe(packets());
  });

  it('a truncated .gz capture: the file and the compressed and decompressed offsets are named, what came before is processed', () => {
    const plain = readFileSync(capture());
    const gz = gzipSync(plain);
    const cut = gz.subarray(0, Math.floor(gz.length * 0.6));
    const file = join(tmp, 'cut.pcap.gz');
    writeFileSync(file, cut);
    const inflated = gunzipSync(cut, { finishFlush: zlibConstants.Z_SYNC_FLUSH }).length;
    const r = llmtap(['replay', file, '--db', db(), '--format', 'json']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${file}: gzip stream broken at compressed byte ${cut.length} (decompressed byte ${inflated}): unexpected end of file`);
    const s = JSON.parse(r.stdout) as Summary;
    expect(s.malformed['source.gzip_error']).toBe(1);
    expect(s.packets).toBeGreaterThan(0);
    expect(s.packets).toBeLessThan(packets());
  });

  it('a pcapng packet on an interface that was never defined is counted by name in the summary', () => {
    const frame = Buffer.alloc(60);
    frame.writeUInt16BE(0x0800, 12); // Ethernet, IPv4 (a header of zeros: counted by decode, not here)
    const file = join(tmp, 'noif.pcapng');
    writeFileSync(file, new NgWriter(true).shb().idb(1).epb(0, 1n, frame).epb(7, 2n, frame).epb(7, 3n, frame).bytes());
    const r = llmtap(['replay', file, '--db', db(), '--format', 'json']);
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as Summary;
    expect(s.packets).toBe(1);
    expect(s.malformed['source.unknown_interface']).toBe(2);
    expect(llmtap(['replay', file, '--db', db()]).stdout).toMatch(/^malformed: .*source\.unknown_interface 2/m);
  });

  it('replay --serve metrics: the file problems by reason (llmtap_source_file_problems_total)', async () => {
    const frame = Buffer.alloc(60);
    const file = join(tmp, 'noif-metrics.pcapng');
    writeFileSync(file, new NgWriter(true).shb().idb(1).epb(0, 1n, frame).epb(7, 2n, frame).epb(7, 3n, frame).bytes());
    const store = Store.open(join(tmp, 'm.db'), { flushIntervalMs: 0 });
    const p = new Pipeline(configFromObject({}), { store });
    const r = await readCaptureFile(file, (b) => p.onBatch(b));
    p.finish();
    const text = await createMetrics(metricSources(p, () => replaySource([r])), { defaultMetrics: false }).registry.metrics();
    expect(text).toContain('llmtap_source_file_problems_total{reason="source.unknown_interface"} 2');
    expect(text).toContain('llmtap_source_packets_total 1');
    store.close();
  });

  it('an EDR feed that is a FIFO is refused by name, the captures still replayed', () => {
    const fifo = join(tmp, 'feed.ndjson');
    execFileSync('mkfifo', [fifo]);
    const r = llmtap(['replay', capture(), '--edr', fifo, '--db', db(), '--format', 'json']);
    expect(r.signal).toBeNull();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`llmtap replay: EDR feed ${fifo}: byte offset 0: not a regular file (only regular files and .gz are read)`);
    expect((JSON.parse(r.stdout) as Summary).packets).toBe(packets());
  });
});
