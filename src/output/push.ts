/**
 * Push outputs: syslog (udp/tcp/tls), NDJSON file and signed webhook. Each has its own bounded
 * queue of alert changes and one sender loop: capture and detection only ever append to the
 * queue (constant time, never awaited); the loop sends batches, and on failure keeps the batch,
 * waits (doubling from `retry_initial_ms` to `retry_max_ms`) and tries again. A full queue
 * drops its oldest change. Counters: sent (changes delivered), failed (changes in attempts
 * that failed; each is retried), dropped (changes pushed out of a full queue or left at close).
 * `done` is where the output stands per tenant: the seq of the last change it delivered or
 * pushed out of its full queue (changes left queued at close are not done: a store that keeps
 * the position gives them again after a restart).
 */
import { createHmac } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { promises as fsp, readFileSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { OutputConfig } from '../config.js';
import type { OutputCounters } from '../metrics.js';
import type { Alert } from '../records.js';
import { octetFrame, toCef, toEcs, toEve, toOcsfJson, toSyslog5424, type FormatContext } from './format.js';

export interface OutputLog {
  warn(o: object, msg: string): void;
}

/** Resolves a path of the config (relative to the config file). */
export type PathResolver = (p: string) => string;

export abstract class PushOutput {
  readonly name: string;
  sent = 0;
  failed = 0;
  dropped = 0;
  lastError: string | undefined;
  /** Per tenant, the seq of the last change delivered or dropped out of a full queue. */
  readonly done = new Map<string, number>();
  private queue: Alert[] = [];
  private inflight: Alert[] | undefined;
  private delayMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(readonly cfg: OutputConfig, index: number, protected readonly ctx: FormatContext, protected readonly log?: OutputLog) {
    this.name = cfg.name ?? `${cfg.type}-${index}`;
    this.delayMs = cfg.retry_initial_ms;
  }

  /** Sends one batch; resolves when the transport took it, rejects to retry it later. */
  protected abstract send(batch: Alert[]): Promise<void>;
  /** Releases the transport (sockets, files). */
  protected abstract release(): Promise<void> | void;

  get queued(): number {
    return this.queue.length + (this.inflight?.length ?? 0);
  }

  counters(): OutputCounters {
    return { name: this.name, type: this.cfg.type, sent: this.sent, failed: this.failed, dropped: this.dropped, queued: this.queued };
  }

  /** Appends an alert change; never blocks, never throws. */
  enqueue(a: Alert): void {
    if (this.closed) return;
    this.queue.push(a);
    this.trim();
    this.kick();
  }

  private trim(): void {
    const over = this.queued - this.cfg.queue_max;
    if (over > 0) {
      this.pass(this.queue.splice(0, over));
      this.dropped += over;
    }
  }

  /** Changes delivered or dropped: the output's position moves past them. */
  private pass(changes: readonly Alert[]): void {
    for (const a of changes) if (a.seq !== undefined && a.seq > (this.done.get(a.tenant) ?? -1)) this.done.set(a.tenant, a.seq);
  }

  private kick(): void {
    if (this.inflight !== undefined || this.retryTimer !== undefined || this.closed) return;
    void this.pump();
  }

  private async pump(): Promise<void> {
    while (!this.closed && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.cfg.batch_max);
      this.inflight = batch;
      try {
        await this.send(batch);
        this.sent += batch.length;
        this.pass(batch);
        this.delayMs = this.cfg.retry_initial_ms;
        this.lastError = undefined;
        this.inflight = undefined;
      } catch (e) {
        this.inflight = undefined;
        this.failed += batch.length;
        this.lastError = (e as Error).message;
        this.log?.warn({ output: this.name, err: this.lastError, retryInMs: this.delayMs }, 'output send failed; will retry');
        this.queue.unshift(...batch);
        this.trim();
        if (this.closed) break;
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.kick();
        }, this.delayMs);
        this.retryTimer.unref();
        this.delayMs = Math.min(this.delayMs * 2, this.cfg.retry_max_ms);
        return;
      }
    }
    if (this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Resolves when the queue is empty or after `timeoutMs`; true when empty. */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.queued === 0) return true;
    return new Promise<boolean>((res) => {
      const t = setTimeout(() => res(this.queued === 0), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(t);
        res(true);
      });
    });
  }

  /** Called on SIGHUP for outputs kept across a reload (file outputs reopen their file). */
  reopen(): void {}

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.dropped += this.queue.length;
    this.queue = [];
    for (const w of this.idleWaiters.splice(0)) w();
    await this.release();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`${what}: timed out after ${ms} ms`)), ms);
    p.then((v) => { clearTimeout(t); res(v); }, (e: unknown) => { clearTimeout(t); rej(e as Error); });
  });
}

// ───────────────────────────── syslog ─────────────────────────────

export class SyslogOutput extends PushOutput {
  private readonly url: URL;
  private sock: Socket | undefined;
  private udp: UdpSocket | undefined;
  private readonly ca: Buffer | undefined;

  constructor(cfg: OutputConfig, index: number, ctx: FormatContext, resolvePath: PathResolver, log?: OutputLog) {
    super(cfg, index, ctx, log);
    this.url = new URL(cfg.url ?? '');
    this.ca = cfg.ca_file !== undefined ? readFileSync(resolvePath(cfg.ca_file)) : undefined;
  }

  private host(): string {
    return this.url.hostname.replace(/^\[|\]$/g, '');
  }

  private port(): number {
    return Number(this.url.port);
  }

  /** One RFC 5424 message (CEF or OCSF JSON as MSG). */
  message(a: Alert): string {
    const body = (this.cfg.format ?? 'cef') === 'json' ? JSON.stringify(toOcsfJson(a, this.ctx)) : toCef(a, this.ctx);
    return toSyslog5424(a, body, { ...this.ctx, facility: this.cfg.facility, nowMs: Date.now(), procId: process.pid });
  }

  private async stream(): Promise<Socket> {
    if (this.sock !== undefined && !this.sock.destroyed) return this.sock;
    const tls = this.url.protocol === 'tls:';
    const s = await withTimeout(new Promise<Socket>((res, rej) => {
      const opts = { host: this.host(), port: this.port() };
      const sock: Socket = tls
        ? tlsConnect({ ...opts, ...(this.ca !== undefined ? { ca: this.ca } : {}), ...(isIP(opts.host) === 0 ? { servername: opts.host } : {}) }, () => res(sock))
        : netConnect(opts, () => res(sock));
      sock.once('error', rej);
    }), this.cfg.timeout_ms, `connect ${this.url.host}`);
    s.removeAllListeners('error');
    s.on('error', () => s.destroy());
    s.on('close', () => { if (this.sock === s) this.sock = undefined; });
    // the receiver never talks back; data would be unexpected, drop it
    s.on('data', () => {});
    this.sock = s;
    return s;
  }

  protected async send(batch: Alert[]): Promise<void> {
    if (this.url.protocol === 'udp:') {
      if (this.udp === undefined) {
        const host = this.host();
        const family = isIP(host) !== 0 ? isIP(host) : (await lookup(host)).family;
        this.udp = createSocket(family === 6 ? 'udp6' : 'udp4');
        this.udp.on('error', () => {});
        this.udp.unref();
      }
      for (const a of batch) {
        const buf = Buffer.from(this.message(a), 'utf8');
        await new Promise<void>((res, rej) => this.udp!.send(buf, this.port(), this.host(), (err) => (err ? rej(err) : res())));
      }
      return;
    }
    const s = await this.stream();
    const frames = Buffer.concat(batch.map((a) => octetFrame(this.message(a))));
    await withTimeout(new Promise<void>((res, rej) => {
      s.write(frames, (err) => (err ? rej(err) : res()));
    }), this.cfg.timeout_ms, `write ${this.url.host}`).catch((e: unknown) => {
      s.destroy();
      throw e;
    });
  }

  protected release(): void {
    this.sock?.end();
    this.sock = undefined;
    this.udp?.close();
    this.udp = undefined;
  }
}

// ───────────────────────────── file ─────────────────────────────

export class FileOutput extends PushOutput {
  private fh: fsp.FileHandle | undefined;
  private ino = 0;
  private readonly path: string;

  constructor(cfg: OutputConfig, index: number, ctx: FormatContext, resolvePath: PathResolver, log?: OutputLog) {
    super(cfg, index, ctx, log);
    this.path = resolvePath(cfg.path ?? '');
  }

  line(a: Alert): string {
    const f = this.cfg.format ?? 'ocsf';
    const doc = f === 'ecs' ? toEcs(a, this.ctx) : f === 'eve' ? toEve(a, this.ctx) : toOcsfJson(a, this.ctx);
    return `${JSON.stringify(doc)}\n`;
  }

  /** The open file, reopened when it was renamed or removed under us (logrotate `create`). */
  private async handle(): Promise<fsp.FileHandle> {
    if (this.fh !== undefined) {
      let current = -1;
      try {
        current = statSync(this.path).ino;
      } catch {
        current = -1;
      }
      if (current === this.ino) return this.fh;
      await this.fh.close().catch(() => {});
      this.fh = undefined;
    }
    // O_APPEND: after a copytruncate every write lands at the new end of the file
    const fh = await fsp.open(this.path, 'a', 0o640);
    this.ino = (await fh.stat()).ino;
    this.fh = fh;
    return fh;
  }

  protected async send(batch: Alert[]): Promise<void> {
    const fh = await this.handle();
    await fh.write(batch.map((a) => this.line(a)).join(''));
  }

  override reopen(): void {
    const fh = this.fh;
    this.fh = undefined;
    void fh?.close().catch(() => {});
  }

  protected async release(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => {});
  }
}

// ───────────────────────────── webhook ─────────────────────────────

/** The signature header value of a webhook body: `sha256=` HMAC-SHA256(key, `<timestamp>.<body>`) in hex. */
export function webhookSignature(key: Buffer, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', key).update(`${timestamp}.`).update(body).digest('hex')}`;
}

export class WebhookOutput extends PushOutput {
  private readonly url: URL;
  private readonly key: Buffer;
  private readonly ca: Buffer | undefined;

  constructor(cfg: OutputConfig, index: number, ctx: FormatContext, resolvePath: PathResolver, log?: OutputLog) {
    super(cfg, index, ctx, log);
    this.url = new URL(cfg.url ?? '');
    const file = resolvePath(cfg.secret_file ?? '');
    let key: Buffer;
    try {
      key = Buffer.from(readFileSync(file, 'utf8').trim(), 'utf8');
    } catch (e) {
      throw Object.assign(new Error(`output ${this.name}: cannot read secret_file ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`), { code: 'LLMTAP_ERR_CONFIG' });
    }
    if (key.length < 16) throw Object.assign(new Error(`output ${this.name}: the key in ${file} is shorter than 16 bytes`), { code: 'LLMTAP_ERR_CONFIG' });
    this.key = key;
    this.ca = cfg.ca_file !== undefined ? readFileSync(resolvePath(cfg.ca_file)) : undefined;
  }

  /** Body: `{"events":[<OCSF Detection Finding>…]}`. */
  body(batch: Alert[]): string {
    return JSON.stringify({ events: batch.map((a) => toOcsfJson(a, this.ctx)) });
  }

  protected send(batch: Alert[]): Promise<void> {
    const body = this.body(batch);
    const ts = String(Math.floor(Date.now() / 1000));
    const headers = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'user-agent': `llmtap/${this.ctx.version}`,
      'x-llmtap-timestamp': ts,
      'x-llmtap-signature': webhookSignature(this.key, ts, body),
    };
    const https = this.url.protocol === 'https:';
    return new Promise<void>((res, rej) => {
      const opts = { method: 'POST', headers, timeout: this.cfg.timeout_ms, ...(https && this.ca !== undefined ? { ca: this.ca } : {}) };
      const req = (https ? httpsRequest : httpRequest)(this.url, opts, (resp) => {
        resp.resume();
        resp.on('end', () => {
          const code = resp.statusCode ?? 0;
          if (code >= 200 && code < 300) res();
          else rej(new Error(`${this.url.origin} answered ${code}`));
        });
        resp.on('error', rej);
      });
      req.on('timeout', () => req.destroy(new Error(`${this.url.origin}: timed out after ${this.cfg.timeout_ms} ms`)));
      req.on('error', rej);
      req.end(body);
    });
  }

  protected release(): void {}
}

export function createOutput(cfg: OutputConfig, index: number, ctx: FormatContext, resolvePath: PathResolver, log?: OutputLog): PushOutput {
  switch (cfg.type) {
    case 'syslog': return new SyslogOutput(cfg, index, ctx, resolvePath, log);
    case 'file': return new FileOutput(cfg, index, ctx, resolvePath, log);
    case 'webhook': return new WebhookOutput(cfg, index, ctx, resolvePath, log);
  }
}
