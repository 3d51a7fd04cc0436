/**
 * The `llmtap` command as a user runs it (`node bin/llmtap.js …` on the compiled dist/):
 * replay summaries against the corpus's tshark-made expectations, corrupt and compressed
 * captures, directory input, `--flows -` NDJSON, config errors and `rules explain`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/build-once.js';
import { corpusDir, corpusEntries, repoRoot, type CorpusEntry, type ExpectedFlow } from '../helpers/corpus.js';

const corpus = corpusDir();

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function llmtap(args: string[]): Run {
  const r = spawnSync(process.execPath, ['bin/llmtap.js', ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Summary {
  files: { file: string; format: string; compressed: boolean; packets: number; error?: string }[];
  packets: number;
  flows: number;
  malformed: Record<string, number>;
}

interface FlowLine {
  proto: number;
  origAddr: string;
  origPort: number;
  respAddr: string;
  respPort: number;
  origPkts: number;
  respPkts: number;
  origWireBytes: number;
  respWireBytes: number;
}


/** No JavaScript stack trace lines in what a user sees. */
function noStack(text: string): void {
  expect(text).not.toMatch(/^\s+at .+\(.+:\d+:\d+\)$/m);
  expect(text).not.toMatch(/node:internal|\.js:\d+/);
}

/** Byte offsets of the records of a classic little-endian pcap file. */
function pcapRecordOffsets(buf: Buffer): number[] {
  expect(buf.readUInt32LE(0)).toBe(0xa1b2c3d4);
  const out: number[] = [];
  let off = 24;
  while (off + 16 <= buf.length) {
    out.push(off);
    off += 16 + buf.readUInt32LE(off + 8);
  }
  return out;
}

describe.skipIf(corpus === undefined)('llmtap CLI', () => {
  let tmp: string;
  let entries: CorpusEntry[];
  const byName = (n: string): CorpusEntry => {
    const e = entries.find((x) => x.name === n);
    if (e === undefined) throw new Error(`corpus capture ${n} missing`);
    return e;
  };
  const packetCount = (e: CorpusEntry): number => (e.expected['summary'] as { packet_count: number }).packet_count;
  const db = (): string => join(tmp, `${Math.random().toString(36).slice(2)}.db`);

  beforeAll(() => {
    ensureBuilt();
    tmp = mkdtempSync(join(tmpdir(), 'llmtap-cli-'));
    entries = corpusEntries(corpus ?? '');
  });
  afterAll(() => {
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  });

  it('replay prints a summary whose packets and flows match tshark', () => {
    const e = byName('arkime-curl-tls13');
    const r = llmtap(['replay', e.pcap, '--db', db()]);
    expect(r.status, r.stderr).toBe(0);
    const flows = (e.expected['flows'] as ExpectedFlow[]).length;
    expect(r.stdout).toContain(`1 file(s), ${packetCount(e)} packets`);
    expect(r.stdout).toContain(`${flows} flows`);
    expect(r.stdout).toMatch(/^malformed: none$/m);
    expect(r.stdout).toMatch(/^database: /m);
    for (const n of ['zeek-quic-curl-http3', 'suri-dns-a-aaaa-mx', 'ndpi-dns-vlan', 'zeek-pcapng-multi-if', 'tcpdump-tcp-handshake-nano']) {
      const x = byName(n);
      const j = llmtap(['replay', x.pcap, '--db', db(), '--format', 'json']);
      expect(j.status, j.stderr).toBe(0);
      const s = JSON.parse(j.stdout) as Summary;
      expect(s.packets, n).toBe(packetCount(x));
      expect(s.flows, n).toBe((x.expected['flows'] as ExpectedFlow[]).length);
    }
  });

  it('a directory replays every capture in it: per-file packets equal the corpus expectations', () => {
    const r = llmtap(['replay', join(corpus ?? '', 'pcaps'), '--db', db(), '--format', 'json']);
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as Summary;
    expect(s.files.map((f) => basename(f.file))).toEqual(entries.map((e) => basename(e.pcap)));
    for (const f of s.files) {
      const e = entries.find((x) => basename(x.pcap) === basename(f.file));
      expect(f.packets, f.file).toBe(e === undefined ? -1 : packetCount(e));
      expect(f.error, f.file).toBeUndefined();
    }
    expect(s.packets).toBe(entries.reduce((n, e) => n + packetCount(e), 0));
    // A directory holding no capture is a clear input error.
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    writeFileSync(join(empty, 'notes.txt'), 'not a capture\n');
    const bad = llmtap(['replay', empty, '--db', db()]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('LLMTAP_ERR_INPUT');
    expect(bad.stderr).toContain(empty);
    noStack(bad.stderr);
  });

  it('--flows - writes one JSON flow per line that tshark agrees with', () => {
    const e = byName('arkime-curl-tls13');
    const r = llmtap(['replay', e.pcap, '--db', db(), '--flows', '-', '--quiet']);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    const flows = lines.map((l) => JSON.parse(l) as FlowLine);
    const expected = e.expected['flows'] as ExpectedFlow[];
    expect(flows).toHaveLength(expected.length);
    for (const x of expected) {
      const f = flows.find(
        (y) =>
          (y.origAddr === x.a && y.origPort === x.a_port && y.respAddr === x.b && y.respPort === x.b_port) ||
          (y.origAddr === x.b && y.origPort === x.b_port && y.respAddr === x.a && y.respPort === x.a_port),
      );
      expect(f, `${x.a}:${x.a_port} ${x.b}:${x.b_port}`).toBeDefined();
      expect((f?.origPkts ?? 0) + (f?.respPkts ?? 0)).toBe(x.frames);
      expect((f?.origWireBytes ?? 0) + (f?.respWireBytes ?? 0)).toBe(x.bytes);
    }
  });

  it('a .gz copy gives the same flows as the plain file (pcap and pcapng)', () => {
    for (const n of ['arkime-curl-tls13', 'ja4-latest-dns-cname']) {
      const e = byName(n);
      const gz = join(tmp, `${basename(e.pcap)}.gz`);
      writeFileSync(gz, gzipSync(readFileSync(e.pcap)));
      const plain = llmtap(['replay', e.pcap, '--db', db(), '--flows', '-', '--quiet']);
      const packed = llmtap(['replay', gz, '--db', db(), '--flows', '-', '--quiet']);
      expect(plain.status, plain.stderr).toBe(0);
      expect(packed.status, packed.stderr).toBe(0);
      expect(plain.stdout.split('\n').length).toBeGreaterThan(2);
      expect(packed.stdout).toBe(plain.stdout);
      const s = JSON.parse(llmtap(['replay', gz, '--db', db(), '--format', 'json']).stdout) as Summary;
      expect(s.files[0]?.compressed).toBe(true);
      expect(s.packets).toBe(packetCount(e));
    }
  });

  it('an overwritten record header: error naming the file and byte offset, exit 1, records before it processed', () => {
    const e = byName('arkime-curl-tls13');
    const buf = readFileSync(e.pcap);
    const offs = pcapRecordOffsets(buf);
    expect(offs).toHaveLength(packetCount(e));
    const at = offs[5] ?? 0;
    const bad = Buffer.from(buf);
    bad.fill(0xff, at, at + 16);
    const file = join(tmp, 'header-overwritten.pcap');
    writeFileSync(file, bad);
    const r = llmtap(['replay', file, '--db', db(), '--format', 'json']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toContain(`byte offset ${at}`);
    expect(r.stderr).toContain('everything before it was processed');
    noStack(r.stderr);
    const s = JSON.parse(r.stdout) as Summary;
    expect(s.packets).toBe(5);
    expect(s.files[0]?.error).toContain(`byte offset ${at}`);

    // A destroyed file header: the same, at offset 0, nothing processed.
    const magic = Buffer.from(buf);
    magic.fill(0, 0, 4);
    const m = join(tmp, 'magic-overwritten.pcap');
    writeFileSync(m, magic);
    const rm = llmtap(['replay', m, '--db', db()]);
    expect(rm.status).toBe(1);
    expect(rm.stderr).toContain(`${m}: byte offset 0: not a pcap or pcapng file`);
    noStack(rm.stderr);
    // A later good file in the same run is still processed.
    const both = llmtap(['replay', m, e.pcap, '--db', db(), '--format', 'json']);
    expect(both.status).toBe(1);
    expect((JSON.parse(both.stdout) as Summary).packets).toBe(packetCount(e));
  });

  it('a copy cut mid-record: the records before the cut are processed and the cut is counted by name', () => {
    const e = byName('arkime-curl-tls13');
    const buf = readFileSync(e.pcap);
    const offs = pcapRecordOffsets(buf);
    const cutAt = (offs[11] ?? 0) + 16 + 7; // inside record 12's data
    const file = join(tmp, 'cut.pcap');
    writeFileSync(file, buf.subarray(0, cutAt));
    // The source stage's design: a partial last record (a capture stopped while writing) is
    // counted, not an error, so the exit status is not asserted here (see the report).
    const r = llmtap(['replay', file, '--db', db(), '--format', 'json']);
    noStack(r.stderr);
    const s = JSON.parse(r.stdout) as Summary;
    expect(s.packets).toBe(11);
    expect(s.malformed['source.truncated_record']).toBe(1);
    const t = llmtap(['replay', file, '--db', db()]);
    expect(t.stdout).toMatch(/^malformed: .*source\.truncated_record 1/m);
  });

  it('a bad config key is named with its file; no stack trace', () => {
    const cfg = join(tmp, 'bad.yaml');
    writeFileSync(cfg, 'flow:\n  max_flowz: 3\n');
    const e = byName('arkime-curl-tls13');
    const r = llmtap(['replay', e.pcap, '--config', cfg, '--db', db()]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('LLMTAP_ERR_CONFIG');
    expect(r.stderr).toContain(`${cfg}: flow.max_flowz: unknown key`);
    expect(r.stdout).toBe('');
    noStack(r.stderr);
    const wrongType = join(tmp, 'type.yaml');
    writeFileSync(wrongType, 'store:\n  retention_hours: soon\n');
    const t = llmtap(['replay', e.pcap, '--config', wrongType, '--db', db()]);
    expect(t.status).toBe(2);
    expect(t.stderr).toContain('store.retention_hours');
    noStack(t.stderr);
    const missing = llmtap(['replay', join(tmp, 'nope.pcap'), '--db', db()]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(`${join(tmp, 'nope.pcap')}: no such file or directory`);
  });

  it('rules explain api.openai.com names the deciding rule', () => {
    const r = llmtap(['rules', 'explain', 'api.openai.com']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^verdict:\s+api \/ OpenAI$/m);
    expect(r.stdout).toMatch(/^decided:\s+openai-api\b/m);
    const no = llmtap(['rules', 'explain', 'example.org']);
    expect(no.status).toBe(0);
    expect(no.stdout).toMatch(/^verdict:\s+not AI traffic/m);
  });
});
