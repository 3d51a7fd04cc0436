/**
 * The command-line conventions, command by command (`node bin/llmtap.js …` on the compiled
 * dist/): `-h/--help` on every command and subcommand prints its usage on stdout and exits 0;
 * exit code 1 for a runtime failure, 2 for a usage or configuration error; `-` replays a
 * capture (pcap, pcapng, gzip) from standard input; `llmtap config check FILE`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/build-once.js';
import { corpusDir, corpusEntries, repoRoot, type CorpusEntry } from '../helpers/corpus.js';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Asynchronous: a test runs many commands, and blocking spawns would starve the worker's RPC. */
function llmtap(args: string[], input?: Buffer): Promise<Run> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['bin/llmtap.js', ...args], { cwd: repoRoot, timeout: 120_000, stdio: [input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    c.stdout!.on('data', (d: Buffer) => out.push(d));
    c.stderr!.on('data', (d: Buffer) => err.push(d));
    if (input !== undefined) {
      c.stdin!.on('error', () => undefined); // the command may stop reading early (a bad header)
      c.stdin!.end(input);
    }
    c.on('close', (status) => resolve({ status, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

let tmp: string;
beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'llmtap-conv-'));
});
afterAll(() => {
  if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
});
const db = (): string => join(tmp, `${Math.random().toString(36).slice(2)}.db`);

/** The commands the top-level usage lists (`llmtap replay …`, `llmtap rules explain …`). */
async function listedCommands(): Promise<string[][]> {
  const top = (await llmtap(['--help'])).stdout;
  const cmds = new Set<string>();
  for (const m of top.matchAll(/^ {2}llmtap ([a-z]+)(?: ([a-z]+))?\b/gm)) {
    const sub = m[2] !== undefined && /^[a-z]+$/.test(m[2]) && m[1] !== 'replay' && m[1] !== 'run' ? ` ${m[2]}` : '';
    cmds.add(`${m[1]}${sub}`);
  }
  return [...cmds].map((c) => c.split(' '));
}

describe('-h/--help', () => {
  it('the top level: usage on stdout, exit 0; no command is a usage error (exit 2)', async () => {
    for (const a of [['--help'], ['-h'], ['help']]) {
      const r = await llmtap(a);
      expect(r.status, a.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^llmtap — /);
      expect(r.stdout).toContain('exit codes: 0 success, 1 runtime failure, 2 usage or configuration error');
      expect(r.stderr).toBe('');
    }
    const none = await llmtap([]);
    expect(none.status).toBe(2);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain('no command given');
    const unknown = await llmtap(['frobnicate']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
  });

  it('every listed command and subcommand, -h and --help, before or after other arguments', async () => {
    const cmds = await listedCommands();
    expect(cmds.map((c) => c.join(' '))).toEqual(expect.arrayContaining(['replay', 'run', 'rules explain', 'rules export', 'rules check', 'config check']));
    for (const c of cmds) {
      for (const flag of ['--help', '-h']) {
        for (const args of [[...c, flag], [...c, 'x', flag]]) {
          const r = await llmtap(args);
          expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
          expect(r.stdout, args.join(' ')).toMatch(new RegExp(`^usage: llmtap ${c.join(' ')}\\b`, 'm'));
          expect(r.stdout, args.join(' ')).toMatch(/exit codes: 0 /);
          expect(r.stderr, args.join(' ')).toBe('');
        }
      }
    }
    // a command with subcommands: its own --help lists them all
    for (const c of ['rules', 'config']) {
      const r = await llmtap([c, '--help']);
      expect(r.status).toBe(0);
      for (const s of cmds.filter((x) => x[0] === c)) expect(r.stdout).toContain(`llmtap ${s.join(' ')}`);
    }
    // `--` ends the options: a later --help is an argument, not a request for help
    const dd = await llmtap(['rules', 'explain', '--', '--help']);
    expect(dd.status).toBe(0);
    expect(dd.stdout).toMatch(/^query:\s+--help/m);
  });
});

describe('exit codes', () => {
  it('usage errors exit 2 on every command, with the usage on stderr', async () => {
    const cases: string[][] = [
      ['replay'],
      ['replay', 'x.pcap', '--bogus'],
      ['replay', 'x.pcap', '--format', 'xml'],
      ['replay', '-', '-'],
      ['run', '--bogus'],
      ['run', '--no-api'], // no interface anywhere
      ['rules'],
      ['rules', 'frob'],
      ['rules', 'explain'],
      ['rules', 'explain', 'h', '--port', '70000'],
      ['rules', 'export', 'extra'],
      ['rules', 'check'],
      ['config'],
      ['config', 'frob'],
      ['config', 'check'],
      ['config', 'check', 'a.yaml', 'b.yaml'],
      ['config', 'check', 'a.yaml', '--bogus'],
    ];
    for (const c of cases) {
      const r = await llmtap(c);
      expect(r.status, `${c.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr, c.join(' ')).toMatch(/usage|--help/);
      expect(r.stdout, c.join(' ')).toBe('');
    }
  });

  it('configuration errors exit 2 on every command that reads a config or rules', async () => {
    const bad = join(tmp, 'bad.yaml');
    writeFileSync(bad, 'flow:\n  max_flowz: 3\n');
    const badRules = join(tmp, 'bad-rules.yaml');
    writeFileSync(badRules, 'format: llmtap-rules/1\nrules:\n  - id: a\n    category: chat\n    provider: P\n    match: { ports: [8080] }\n    source: s\n');
    const pcap = join(tmp, 'none.pcap');
    const cases: Array<[string[], string]> = [
      [['replay', pcap, '--config', bad, '--db', db()], `${bad}: flow.max_flowz: unknown key`],
      [['replay', pcap, '--config', join(tmp, 'missing.yaml')], 'cannot read config'],
      [['run', '--iface', 'lo', '--config', bad, '--no-api'], `${bad}: flow.max_flowz: unknown key`],
      [['config', 'check', bad], `${bad}: flow.max_flowz: unknown key`],
      [['config', 'check', join(tmp, 'missing.yaml')], 'cannot read config'],
      [['rules', 'check', badRules], 'INVALID (1 problem)'],
      [['rules', 'explain', 'h', '--rules', join(tmp, 'missing-rules.yaml')], 'LLMTAP_ERR_RULES'],
    ];
    for (const [args, msg] of cases) {
      const r = await llmtap(args);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(`${r.stdout}${r.stderr}`, args.join(' ')).toContain(msg);
      expect(r.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    }
  });

  it('runtime failures exit 1', async () => {
    const notCapture = join(tmp, 'notes.pcap');
    writeFileSync(notCapture, 'this is not a capture file at all, only text\n');
    const cases: Array<[string[], string]> = [
      [['replay', join(tmp, 'nope.pcap'), '--db', db()], 'no such file or directory'],
      [['replay', notCapture, '--db', db()], 'not a pcap or pcapng file'],
      [['run', '--iface', 'lt-no-such0', '--no-api'], 'LLMTAP_ERR_CAPTURE_NO_IFACE'],
      [['rules', 'export', '--out', join(tmp, 'no-dir', 'rules.json')], 'LLMTAP_ERR_IO'],
    ];
    for (const [args, msg] of cases) {
      const r = await llmtap(args);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr, args.join(' ')).toContain(msg);
    }
  });
});

describe('config check', () => {
  it('prints the effective config with every default, exit 0; secrets redacted; the default lineage key warned about', async () => {
    const file = join(tmp, 'ok.yaml');
    writeFileSync(file, 'flow:\n  max_flows: 1234\napi:\n  port: 9999\n  cursor_key: s3cret-cursor\n');
    const r = await llmtap(['config', 'check', file]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`# ${file}: valid; the effective config, defaults filled in`);
    const eff = YAML.parse(r.stdout) as Record<string, Record<string, unknown>>;
    expect(eff['flow']?.['max_flows']).toBe(1234);
    expect(eff['api']?.['port']).toBe(9999);
    expect(eff['api']?.['host']).toBe('127.0.0.1'); // a default filled in
    expect(eff['api']?.['cursor_key']).toBe('<redacted>');
    expect(eff['store']?.['retention_hours']).toBeTypeOf('number');
    expect(r.stdout).not.toContain('s3cret-cursor');
    expect(r.stderr).toContain('warning: attribute.lineage_key is the built-in default');

    const keyed = join(tmp, 'keyed.yaml');
    writeFileSync(keyed, 'attribute:\n  lineage_key: my-lineage-secret-123\n');
    const k = await llmtap(['config', 'check', keyed]);
    expect(k.status).toBe(0);
    expect(k.stderr).toBe('');
    expect(k.stdout).not.toContain('my-lineage-secret-123');
    expect((YAML.parse(k.stdout) as { attribute: { lineage_key: string } }).attribute.lineage_key).toBe('<redacted>');
    // the printed config is itself a valid config
    const again = join(tmp, 'again.yaml');
    writeFileSync(again, r.stdout);
    expect((await llmtap(['config', 'check', again])).status).toBe(0);
  });
});

const corpus = corpusDir();
describe.skipIf(corpus === undefined)('replay - (standard input)', () => {
  let entries: CorpusEntry[];
  beforeAll(() => {
    entries = corpusEntries(corpus ?? '');
  });
  const byName = (n: string): CorpusEntry => {
    const e = entries.find((x) => x.name === n);
    if (e === undefined) throw new Error(`corpus capture ${n} missing`);
    return e;
  };
  const packetCount = (e: CorpusEntry): number => (e.expected['summary'] as { packet_count: number }).packet_count;
  interface Summary {
    files: { file: string; format: string; compressed: boolean; packets: number }[];
    packets: number;
    flows: number;
  }

  it('pcap, pcapng and gzip on stdin give the same packets and flows as the file', async () => {
    for (const [name, gz] of [['arkime-curl-tls13', false], ['zeek-pcapng-multi-if', false], ['zeek-quic-curl-http3', true], ['ja4-tls-sni-browsers', true]] as const) {
      const e = byName(name);
      const bytes = readFileSync(e.pcap);
      const fromFile = await llmtap(['replay', e.pcap, '--db', db(), '--format', 'json']);
      expect(fromFile.status, fromFile.stderr).toBe(0);
      const r = await llmtap(['replay', '-', '--db', db(), '--format', 'json'], gz ? gzipSync(bytes) : bytes);
      expect(r.status, r.stderr).toBe(0);
      const s = JSON.parse(r.stdout) as Summary;
      const f = JSON.parse(fromFile.stdout) as Summary;
      expect(s.packets, name).toBe(packetCount(e));
      expect(s.flows, name).toBe(f.flows);
      expect(s.files[0], name).toMatchObject({ file: 'standard input', format: e.pcap.endsWith('.pcapng') ? 'pcapng' : 'pcap', compressed: gz, packets: packetCount(e) });
    }
  });

  it('stdin together with files; an empty or broken stdin is a runtime failure (exit 1) naming standard input', async () => {
    const a = byName('arkime-curl-tls13');
    const b = byName('suri-dns-a-aaaa-mx');
    const r = await llmtap(['replay', a.pcap, '-', '--db', db(), '--format', 'json'], readFileSync(b.pcap));
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as Summary).packets).toBe(packetCount(a) + packetCount(b));
    const empty = await llmtap(['replay', '-', '--db', db()], Buffer.alloc(0));
    expect(empty.status).toBe(1);
    expect(empty.stderr).toContain('standard input: byte offset 0: file too short for a capture header (0 bytes)');
    const text = await llmtap(['replay', '-', '--db', db()], Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(text.status).toBe(1);
    expect(text.stderr).toContain('standard input: byte offset 0: not a pcap or pcapng file');
    const badGzip = gzipSync(readFileSync(a.pcap)).subarray(0, 200);
    const cut = await llmtap(['replay', '-', '--db', db(), '--format', 'json'], badGzip);
    expect(cut.status).toBe(1);
    expect(cut.stderr).toMatch(/llmtap replay: .*(unexpected end of file|too short)/i);
  });
});
