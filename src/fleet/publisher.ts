/**
 * The sensor's side of fleet mode: named flow records go to JetStream, through a bounded
 * in-memory spool that keeps taking records while NATS, the link or the hub is away and
 * delivers them when it is back (docs/fleet.md, "Outages").
 *
 * - Each record is published with its observation id as the JetStream message id: a record
 *   published again (its acknowledgement was lost with the link) is stored once, within the
 *   stream's duplicate window.
 * - A record leaves the spool only when the stream acknowledged it. A failed or timed-out
 *   publish puts it back; the pump then pauses (back-off) until the connection is back.
 * - Past `spool_max` records the oldest is dropped and counted (`dropped`): capture never stops
 *   and memory stays bounded.
 * - A publish the server refuses (permissions: a subject outside the sensor's tenant) cannot
 *   succeed later: counted (`refused`) and dropped, with one log line per minute.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { connect, headers, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { FleetConfig, SensorConfig } from '../config.js';
import { configPath } from '../config.js';
import { Fifo } from '../bounded/fifo.js';
import type { FlowRecord } from '../records.js';
import { flowObsId } from '../attribute/join.js';
import { flowsSubject, isSubjectToken, obsSubject, sensorInbox } from './subjects.js';

interface Pending {
  subject: string;
  id: string;
  data: Uint8Array;
  /** A watermark: published only once every record before it was acknowledged (a barrier). */
  wm?: true;
  /** A record: the sensor's capture clock when its flow table emitted it (`EMIT_HEADER`). */
  emitUs?: number;
}

/**
 * The header of a published flow record with the sensor's capture clock (µs) when its flow
 * table emitted the record: the hub merges its sensors' records in this order, as one flow
 * table would emit them (a flow that idles out is emitted long after its last packet).
 */
export const EMIT_HEADER = 'Llmtap-Emit-Us';

/**
 * The body of a watermark message on the sensor's observation subject: the sensor's capture
 * clock, every record it emitted up to it handed over before it (records it emits later carry a
 * later emit time, `EMIT_HEADER`); `final`: the sensor sends nothing more (end of a replay). The
 * hub merges its sensors by these (src/fleet/hub.ts).
 */
export interface WatermarkBody {
  watermarkUs: number;
  final: boolean;
  sensor: string;
}

export interface PublisherStats {
  /** Records waiting in the spool (not yet acknowledged by the stream), in flight included. */
  buffered: number;
  /** Records the stream acknowledged (new). */
  published: number;
  /** Records the stream acknowledged as already stored (a resend). */
  duplicates: number;
  /** Records dropped because the spool was full (oldest first). */
  dropped: number;
  /** Records the server refused (permissions). */
  refused: number;
  /** Publishes that failed or timed out and were put back. */
  retries: number;
  /** Watermark messages the stream acknowledged (not counted in `published`). */
  watermarks: number;
  connected: boolean;
}

/** How many publishes may wait for their acknowledgement at once. */
const IN_FLIGHT = 256;
const enc = new TextEncoder();

/** The sensor name: `fleet.sensor`, else the host name made a subject token. */
export function sensorName(f: FleetConfig): string {
  const n = f.sensor ?? hostname().replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
  if (!isSubjectToken(n)) throw Object.assign(new Error(`fleet.sensor '${n}' must be 1-64 letters, digits, '_' or '-'`), { code: 'LLMTAP_ERR_CONFIG' });
  return n;
}

/** The NATS password from `fleet.password_file` (first line), or undefined. */
function fleetPassword(cfg: SensorConfig): string | undefined {
  const f = cfg.fleet.password_file;
  if (f === undefined) return undefined;
  try {
    return readFileSync(configPath(cfg, f), 'utf8').split('\n')[0]!.trim();
  } catch (err) {
    throw Object.assign(new Error(`fleet.password_file ${f}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`), { code: 'LLMTAP_ERR_CONFIG' });
  }
}

/**
 * How sensors and the hub connect to the fleet's NATS servers: wait for the first connection,
 * reconnect for ever, with `fleet.user` and the password of `fleet.password_file` when set.
 */
export function fleetConnectOptions(cfg: SensorConfig, name: string, extra: Partial<ConnectionOptions> = {}): ConnectionOptions {
  const pass = fleetPassword(cfg);
  return {
    servers: cfg.fleet.servers,
    name,
    ...extra,
    waitOnFirstConnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    pingInterval: 5000,
    ...(cfg.fleet.user !== undefined ? { user: cfg.fleet.user } : {}),
    ...(pass !== undefined ? { pass } : {}),
  };
}

/**
 * Connects, trying every server of `opts` again every `waitMs` until one answers, or until
 * `stopped()` (then undefined). Once connected the client reconnects by itself for as long as the
 * connection is open. The first connection is not left to the client's own `waitOnFirstConnect`:
 * its retries run on timers nothing can cancel, so a sensor that ended before its servers were
 * ever reachable was held alive by them for ever. The wait between tries does not hold the
 * process (what must wait for delivery, a replay's drain, holds it).
 */
export async function connectUntil(opts: ConnectionOptions, stopped: () => boolean, onFail?: (err: Error) => void, waitMs = 500): Promise<NatsConnection | undefined> {
  for (;;) {
    if (stopped()) return undefined;
    try {
      return await connect({ ...opts, waitOnFirstConnect: false });
    } catch (err) {
      onFail?.(err as Error);
    }
    if (stopped()) return undefined;
    await new Promise<void>((r) => setTimeout(r, waitMs).unref());
  }
}

export class FleetPublisher {
  private readonly spool = new Fifo<Pending>(1024);
  private inFlight = 0;
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private pausedUntil = 0;
  private closed = false;
  private lastRefusedLogMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private drained: Array<() => void> = [];
  readonly counts = { published: 0, duplicates: 0, dropped: 0, refused: 0, retries: 0, watermarks: 0 };
  readonly tenant: string;
  readonly sensor: string;
  private readonly obsSubj: string;
  private readonly flowsSubj: string;
  /** Retried publishes go out before the spool's next ones (a watermark never overtakes them). */
  private readonly retry: Pending[] = [];
  /** The capture clock this sensor has handed over (never goes back). */
  private clockUs = 0;
  private wmSeq = 0;
  /** The final watermark is queued: the sensor hands over nothing more. */
  private ended = false;

  constructor(
    private readonly cfg: SensorConfig,
    private readonly log?: Logger,
    /** Told once the connection is up (the config watch starts on it). */
    private readonly onConnect?: (nc: NatsConnection) => void,
    /** The sensor's capture clock (µs): packet time, or the wall clock a live sensor ticks on a quiet link. */
    private readonly clock?: () => number,
  ) {
    this.tenant = cfg.fleet.tenant;
    this.sensor = sensorName(cfg.fleet);
    this.obsSubj = obsSubject(this.tenant, this.sensor);
    this.flowsSubj = flowsSubject(this.tenant, this.sensor);
  }

  /** Connect in the background (retrying until closed); records are spooled meanwhile. */
  start(): void {
    const opts = fleetConnectOptions(this.cfg, `llmtap-sensor-${this.tenant}-${this.sensor}`, { inboxPrefix: sensorInbox(this.tenant, this.sensor) });
    let lastLogMs = 0;
    void connectUntil(opts, () => this.closed, (err) => {
      // the first failure, then one a minute
      if (Date.now() - lastLogMs < 60_000) return;
      lastLogMs = Date.now();
      this.log?.error({ err: err.message, servers: this.cfg.fleet.servers }, 'fleet: cannot connect to NATS; spooling and retrying');
    }).then((nc) => {
      if (nc === undefined) return;
      if (this.closed) {
        void nc.close();
        return;
      }
      this.nc = nc;
      this.js = jetstream(nc, { timeout: 5000 });
      this.log?.info({ servers: this.cfg.fleet.servers, tenant: this.tenant, sensor: this.sensor }, 'fleet: connected to NATS');
      this.onConnect?.(nc);
      // the hub knows this sensor (and waits for it) from its first watermark on
      this.watermark(false);
      void (async () => {
        for await (const s of nc.status()) {
          if (s.type === 'disconnect') this.log?.warn({ server: s.server }, 'fleet: NATS disconnected; spooling');
          else if (s.type === 'reconnect') {
            this.log?.info({ server: s.server }, 'fleet: NATS reconnected; delivering the spool');
            this.pausedUntil = 0;
            this.pump();
          }
        }
      })();
      this.pump();
    });
    // a paused pump resumes by itself; a watermark every second (the hub's merge, and its sign
    // that this sensor is alive)
    let ticks = 0;
    this.timer = setInterval(() => {
      if (++ticks % 4 === 0) this.watermark(false);
      this.pump();
    }, 250);
    this.timer.unref();
  }

  /** Whether a named flow record goes to the hub: `publish: all`, or AI-relevant per `isAi`. */
  offer(rec: FlowRecord, aiRelevant: boolean): void {
    if (this.closed) return;
    const data = enc.encode(JSON.stringify(rec));
    const id = `${this.tenant}.${flowObsId(rec)}`;
    this.clockUs = Math.max(this.clockUs, this.clock?.() ?? 0, rec.lastTsUs);
    if (aiRelevant || this.cfg.fleet.publish === 'all') this.enqueue({ subject: this.obsSubj, id, data, emitUs: this.clockUs });
    if (this.cfg.fleet.flows) this.enqueue({ subject: this.flowsSubj, id, data });
    this.pump();
  }

  /** Queue a watermark behind the records spooled so far (`final`: this sensor ends). */
  watermark(final: boolean): void {
    // after the final one nothing follows: a heartbeat (or the connect's watermark) must not
    // replace it in the spool, or the hub would wait for this sensor for ever
    if (this.closed || this.ended) return;
    if (final) this.ended = true;
    this.clockUs = Math.max(this.clockUs, this.clock?.() ?? 0);
    const body: WatermarkBody = { watermarkUs: this.clockUs, final, sensor: this.sensor };
    // an id of its own per message: heartbeats with an unchanged watermark are not duplicates
    const p: Pending = { subject: this.obsSubj, id: `${this.tenant}.${this.sensor}.wm.${process.pid}.${Date.now()}.${++this.wmSeq}`, data: enc.encode(JSON.stringify(body)), wm: true };
    // while the link is away the newest watermark replaces the one behind the same records
    const last = this.spool.length - 1;
    if (last >= 0 && this.spool.at(last)!.wm === true) this.spool.set(last, p);
    else this.enqueue(p);
    this.pump();
  }

  private enqueue(p: Pending): void {
    if (this.spool.length >= this.cfg.fleet.spool_max) {
      this.spool.shift();
      this.counts.dropped++;
    }
    this.spool.push(p);
  }

  private pump(): void {
    const js = this.js;
    if (js === undefined || this.closed || Date.now() < this.pausedUntil) return;
    while (this.inFlight < IN_FLIGHT && (this.retry.length > 0 || this.spool.length > 0)) {
      // a watermark waits until everything before it is acknowledged: it follows the records
      if (this.retry.length === 0 && this.spool.peek()!.wm === true && this.inFlight > 0) break;
      const p = this.retry.length > 0 ? this.retry.shift()! : this.spool.shift()!;
      this.inFlight++;
      const opts: Parameters<JetStreamClient['publish']>[2] = { msgID: p.id };
      if (p.emitUs !== undefined) {
        const h = headers();
        h.set(EMIT_HEADER, String(p.emitUs));
        opts.headers = h;
      }
      js.publish(p.subject, p.data, opts).then(
        (ack) => {
          this.inFlight--;
          if (p.wm === true) this.counts.watermarks++;
          else if (ack.duplicate) this.counts.duplicates++;
          else this.counts.published++;
          this.pump();
          this.checkDrained();
        },
        (err: Error) => {
          this.inFlight--;
          if (/Permissions Violation/i.test(err.message)) {
            this.counts.refused++;
            if (Date.now() - this.lastRefusedLogMs > 60_000) {
              this.lastRefusedLogMs = Date.now();
              this.log?.error({ subject: p.subject, err: err.message }, 'fleet: the server refuses this sensor\'s publishes (its NATS user\'s permissions); records dropped and counted');
            }
            this.checkDrained();
            return;
          }
          this.counts.retries++;
          this.retry.push(p);
          this.pausedUntil = Date.now() + 500;
        },
      );
    }
  }

  private checkDrained(): void {
    if (this.spool.length > 0 || this.inFlight > 0 || this.retry.length > 0) return;
    const d = this.drained;
    this.drained = [];
    for (const f of d) f();
  }

  stats(): PublisherStats {
    return { buffered: this.spool.length + this.inFlight + this.retry.length, ...this.counts, connected: this.nc !== undefined && !this.nc.isClosed() };
  }

  /** Wait (bounded) until every spooled record was acknowledged; true when none is left. */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.spool.length === 0 && this.inFlight === 0 && this.retry.length === 0) return true;
    let t: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      new Promise<boolean>((res) => this.drained.push(() => res(true))),
      new Promise<boolean>((res) => {
        t = setTimeout(() => res(false), timeoutMs);
      }),
    ]);
    clearTimeout(t);
    return done;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.nc?.close().catch(() => {});
  }
}
