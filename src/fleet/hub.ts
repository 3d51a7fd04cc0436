/**
 * The hub's side of fleet mode (`llmtap hub`, src/cli/hub.ts): the durable pull consumer
 * `llmtap-hub` on LLMTAP_OBS feeds every sensor's named flow records into one pipeline (join →
 * classify → detect → store) per tenant, and the one on LLMTAP_EDR feeds endpoint records sent
 * over NATS (`llmtap.edr.<tenant>`, any EDR format the ingest route reads).
 *
 * Acknowledgement after commit: a record is acknowledged only once its observation went
 * through detection (the join emits it; a flow without an EDR partner is held `attribute.hold_s`
 * first) and the store committed what that wrote. A hub that dies before that gets the record
 * again (JetStream redelivers after `fleet.ack_wait_s`, or at once to a new consumer instance);
 * detection is idempotent per observation id, so a record seen twice counts once.
 *
 * The tenant of a record is its subject's (`llmtap.obs.<tenant>.<sensor>`), which the server
 * lets only that tenant's sensors publish to; a record for a tenant the hub does not know is
 * terminated (never redelivered) and counted.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { SensorConfig } from '../config.js';
import type { FlowRecord, Observation } from '../records.js';
import type { FleetCounters } from '../metrics.js';
import type { Pipeline } from '../pipeline.js';
import type { StoreStatus } from '../store/store.js';
import type { DetectStore } from '../detect/sink.js';
import { flowObsId } from '../attribute/join.js';
import { readEdrBytes } from '../attribute/ingest.js';
import { ensureFleetStreams, MAX_ACK_PENDING } from './streams.js';
import { ConfigPublisher } from './config-kv.js';
import type { AllowlistEntry } from '../store/types.js';
import { HUB_CONSUMER, parseObsSubject, STREAM_EDR, STREAM_OBS } from './subjects.js';
import { EMIT_HEADER, fleetConnectOptions, type WatermarkBody } from './publisher.js';

/**
 * What the hub needs of its store: detection's (the SQLite `Store` or the PostgreSQL
 * `PgStore`), its status, and a commit to wait for — PgStore's `commit()` resolves when what
 * detection wrote is committed; SQLite commits synchronously in `flush()`.
 */
export type HubStore = DetectStore & { flush(): void; status(): StoreStatus; commit?(): Promise<void>; listAllowlist(tenant: string): Promise<AllowlistEntry[]> | AllowlistEntry[] };

export interface HubCounts {
  /** Flow records taken into the pipeline. */
  received: number;
  /** Deliveries of a record already in the pipeline (a redelivery while it waits to commit). */
  redelivered: number;
  /** Records acknowledged after their commit. */
  acked: number;
  /** Records terminated: not a flow record, or a tenant the hub does not know. */
  badRecord: number;
  unknownTenant: number;
  /** EDR messages taken (and their records accepted). */
  edrMessages: number;
  edrRecords: number;
  /** Watermark messages taken (a sensor's capture time handed over, or its end). */
  watermarks: number;
  /** Records that reached the merge after it had passed their emit time (their sensor was away past `fleet.sensor_timeout_s`, or sent no watermark). */
  late: number;
  /** Times a sensor silent past `fleet.sensor_timeout_s` stopped holding the merge. */
  sensorTimeouts: number;
  /** Milliseconds the merge held a record ready by `reorder_s` because a live sensor's watermark was behind it. */
  heldMs: number;
  /**
   * Records the merge let go before their sensors' watermarks passed them because the hub had
   * nearly as many records taken and not acknowledged as its consumer allows
   * (`max_ack_pending`): past that the server delivers nothing more, for any tenant.
   */
  pressureReleased: number;
}

/** What the hub knows of one sensor (per tenant): its watermark and when it was last heard. */
interface SensorMark {
  /** Flow end up to which the sensor handed everything over; -1: no watermark yet. */
  wmUs: number;
  final: boolean;
  lastSeenMs: number;
  /** Silent past `sensor_timeout_s`: not holding the merge until it is heard again. */
  timedOut: boolean;
}

function isWatermark(x: unknown): x is WatermarkBody {
  const r = x as Partial<WatermarkBody> | null;
  return typeof r === 'object' && r !== null && typeof r.watermarkUs === 'number' && typeof r.final === 'boolean';
}

/** The fields a flow record must have to go into the pipeline (a sensor of the same version sends all). */
function isFlowRecord(x: unknown): x is FlowRecord {
  const r = x as Partial<FlowRecord> | null;
  return typeof r === 'object' && r !== null && typeof r.communityId === 'string' && typeof r.origAddr === 'string' && typeof r.respAddr === 'string'
    && typeof r.firstTsUs === 'number' && typeof r.lastTsUs === 'number' && typeof r.respPort === 'number' && Array.isArray(r.vlan);
}

/** A record waiting for the merge. */
interface Held {
  rec: FlowRecord;
  tenant: string;
  atMs: number;
  /** Its merge time: its sensor's capture clock when emitted (`EMIT_HEADER`), else its flow end. */
  key: number;
}

export class HubConsumer {
  readonly counts: HubCounts = { received: 0, redelivered: 0, acked: 0, badRecord: 0, unknownTenant: 0, edrMessages: 0, edrRecords: 0, watermarks: 0, late: 0, sensorTimeouts: 0, heldMs: 0, pressureReleased: 0 };
  /** Per tenant, per sensor: watermarks (the merge's inputs). */
  private readonly marks = new Map<string, Map<string, SensorMark>>();
  private lastReleaseMs = Date.now();

  private nc: NatsConnection | undefined;
  private readonly iters: ConsumerMessages[] = [];
  /** Records in the pipeline, by observation id, waiting for their observation. */
  private readonly pending = new Map<string, JsMsg[]>();
  /** Records whose observation went through detection, waiting for the commit. */
  private ready: JsMsg[] = [];
  private timers: NodeJS.Timeout[] = [];
  private lastTsUs = 0;
  /** The newest merge time released into detection (a record below it comes late). */
  private mergedUs = 0;
  private lastMsgMs = 0;
  private stopped = false;
  /** The observation consumer's `max_ack_pending` (read at start: the consumer may predate this hub). */
  private ackCap = MAX_ACK_PENDING;
  private lastPressureLogMs = 0;

  constructor(
    private readonly cfg: SensorConfig,
    private readonly pipeline: Pipeline,
    private readonly store: HubStore,
    private readonly log?: Logger,
  ) {}

  /** Pipeline `onObservation`: the record of this observation has been through detection. */
  observed(obs: Observation): void {
    const ms = this.pending.get(obs.obsId);
    if (ms === undefined) return;
    this.pending.delete(obs.obsId);
    for (const m of ms) this.ready.push(m);
  }

  /** Records taken but not yet acknowledged (held, in the pipeline or waiting for the commit). */
  unacked(): number {
    let n = this.ready.length;
    for (const ms of this.pending.values()) n += ms.length;
    return n;
  }

  /** The hub's side of `llmtap_fleet_*` (src/metrics.ts). */
  metrics(): NonNullable<FleetCounters['hub']> {
    const c = this.counts;
    return { received: c.received, redelivered: c.redelivered, acked: c.acked, badRecord: c.badRecord, unknownTenant: c.unknownTenant, edrRecords: c.edrRecords, unacked: this.unacked(), connected: this.connected, late: c.late, sensorTimeouts: c.sensorTimeouts, mergeHeldS: c.heldMs / 1000, watermarks: c.watermarks, pressureReleased: c.pressureReleased };
  }

  /** Consuming, over an open connection (the hub's readiness). */
  get connected(): boolean {
    return this.consuming && this.nc !== undefined && !this.nc.isClosed();
  }

  private consuming = false;

  async start(): Promise<void> {
    const f = this.cfg.fleet;
    this.nc = await connect(fleetConnectOptions(this.cfg, 'llmtap-hub'));
    const nc = this.nc;
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') this.log?.warn({ server: s.server }, 'fleet hub: NATS disconnected');
        else if (s.type === 'reconnect') this.log?.info({ server: s.server }, 'fleet hub: NATS reconnected');
      }
    })();
    await ensureFleetStreams(await jetstreamManager(nc, { timeout: 10_000 }), {
      replicas: f.replicas, duplicateWindowS: f.duplicate_window_s, maxAgeS: f.max_age_s, maxBytes: f.max_bytes, flows: f.flows, ackWaitS: f.ack_wait_s,
    });
    this.config = new ConfigPublisher(nc, f.replicas);
    await this.publishRules();
    // an allowlist changed through the API (added, removed, a candidate approved, expired) reaches the sensors within a second
    this.timers.push(setInterval(() => {
      this.publishRules().catch((e: Error) => this.log?.debug({ err: e.message }, 'fleet hub: config not published to the sensors yet'));
    }, 1000));
    const js = jetstream(nc, { timeout: 10_000 });
    const obs = await js.consumers.get(STREAM_OBS, HUB_CONSUMER);
    const cap = (await obs.info(true)).config.max_ack_pending;
    if (cap !== undefined && cap > 0) this.ackCap = cap;
    const edr = await js.consumers.get(STREAM_EDR, HUB_CONSUMER);
    // pull requests that expire after 5 s: a node lost under a pending pull is noticed within seconds
    const obsIter = await obs.consume({ max_messages: f.batch, expires: 5000 });
    const edrIter = await edr.consume({ max_messages: f.batch, expires: 5000 });
    this.iters.push(obsIter, edrIter);
    void this.loop(obsIter, (m) => this.onObs(m));
    void this.loop(edrIter, (m) => this.onEdr(m));
    // commit and acknowledge what detection finished, a few times a second
    this.timers.push(setInterval(() => {
      this.release();
      void this.commit();
    }, 200));
    // records held, waiting in the join or for the commit: not redelivered while this hub lives
    this.timers.push(setInterval(() => this.keepWorking(), Math.max(1000, (f.ack_wait_s * 1000) / 3)));
    if (f.idle_advance) this.timers.push(setInterval(() => this.idle(), 1000));
    this.consuming = true;
    this.log?.info({ servers: f.servers, stream: STREAM_OBS, consumer: HUB_CONSUMER }, 'fleet hub: consuming');
  }

  private config: ConfigPublisher | undefined;

  /**
   * Each tenant's rules, definition and allowlist into its config bucket, for its sensors
   * (src/fleet/config-kv.ts): at start, after a reload, and every second what changed since.
   */
  async publishRules(): Promise<void> {
    if (this.config === undefined || this.stopped) return;
    const p = this.pipeline;
    const versions = await this.config.publish({
      classifier: p.classifier,
      tenants: p.tenants.ids().map((t) => p.tenants.get(t)),
      listAllowlist: (t) => this.store.listAllowlist(t),
    });
    if (Object.keys(versions).length > 0) this.log?.info({ versions }, 'fleet hub: config published to the sensors');
  }

  private async loop(iter: ConsumerMessages, handle: (m: JsMsg) => void): Promise<void> {
    try {
      for await (const m of iter) {
        if (this.stopped) break;
        handle(m);
      }
    } catch (err) {
      if (!this.stopped) this.log?.error({ err: (err as Error).message }, 'fleet hub: consumer stopped');
    }
  }

  private onObs(m: JsMsg): void {
    const who = parseObsSubject(m.subject);
    if (who === undefined || !this.pipeline.tenants.has(who.tenant)) {
      this.counts.unknownTenant++;
      this.log?.warn({ subject: m.subject }, 'fleet hub: a record for a tenant this hub does not know; terminated');
      m.term();
      return;
    }
    let rec: unknown;
    try {
      rec = m.json();
    } catch {
      rec = undefined;
    }
    const mark = this.mark(who.tenant, who.sensor);
    mark.lastSeenMs = Date.now();
    if (mark.timedOut) {
      mark.timedOut = false;
      this.log?.info({ tenant: who.tenant, sensor: who.sensor }, 'fleet hub: sensor heard again; it holds the merge again');
    }
    if (isWatermark(rec)) {
      this.counts.watermarks++;
      this.log?.debug({ tenant: who.tenant, sensor: who.sensor, watermarkUs: rec.watermarkUs, final: rec.final, before: mark.wmUs }, 'fleet hub: watermark');
      if (mark.final && !rec.final) {
        // after its final watermark the sensor runs again (a new process): its clock starts over
        mark.final = false;
        mark.wmUs = rec.watermarkUs;
      } else if (rec.watermarkUs > mark.wmUs) mark.wmUs = rec.watermarkUs;
      if (rec.final) mark.final = true;
      // acknowledged on arrival: a restarted hub learns each sensor's watermark from its next
      // one (until then that sensor does not hold the merge)
      m.ack();
      return;
    }
    if (!isFlowRecord(rec)) {
      this.counts.badRecord++;
      m.term();
      return;
    }
    const id = flowObsId(rec);
    const waiting = this.pending.get(id);
    if (waiting !== undefined) {
      // delivered again while the first delivery still waits in the join: answer both at once
      this.counts.redelivered++;
      waiting.push(m);
      return;
    }
    this.pending.set(id, [m]);
    this.counts.received++;
    const emitUs = Number(m.headers?.get(EMIT_HEADER));
    this.held.push({ rec, tenant: who.tenant, atMs: Date.now(), key: Number.isFinite(emitUs) && emitUs > 0 ? emitUs : rec.lastTsUs });
  }

  private mark(tenant: string, sensor: string): SensorMark {
    let t = this.marks.get(tenant);
    if (t === undefined) this.marks.set(tenant, (t = new Map()));
    let m = t.get(sensor);
    if (m === undefined) t.set(sensor, (m = { wmUs: -1, final: false, lastSeenMs: Date.now(), timedOut: false }));
    return m;
  }

  /**
   * The smallest watermark over a tenant's live sensors (Infinity when none holds): no live
   * sensor will send a record that ends at or before it. A sensor that finished, sent no
   * watermark yet, or was silent past `fleet.sensor_timeout_s` does not hold the merge.
   */
  private tenantWatermark(tenant: string, nowMs: number): number {
    const t = this.marks.get(tenant);
    if (t === undefined) return Infinity;
    let min = Infinity;
    const timeoutMs = this.cfg.fleet.sensor_timeout_s * 1000;
    for (const [sensor, m] of t) {
      if (m.final || m.wmUs < 0) continue;
      if (!m.timedOut && nowMs - m.lastSeenMs > timeoutMs) {
        m.timedOut = true;
        this.counts.sensorTimeouts++;
        this.log?.warn({ tenant, sensor, silentS: Math.round((nowMs - m.lastSeenMs) / 1000) }, 'fleet hub: sensor silent past fleet.sensor_timeout_s; the merge goes on without it (its records come late)');
      }
      if (m.timedOut) continue;
      if (m.wmUs < min) min = m.wmUs;
    }
    return min;
  }

  /**
   * Records of several sensors arrive interleaved, each sensor's a little late: they are held
   * `fleet.reorder_s` seconds and go into the pipeline in capture-time order — the order their
   * sensors' flow tables emitted them (`EMIT_HEADER`; without it, flow end) — so detection sees
   * the fleet as one sensor would. Each sensor also sends watermarks, its capture clock
   * (src/fleet/publisher.ts): a record goes in only once every live sensor of its tenant has a
   * watermark at or past its emit time, so a sensor whose link is away holds the merge (up to
   * `fleet.sensor_timeout_s`) instead of being overtaken. A record later than that (its sensor
   * timed out, or sends no watermarks) goes in on arrival, counted as late (its own time still
   * counts; the clock never goes back).
   */
  private release(all = false): void {
    const nowMs = Date.now();
    const sinceMs = nowMs - this.lastReleaseMs;
    this.lastReleaseMs = nowMs;
    if (this.held.length === 0) return;
    const cutMs = nowMs - this.cfg.fleet.reorder_s * 1000;
    const wms = new Map<string, number>();
    const wmOf = (tenant: string): number => {
      let wm = wms.get(tenant);
      if (wm === undefined) wms.set(tenant, (wm = all ? Infinity : this.tenantWatermark(tenant, nowMs)));
      return wm;
    };
    // per tenant: the newest merge time held `reorder_s` that every live sensor has passed
    const upTo = new Map<string, number>();
    let heldBack = false;
    for (const h of this.held) {
      if (!all && h.atMs > cutMs) continue;
      if (h.key > wmOf(h.tenant)) {
        heldBack = true;
        continue;
      }
      if (h.key > (upTo.get(h.tenant) ?? -Infinity)) upTo.set(h.tenant, h.key);
    }
    if (heldBack) this.counts.heldMs += sinceMs;
    if (!all) this.relievePressure(upTo);
    if (upTo.size === 0) return;
    const goes = (h: Held): boolean => h.key <= (upTo.get(h.tenant) ?? -Infinity);
    const go = this.held.filter(goes).sort((a, b) => a.key - b.key || a.rec.lastTsUs - b.rec.lastTsUs || a.rec.firstTsUs - b.rec.firstTsUs);
    this.held = this.held.filter((h) => !goes(h));
    // the merge's decisions, for a trace (log.level: debug)
    this.log?.debug({ released: go.length, stillHeld: this.held.length, upToUs: Object.fromEntries(upTo), watermarkUs: Object.fromEntries(wms), heldBack, all }, 'fleet hub: merge released');
    for (const h of go) {
      if (h.key < this.mergedUs) {
        this.counts.late++;
        this.log?.debug({ tenant: h.tenant, emitUs: h.key, mergedUs: this.mergedUs }, 'fleet hub: a record came after the merge had passed its emit time (late)');
      } else this.mergedUs = h.key;
      if (h.rec.lastTsUs > this.lastTsUs) this.lastTsUs = h.rec.lastTsUs;
      this.lastMsgMs = nowMs;
      this.pipeline.addNamedFlow(h.rec, h.tenant);
    }
  }

  private held: Held[] = [];

  /**
   * One tenant's sensor away must not stop the others: records its watermark holds stay taken
   * and not acknowledged, and once the hub has nearly `max_ack_pending` of them the server
   * delivers nothing more, for every tenant, until the away sensor times out. Near that bound
   * (a pull batch short of it) the oldest held records go on (raising `upTo`), down to half
   * the bound, as they would at the sensor's timeout: counted, and they may come before records
   * of the away sensor that are older (those then come late, counted).
   */
  private relievePressure(upTo: Map<string, number>): void {
    const cap = this.ackCap;
    if (this.unacked() < cap - Math.min(this.cfg.fleet.batch, Math.floor(cap / 4)) || this.held.length === 0) return;
    const excess = this.held.length - Math.floor(cap / 2);
    if (excess <= 0) return;
    const oldest = [...this.held].sort((a, b) => a.key - b.key).slice(0, excess);
    const before = new Map(upTo);
    for (const h of oldest) {
      if (h.key > (upTo.get(h.tenant) ?? -Infinity)) upTo.set(h.tenant, h.key);
    }
    // counted: what goes now only because of the bound
    let n = 0;
    for (const h of this.held) if (h.key <= (upTo.get(h.tenant) ?? -Infinity) && h.key > (before.get(h.tenant) ?? -Infinity)) n++;
    this.counts.pressureReleased += n;
    const nowMs = Date.now();
    if (nowMs - this.lastPressureLogMs >= 60_000) {
      this.lastPressureLogMs = nowMs;
      this.log?.warn({ unacked: this.unacked(), maxAckPending: cap, released: n, tenants: [...new Set(oldest.map((h) => h.tenant))] }, 'fleet hub: held records near the consumer\'s max_ack_pending (a sensor away holds the merge); the oldest go on before its watermark so other tenants keep flowing');
    }
  }

  private onEdr(m: JsMsg): void {
    const tenant = m.subject.split('.')[2] ?? '';
    if (!this.pipeline.tenants.has(tenant)) {
      this.counts.unknownTenant++;
      m.term();
      return;
    }
    const r = readEdrBytes(m.data, { tenant, edrTenantOk: (id) => this.pipeline.tenants.edrTenantMatches(tenant, id), lineageKey: this.cfg.attribute.lineage_key }, (rec) => this.pipeline.addEdr(rec));
    this.pipeline.noteIngest(r.rejected);
    this.counts.edrMessages++;
    this.counts.edrRecords += r.accepted;
    // endpoint records live in the join's memory, not the store: taken is done
    m.ack();
  }

  private keepWorking(): void {
    for (const ms of this.pending.values()) for (const m of ms) m.working();
    for (const m of this.ready) m.working();
  }

  /** Capture time runs on with the wall clock while no record comes (pending joins settle). */
  private idle(): void {
    if (this.lastTsUs === 0 || this.held.length > 0) return;
    const quiet = Date.now() - this.lastMsgMs;
    if (quiet < 1000) return;
    // never past a live sensor's watermark: its records still to come would find the clock ahead
    const nowMs = Date.now();
    let wm = Infinity;
    for (const tenant of this.marks.keys()) wm = Math.min(wm, this.tenantWatermark(tenant, nowMs));
    const to = Math.min(this.lastTsUs + quiet * 1000, Math.max(this.lastTsUs, wm));
    if (to > this.lastTsUs) this.pipeline.tick(to);
  }

  /**
   * Commit the store and acknowledge what detection finished before the commit; while a storage
   * fault lasts nothing is acknowledged (tried again at the next tick; past `ack_wait_s` the
   * records are also delivered again, which detection takes once).
   */
  async commit(): Promise<void> {
    if (this.ready.length === 0 || this.committing) return;
    this.committing = true;
    const batch = this.ready;
    this.ready = [];
    try {
      if (this.store.commit !== undefined) await this.store.commit();
      else {
        this.store.flush();
        const st = this.store.status();
        if (!st.writable || st.queued.alert + st.queued.observation + st.queued.other > 0) throw new Error('not committed');
      }
      for (const m of batch) m.ack();
      this.counts.acked += batch.length;
    } catch {
      this.ready = batch.concat(this.ready);
    } finally {
      this.committing = false;
    }
  }

  private committing = false;

  /** Stop taking records; settle the joins, commit and acknowledge; close the connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    for (const it of this.iters) it.stop();
    this.release(true);
    this.pipeline.finish();
    while (this.committing) await new Promise((r) => setTimeout(r, 20));
    await this.commit();
    await this.nc?.flush().catch(() => {});
    await this.nc?.close().catch(() => {});
  }
}
