/**
 * Push outputs end to end: the demo replayed by the CLI (README quick start) with every output
 * configured — CEF over TCP and OCSF JSON over UDP into a real rsyslogd, OCSF/ECS/EVE files,
 * and a signed webhook to a local HTTPS receiver — then what each receiver got is checked.
 * Then, in process: retry after the receiver was down, the bounded queue, logrotate (create
 * and copytruncate), reload, tls:// framing and CEF escaping.
 */
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer as createTlsServer } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromObject, type OutputConfig } from '../../src/config.js';
import { createMetrics } from '../../src/metrics.js';
import { cefHeader, cefValue, toCef } from '../../src/output/format.js';
import { Outputs } from '../../src/output/outputs.js';
import { FileOutput, SyslogOutput, WebhookOutput, webhookSignature } from '../../src/output/push.js';
import type { Alert } from '../../src/records.js';
import { Store } from '../../src/store/store.js';
import { ensureBuilt } from '../helpers/build-once.js';
import { repoRoot } from '../helpers/corpus.js';
import { replayDemo } from '../helpers/demo-run.js';
import { OcsfSchema, ocsfSchemaDir } from '../helpers/ocsf-schema.js';
import { haveTool } from '../helpers/tools.js';
import { freePort, selfSignedCert, startHttps, startRsyslog, waitFor, type Received } from './helpers.js';

const haveRsyslog = haveTool('rsyslogd', 'rsyslog', '-v');
const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
const KEY = 'a-webhook-signing-key-of-32-bytes!';
const ctx = { version, hostname: 'sensor-1' };

/** Fills an output entry with the schema defaults (as the config loader does). */
function out(o: Partial<OutputConfig> & { type: OutputConfig['type'] }): OutputConfig {
  return configFromObject({ outputs: [o] }).outputs[0]!;
}

function verify(r: Received): boolean {
  const ts = String(r.headers['x-llmtap-timestamp']);
  const expected = `sha256=${createHmac('sha256', KEY).update(`${ts}.${r.body}`).digest('hex')}`;
  return r.headers['x-llmtap-signature'] === expected;
}

/** CEF extension → map, undoing ArcSight escaping (\\ \= \n \r). */
function cefExtension(ext: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /(\w+)=((?:\\.|[^\\])*?)(?= \w+=|$)/g;
  for (const m of ext.matchAll(re)) out[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
  return out;
}

/** CEF → 7 header fields (unescaped) + extension map. */
function parseCef(line: string): { header: string[]; ext: Record<string, string> } {
  const header: string[] = [];
  let cur = '';
  let i = 0;
  for (; i < line.length && header.length < 7; i++) {
    const c = line[i]!;
    if (c === '\\') cur += line[++i] ?? '';
    else if (c === '|') {
      header.push(cur);
      cur = '';
    } else cur += c;
  }
  return { header, ext: cefExtension(line.slice(i)) };
}

describe.skipIf(!haveRsyslog)('the demo through every output (CLI replay)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'llmtap-out-'));
  let rsyslog: Awaited<ReturnType<typeof startRsyslog>>;
  let hook: Awaited<ReturnType<typeof startHttps>>;
  let ocsfLines: any[]; // eslint-disable-line @typescript-eslint/no-explicit-any
  let replay: { status: number; stderr: string };
  /** `<alert id>:<seq>` of every change in the replay's database, in order: what each output must carry. */
  let changes: string[];
  let kinds: string[];

  beforeAll(async () => {
    ensureBuilt();
    const tls = selfSignedCert(dir);
    rsyslog = await startRsyslog(dir, tls);
    hook = await startHttps(tls);
    writeFileSync(join(dir, 'hook.key'), `${KEY}\n`);
    const cfg = YAML.parse(readFileSync(join(repoRoot, 'pcaps', 'demo', 'llmtap.yaml'), 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    cfg['rules'].tenant_dir = join(repoRoot, 'pcaps', 'demo', 'rules');
    cfg['outputs'] = [
      { type: 'syslog', url: `tcp://127.0.0.1:${rsyslog.tcpPort}`, format: 'cef' },
      { type: 'syslog', name: 'siem-udp', url: `udp://127.0.0.1:${rsyslog.udpPort}`, format: 'json' },
      { type: 'syslog', name: 'siem-tls', url: `tls://127.0.0.1:${rsyslog.tlsPort}`, format: 'cef', ca_file: tls.certFile },
      { type: 'file', path: join(dir, 'alerts.ndjson'), format: 'ocsf' },
      { type: 'file', path: join(dir, 'ecs.ndjson'), format: 'ecs' },
      { type: 'file', path: join(dir, 'eve.ndjson'), format: 'eve' },
      { type: 'webhook', url: `https://127.0.0.1:${hook.port}/llmtap`, secret_file: join(dir, 'hook.key'), ca_file: tls.certFile, batch_max: 4 },
    ];
    writeFileSync(join(dir, 'llmtap.yaml'), YAML.stringify(cfg));
    // asynchronously: the webhook receiver runs in this process and must answer meanwhile
    replay = await new Promise((res) => {
      execFile(process.execPath, [join(repoRoot, 'bin', 'llmtap.js'), 'replay', join(repoRoot, 'pcaps', 'demo'), '--config', join(dir, 'llmtap.yaml'),
        '--edr', join(repoRoot, 'pcaps', 'demo', 'edr', 'llmtap.ndjson'), '--db', join(dir, 'demo.db'), '--quiet'], { encoding: 'utf8', timeout: 120_000 },
      (err, _stdout, stderr) => res({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stderr }));
    });
    const db = Store.open(join(dir, 'demo.db'));
    const log = db.listAlertChanges('demo', { afterSeq: 0, limit: 1000 });
    db.close();
    changes = log.map((a) => `${a.id}:${a.seq}`);
    kinds = log.map((a) => a.change ?? '');
    await waitFor(() => (['tcp', 'udp', 'tls'] as const).every((i) => rsyslog.lines(i).length >= changes.length), 10_000, 'rsyslog to write every change');
    ocsfLines = readFileSync(join(dir, 'alerts.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  }, 180_000);

  afterAll(async () => {
    await rsyslog?.stop();
    await hook?.close();
  });

  it('the replay succeeds and delivers everything', () => {
    expect(replay.stderr).toBe('');
    expect(replay.status).toBe(0);
  });

  it('rsyslog received one CEF message per alert change (RFC 5424, octet-counted TCP), H7 among them', () => {
    // the demo's 9 alerts: each created once, some updated (how many updates depends on when the
    // store committed: each committed state is one change)
    expect(new Set(changes.map((c) => c.split(':')[0])).size).toBe(9);
    expect(kinds.filter((k) => k === 'create')).toHaveLength(9);
    const lines = rsyslog.lines('tcp');
    expect(lines).toHaveLength(changes.length);
    const cefs = lines.map((l) => {
      const [app, msgid, sev, , ...rest] = l.split('|');
      expect([app, msgid]).toEqual(['llmtap', 'alert']);
      const cef = parseCef(rest.join('|'));
      expect(cef.header.slice(0, 4)).toEqual(['CEF:0', 'llmtap', 'llmtap', version]);
      const c: Record<string, string | number | undefined> = { sev: Number(sev), heuristic: cef.header[4], cefSev: cef.header[6], title: cef.header[5], ...cef.ext };
      return c;
    });
    // every change of the database, in order, each with its kind
    expect(cefs.map((c) => `${c['externalId']}|${c['act']}`)).toEqual(changes.map((c, i) => `${c.split(':')[0]}|${kinds[i]}`));
    const h7 = cefs.filter((c) => c['heuristic'] === 'h7');
    expect(h7).toHaveLength(1);
    expect(h7[0]).toMatchObject({
      act: 'create', cefSev: '10', sev: 2, sproc: 'quickprompt', dhost: 'api.openai.com', cs1: 'OpenAI',
      title: expect.stringMatching(/^H7: unknown binary quickprompt .*3 devices/) as unknown as string,
      fileHash: '007e36a3c44329305dc018653576f9843a6bb03c688eb75cce2a0aafa0e0ec3c',
    });
    const upload = cefs.find((c) => c['heuristic'] === 'upload')!;
    expect(upload).toMatchObject({ c6a2: 'fd77:0:0:77::103', c6a2Label: 'Source IPv6 Address', c6a3: 'fd77:0:0:77::12', dpt: '443', proto: 'TCP', out: '13925053' });
    // the Community ID's '=' is escaped on the wire and restored by the parser
    expect(rsyslog.lines('tcp')[0]).toContain('cs4=1:/EyN1y37sc/OdeyCf76xipjqAm4\\=');
    expect(cefs[0]!['cs4']).toBe('1:/EyN1y37sc/OdeyCf76xipjqAm4=');
  });

  it('rsyslog received the same CEF messages over TLS (RFC 5425, its gtls driver)', () => {
    // the same template as the TCP input: app-name, msgid, severity, hostname, MSG — the same lines
    expect(rsyslog.lines('tls')).toHaveLength(changes.length);
    expect(rsyslog.lines('tls')).toEqual(rsyslog.lines('tcp'));
  });

  it('rsyslog received the OCSF JSON over UDP, one datagram per change', () => {
    const json = rsyslog.lines('udp').map((l) => JSON.parse(l.split('|').slice(4).join('|')) as { metadata: { uid: string } });
    expect(json.map((j) => j.metadata.uid)).toEqual(changes);
  });

  it.skipIf(ocsfSchemaDir() === undefined)('the OCSF file validates line by line', () => {
    const schema = new OcsfSchema(ocsfSchemaDir()!);
    expect(ocsfLines.map((f) => f.metadata.uid)).toEqual(changes);
    for (const f of ocsfLines) expect({ uid: f.metadata.uid, errors: schema.validate(f) }).toEqual({ uid: f.metadata.uid, errors: [] });
  });

  it('the ECS and EVE files carry the same changes', () => {
    const ecs = readFileSync(join(dir, 'ecs.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const eve = readFileSync(join(dir, 'eve.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(ecs.map((e) => e.event.id)).toEqual(changes);
    expect(eve.map((e) => `${e.llmtap.alert_id}:${e.llmtap.seq}`)).toEqual(changes);
    expect(eve.every((e) => e.event_type === 'alert' && typeof e.alert.signature_id === 'number')).toBe(true);
  });

  it('the webhook receiver verifies every signature and got every change once', () => {
    expect(hook.received.length).toBeGreaterThanOrEqual(Math.ceil(changes.length / 4)); // batches of at most 4
    for (const r of hook.received) expect(verify(r)).toBe(true);
    const batches = hook.received.map((r) => (JSON.parse(r.body) as { events: { metadata: { uid: string } }[] }).events.map((e) => e.metadata.uid));
    for (const b of batches) expect(b.length).toBeLessThanOrEqual(4);
    expect(batches.flat()).toEqual(changes);
  });
});

describe('outputs in process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'llmtap-out2-'));
  let alerts: Alert[];

  beforeAll(async () => {
    const demo = await replayDemo();
    alerts = demo.store.listAlertChanges('demo', { afterSeq: 0, limit: 100 });
    demo.store.close();
    writeFileSync(join(dir, 'hook.key'), KEY);
  }, 60_000);

  it('a webhook retries with backoff until the receiver is up, then every batch verifies', async () => {
    const tls = selfSignedCert(dir);
    const port = await freePort();
    const w = new WebhookOutput(out({ type: 'webhook', url: `https://127.0.0.1:${port}/in`, secret_file: join(dir, 'hook.key'), ca_file: tls.certFile, retry_initial_ms: 20, retry_max_ms: 200, batch_max: 5 }), 0, ctx, (p) => p);
    for (const a of alerts) w.enqueue(a);
    await waitFor(() => w.failed >= 5 * 2, 10_000, 'two failed attempts'); // first batch failed at least twice
    expect(w.sent).toBe(0);
    expect(w.queued).toBe(13);
    const hook = await startHttps(tls, port);
    try {
      await waitFor(() => w.sent === 13, 10_000, 'delivery after the receiver came up');
      expect(w.queued).toBe(0);
      expect(w.dropped).toBe(0);
      expect(hook.received.map((r) => verify(r))).toEqual([true, true, true]);
      // a body altered in transit would not verify
      const r0 = hook.received[0]!;
      expect(verify({ ...r0, body: r0.body.replace('Critical', 'Low') })).toBe(false);
    } finally {
      await w.close();
      await hook.close();
    }
  });

  it('a receiver answering 500 is retried; the signature is the documented HMAC', async () => {
    const tls = selfSignedCert(dir);
    let n = 0;
    const hook = await startHttps(tls, 0, () => (n++ < 2 ? 500 : 200));
    const w = new WebhookOutput(out({ type: 'webhook', url: `https://127.0.0.1:${hook.port}/in`, secret_file: join(dir, 'hook.key'), ca_file: tls.certFile, retry_initial_ms: 10 }), 0, ctx, (p) => p);
    w.enqueue(alerts[0]!);
    await waitFor(() => w.sent === 1, 5000, 'delivery');
    expect(w.failed).toBe(2);
    const r = hook.received[0]!;
    expect(r.headers['x-llmtap-signature']).toBe(webhookSignature(Buffer.from(KEY), String(r.headers['x-llmtap-timestamp']), r.body));
    await w.close();
    await hook.close();
  });

  it('the queue is bounded: a down output drops the oldest changes and enqueue never waits', async () => {
    const port = await freePort();
    const s = new SyslogOutput(out({ type: 'syslog', url: `tcp://127.0.0.1:${port}`, queue_max: 5, retry_initial_ms: 60_000, retry_max_ms: 60_000 }), 0, ctx, (p) => p);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 4; i++) for (const a of alerts) s.enqueue(a); // 52 changes
    const enqueueMs = Number(process.hrtime.bigint() - t0) / 1e6;
    expect(enqueueMs).toBeLessThan(1000); // synchronous appends, no I/O awaited (not a benchmark: a hang guard)
    await waitFor(() => s.failed > 0, 5000, 'the first failed attempt');
    expect(s.queued).toBe(5);
    expect(s.dropped).toBe(47);
    expect(s.sent).toBe(0);
    await s.close();
    expect(s.dropped).toBe(52);
  });

  it('file output follows logrotate: create (rename + new file) and copytruncate', async () => {
    const path = join(dir, 'rot.ndjson');
    const f = new FileOutput(out({ type: 'file', path }), 0, ctx, (p) => p);
    f.enqueue(alerts[0]!);
    f.enqueue(alerts[1]!);
    await f.drain(5000);
    // logrotate create: rename, then a new empty file with the same name (no signal)
    renameSync(path, `${path}.1`);
    writeFileSync(path, '');
    f.enqueue(alerts[2]!);
    await f.drain(5000);
    expect(readFileSync(`${path}.1`, 'utf8').trim().split('\n')).toHaveLength(2);
    expect(readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l).metadata.uid)).toEqual([`${alerts[2]!.id}:${alerts[2]!.seq}`]);
    // copytruncate: copy, then truncate in place; appends land at the new end, no hole of NULs
    copyFileSync(path, `${path}.2`);
    truncateSync(path, 0);
    f.enqueue(alerts[3]!);
    await f.drain(5000);
    const after = readFileSync(path);
    expect(after.includes(0)).toBe(false);
    expect(after.toString('utf8').trim().split('\n').map((l) => JSON.parse(l).metadata.uid)).toEqual([`${alerts[3]!.id}:${alerts[3]!.seq}`]);
    expect(f.failed).toBe(0);
    await f.close();
  });

  it('exports sent, failed, dropped and queued per output as Prometheus metrics', async () => {
    const path = join(dir, 'metrics.ndjson');
    const f = new FileOutput(out({ type: 'file', name: 'siem-file', path }), 0, ctx, (p) => p);
    const port = await freePort();
    const s = new SyslogOutput(out({ type: 'syslog', url: `tcp://127.0.0.1:${port}`, queue_max: 2, retry_initial_ms: 60_000, retry_max_ms: 60_000 }), 1, ctx, (p) => p);
    for (const a of alerts.slice(0, 4)) { f.enqueue(a); s.enqueue(a); }
    await f.drain(5000);
    await waitFor(() => s.failed > 0, 5000, 'a failed syslog attempt');
    const m = createMetrics({ outputs: () => [f.counters(), s.counters()] }, { defaultMetrics: false });
    const text = await m.registry.metrics();
    expect(text).toContain('llmtap_output_sent_total{output="siem-file",type="file"} 4');
    expect(text).toContain('llmtap_output_sent_total{output="syslog-1",type="syslog"} 0');
    expect(text).toContain('llmtap_output_failed_total{output="syslog-1",type="syslog"} 1');
    expect(text).toContain('llmtap_output_dropped_total{output="syslog-1",type="syslog"} 2');
    expect(text).toContain('llmtap_output_queued{output="syslog-1",type="syslog"} 2');
    await f.close();
    await s.close();
  });

  it('reload keeps unchanged outputs (file reopened), closes removed ones, starts new ones; a bad one changes nothing', async () => {
    let seqs = 0;
    const store = {
      lastAlertSeq: () => 0,
      listAlertChanges: (_t: string, q: { afterSeq: number }) => alerts.filter((a) => (a.seq ?? 0) > q.afterSeq && (a.seq ?? 0) <= seqs),
    };
    const o = new Outputs(store, ctx, (p) => p);
    o.follow(['demo']);
    const a = out({ type: 'file', path: join(dir, 'a.ndjson') });
    const b = out({ type: 'file', path: join(dir, 'b.ndjson'), format: 'eve' });
    await o.configure([a]);
    const first = o.outputs()[0];
    seqs = 3;
    expect(o.poll()).toBe(3);
    await o.drain(5000);
    renameSync(join(dir, 'a.ndjson'), join(dir, 'a.ndjson.1')); // rotated, then SIGHUP
    await o.configure([a, b]);
    expect(o.outputs()[0]).toBe(first); // same settings: same output, same queue
    seqs = 5;
    expect(o.poll()).toBe(2);
    await o.drain(5000);
    expect(readFileSync(join(dir, 'a.ndjson'), 'utf8').trim().split('\n')).toHaveLength(2);
    expect(readFileSync(join(dir, 'b.ndjson'), 'utf8').trim().split('\n')).toHaveLength(2);
    await expect(o.configure([b, out({ type: 'webhook', url: 'https://127.0.0.1:1/x', secret_file: join(dir, 'missing.key') })])).rejects.toThrow(/cannot read secret_file/);
    expect(o.size).toBe(2);
    await o.configure([b]);
    expect(o.size).toBe(1);
    await o.close();
  });

  it('syslog over tls:// frames each message with its octet count (RFC 5425)', async () => {
    const tls = selfSignedCert(dir);
    const chunks: Buffer[] = [];
    const server = createTlsServer({ key: tls.key, cert: tls.cert }, (sock) => sock.on('data', (d: Buffer) => chunks.push(d)));
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
    const port = (server.address() as { port: number }).port;
    const s = new SyslogOutput(out({ type: 'syslog', url: `tls://127.0.0.1:${port}`, ca_file: tls.certFile }), 0, ctx, (p) => p);
    for (const a of alerts.slice(0, 3)) s.enqueue(a);
    await s.drain(5000);
    await waitFor(() => Buffer.concat(chunks).length > 0 && Buffer.concat(chunks).toString().split(' CEF:0').length === 4, 5000, 'three frames');
    const buf = Buffer.concat(chunks);
    const msgs: string[] = [];
    for (let i = 0; i < buf.length;) {
      const sp = buf.indexOf(0x20, i);
      const len = Number(buf.subarray(i, sp).toString('ascii'));
      msgs.push(buf.subarray(sp + 1, sp + 1 + len).toString('utf8'));
      i = sp + 1 + len;
    }
    expect(msgs).toHaveLength(3);
    for (const m of msgs) expect(m).toMatch(/^<13[01]>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z sensor-1 llmtap \d+ alert - CEF:0\|llmtap\|llmtap\|/);
    await s.close();
    server.close();
  });

  it('CEF escapes per ArcSight: \\ and | in the header, \\ = CR LF in extension values', () => {
    expect(cefHeader('a|b\\c')).toBe('a\\|b\\\\c');
    expect(cefValue('x=1\\2\r\n|')).toBe('x\\=1\\\\2\\r\\n|');
    const a: Alert = { ...alerts[0]!, title: 'H1: evil|name = "x"\\y\nz', processName: 'a=b|c' };
    const cef = toCef(a, ctx);
    expect(cef.split('\n')).toHaveLength(1);
    const parsed = parseCef(cef);
    expect(parsed.header[5]).toBe('H1: evil|name = "x"\\y z');
    expect(parsed.ext['msg']).toBe('H1: evil|name = "x"\\y\nz');
    expect(parsed.ext['sproc']).toBe('a=b|c');
  });

  it('the config names what is wrong with an output', () => {
    const bad = (o: object): string => {
      try {
        configFromObject({ outputs: [o] });
        return '';
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(bad({ type: 'syslog', url: 'http://x:1' })).toContain('outputs[0].url: syslog takes udp://, tcp://, tls:// (got http://)');
    expect(bad({ type: 'syslog', url: 'tcp://x' })).toContain('outputs[0].url: give host and port');
    expect(bad({ type: 'file', path: '/tmp/x', format: 'cef' })).toContain('outputs[0].format: file takes ocsf or ecs or eve, not cef');
    expect(bad({ type: 'webhook', url: 'https://h/x' })).toContain('outputs[0].secret_file: a webhook output needs the file of its signing key');
    expect(bad({ type: 'file' })).toContain('outputs[0].path: a file output needs a path');
    expect(bad({ type: 'kafka' })).toContain('outputs.0.type');
  });
});
