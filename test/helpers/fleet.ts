/**
 * Fleet-mode end-to-end pieces: per-device captures (cut from the fleet set's tap, or one device
 * rewritten as three with tcprewrite), configs for
 * sensors and the hub, `llmtap` child processes (hub, sensors, single-box replay) and a SIEM
 * poller that follows a hub's /v1/alerts with its cursor.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import YAML from 'yaml';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { repoRoot } from './corpus.js';
import { NatsCluster } from './nats.js';
import { Postgres } from './postgres.js';
import { freePort } from './prometheus.js';

export const FLEET = join(repoRoot, 'pcaps', 'fleet');
export const BIN = join(repoRoot, 'bin', 'llmtap.js');
export const EDR = join(FLEET, 'edr', 'llmtap.ndjson');

/** The devices of the fleet set that ran the new binary (pcaps/fleet/README.md, step 4). */
export const DEVICES = [
  { name: 'a', v4: '10.77.0.101', v6: 'fd77:0:0:77::101' },
  { name: 'b', v4: '10.77.0.102', v6: 'fd77:0:0:77::102' },
  { name: 'e', v4: '10.77.0.105', v6: 'fd77:0:0:77::105' },
] as const;

/**
 * One real device's traffic (device-a's, from the tap) made three devices with tcprewrite:
 * client address rewritten to .111/.112/.113, checksums fixed, 10 s apart, and device-a's
 * endpoint records of it as each device's (scripts/captures/make-fleet-rewrite.sh).
 */
export const REWRITTEN = [
  { name: 'r1', v4: '10.77.0.111', v6: 'fd77:0:0:77::111' },
  { name: 'r2', v4: '10.77.0.112', v6: 'fd77:0:0:77::112' },
  { name: 'r3', v4: '10.77.0.113', v6: 'fd77:0:0:77::113' },
] as const;
export const REWRITTEN_DIR = join(FLEET, 'rewritten');
export const REWRITTEN_EDR = join(REWRITTEN_DIR, 'edr.ndjson');

/** A device of a fleet scenario: a name (its sensor is `site-<name>`) and its addresses. */
export type FleetDevice = { readonly name: string; readonly v4: string; readonly v6: string };

/** The devices, their captures and the EDR feed a FleetRig runs. */
export interface FleetSet {
  devices: readonly FleetDevice[];
  /** The capture of one device (written into `dir` or committed). */
  capture(dir: string, d: FleetDevice): string;
  edr: string;
}

/** Three devices of the fleet set, each's traffic cut from the tap with tcpdump. */
export const TAP_SET: FleetSet = { devices: DEVICES, capture: (dir, d) => deviceCapture(dir, d), edr: EDR };
/** One device's traffic as three (tcprewrite), with its EDR records as the three devices'. */
export const REWRITTEN_SET: FleetSet = { devices: REWRITTEN, capture: (_dir, d) => join(REWRITTEN_DIR, `device-${d.name}.pcap.gz`), edr: REWRITTEN_EDR };

/** One device's traffic on the tap (its addresses, DNS included) as its own capture, with tcpdump. */
export function deviceCapture(dir: string, d: FleetDevice): string {
  const out = join(dir, `device-${d.name}.pcap`);
  const r = spawnSync('sh', ['-c', `gzip -dc "$0" | tcpdump -Z root -r - -w "$1" "host $2 or host $3"`, join(FLEET, 'tap.pcap.gz'), out, d.v4, d.v6], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tcpdump: ${r.stderr}`);
  return out;
}

/** The fleet set's tenant, as pcaps/fleet/llmtap.yaml declares it. */
export function fleetTenants(): unknown[] {
  return (YAML.parse(spawnSync('cat', [join(FLEET, 'llmtap.yaml')], { encoding: 'utf8' }).stdout) as { tenants: unknown[] }).tenants;
}

export const TOKEN = 'fleet-test-token';
export const tokenSha = createHash('sha256').update(TOKEN).digest('hex');

export function writeYaml(path: string, obj: unknown): string {
  writeFileSync(path, YAML.stringify(obj));
  return path;
}

export interface Proc {
  child: ChildProcess;
  /** Standard output and error, interleaved. */
  out: string[];
  stdout: string[];
  exited: Promise<number | null>;
}

export function llmtap(args: string[], opts: { cwd?: string; stdin?: boolean } = {}): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd, stdio: [opts.stdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  const stdout: string[] = [];
  child.stdout?.on('data', (b: Buffer) => {
    out.push(b.toString());
    stdout.push(b.toString());
  });
  child.stderr?.on('data', (b: Buffer) => {
    out.push(b.toString());
    if (out.length > 2000) out.splice(0, 500);
  });
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  return { child, out, stdout, exited };
}

export async function stopProc(p: Proc | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (p === undefined || p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill(signal);
  await Promise.race([p.exited, sleep(20_000)]);
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
}

/** Bounded wait until the hub's API answers /readyz with 200. */
export async function waitReady(base: string, p: Proc, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    if (p.child.exitCode !== null) throw new Error(`hub exited ${p.child.exitCode}\n${p.out.join('').slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`hub not ready\n${p.out.join('').slice(-3000)}`);
    await sleep(200);
  }
}

/** An alert as /v1/alerts serves it (src/api/present.ts), the fields the tests read. */
export interface ApiAlert {
  id: string;
  seq: number;
  heuristic: string;
  process_name?: string;
  device_name?: string;
  evidence: { flow_ids: number[]; spread?: { device_name?: string }[] } & Record<string, unknown>;
  [k: string]: unknown;
}

/** A SIEM following /v1/alerts with its cursor: every change it was handed, in order. */
export class SiemPoller {
  readonly changes: ApiAlert[] = [];
  private cursor: string | undefined;
  constructor(private base: string) {}

  setBase(base: string): void {
    this.base = base;
  }

  /** One poll: every page up to the newest change. Network errors (hub away) count as no news. */
  async poll(): Promise<number> {
    let got = 0;
    for (;;) {
      let body: { items: ApiAlert[]; next_cursor: string; has_more: boolean };
      try {
        const r = await fetch(`${this.base}/v1/alerts?limit=100${this.cursor !== undefined ? `&cursor=${encodeURIComponent(this.cursor)}` : ''}`, { headers: { authorization: `Bearer ${TOKEN}` } });
        if (r.status !== 200) return got;
        body = (await r.json()) as typeof body;
      } catch {
        return got;
      }
      this.changes.push(...body.items);
      got += body.items.length;
      this.cursor = body.next_cursor;
      if (!body.has_more) return got;
    }
  }

  /** The newest state of each alert seen. */
  current(): ApiAlert[] {
    const by = new Map<string, ApiAlert>();
    for (const a of this.changes) by.set(a.id, a);
    return [...by.values()];
  }
}

/**
 * An alert as two runs over the same input must agree on it: everything but its change
 * sequence number (`seq`, per database) and the flow ids (each sensor numbers its own flows).
 */
export function comparable(a: ApiAlert): unknown {
  const { seq: _s, ...rest } = a;
  const { flow_ids: _f, ...evidence } = a.evidence;
  return { ...rest, evidence };
}

export function comparableSet(alerts: ApiAlert[]): unknown[] {
  return [...alerts].sort((x, y) => (x.id < y.id ? -1 : 1)).map(comparable);
}

/** Poll until `done` holds (bounded), then keep polling for `settleMs` to see nothing more arrives. */
export async function pollUntil(p: SiemPoller, done: () => boolean, timeoutMs: number, settleMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) return;
    await p.poll();
    await sleep(300);
  }
  const until = Date.now() + settleMs;
  while (Date.now() < until) {
    await p.poll();
    await sleep(300);
  }
}

/**
 * A link that can be cut: a TCP relay on loopback between a sensor and one NATS node. `cut()`
 * drops every connection through it and refuses new ones until `restore()` (what a WAN link
 * going down looks like to both ends).
 */
export class LinkProxy {
  private down = false;
  private sockets = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<LinkProxy> {
    const sockets = new Set<Socket>();
    let self: LinkProxy | undefined;
    const server = createServer((client) => {
      if (self === undefined || self.down) {
        client.destroy();
        return;
      }
      const up = netConnect(targetPort, '127.0.0.1');
      for (const s of [client, up]) {
        sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => {
          sockets.delete(s);
          client.destroy();
          up.destroy();
        });
      }
      client.pipe(up);
      up.pipe(client);
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const a = server.address();
    self = new LinkProxy(server, typeof a === 'object' && a !== null ? a.port : 0);
    self.sockets = sockets;
    return self;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  cut(): void {
    this.down = true;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.down = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((res) => this.server.close(res));
  }
}

/** What every run of the rig shares: the fleet set's tenant, and the join hold short (a flow
 * without EDR partner waits 2 s of capture time, not 30) so the hub settles soon after the last
 * record. */
export const commonConfig = (): Record<string, unknown> => ({ tenants: fleetTenants(), attribute: { hold_s: 2 }, edr: { tenant: 'fleet' } });
export const apiConfig = (port: number): Record<string, unknown> => ({ host: '127.0.0.1', port, tokens: [{ tenant: 'fleet', token_sha256: tokenSha }] });

/** The sensor of each device of DEVICES. */
export const sensorOf = (d: FleetDevice): string => `site-${d.name}`;

/**
 * The whole fleet for one scenario: the per-device captures, a NATS cluster with a user per
 * sensor, a PostgreSQL server, the single-box reference alerts; per scenario a fresh database,
 * fresh streams, a hub and three sensors.
 */
export class FleetRig {
  captures: string[] = [];
  single: ApiAlert[] = [];
  cluster!: NatsCluster;
  pg!: Postgres;
  hub: Proc | undefined;
  base = '';
  private n = 0;

  constructor(
    readonly dir: string,
    /** The devices and feed (default: three devices of the tap, cut with tcpdump). */
    readonly set: FleetSet = TAP_SET,
  ) {}

  async start(): Promise<void> {
    for (const d of this.set.devices) this.captures.push(this.set.capture(this.dir, d));
    this.pg = await Postgres.start();
    this.cluster = await NatsCluster.start(join(this.dir, 'nats'), this.set.devices.map((d) => ({ tenant: 'fleet', sensor: sensorOf(d) })));
    writeFileSync(join(this.dir, 'hub.pw'), `${this.cluster.hub.pass}\n`);
    for (const d of this.set.devices) writeFileSync(join(this.dir, `${sensorOf(d)}.pw`), `${this.cluster.sensor('fleet', sensorOf(d)).pass}\n`);
    // the single box: the three captures together, the same feed and config, its alerts as the
    // same API serves them
    const port = await freePort();
    writeYaml(join(this.dir, 'single.yaml'), { ...commonConfig(), store: { path: join(this.dir, 'single.db') }, api: apiConfig(port) });
    const one = llmtap(['replay', '--config', join(this.dir, 'single.yaml'), '--edr', this.set.edr, '--quiet', '--serve', ...this.captures]);
    try {
      await waitReady(`http://127.0.0.1:${port}`, one);
      const p = new SiemPoller(`http://127.0.0.1:${port}`);
      await p.poll();
      this.single = p.current();
    } finally {
      await stopProc(one);
    }
  }

  /** A new scenario: empty streams, a new database, a hub config (with `fleet` overrides). */
  async scenario(fleet: Record<string, unknown> = {}, o: { edrFiles?: boolean } = {}): Promise<string> {
    await this.stopSensors();
    await this.stopHub();
    const nc = await connect({ servers: this.cluster.servers, user: this.cluster.hub.user, pass: this.cluster.hub.pass });
    try {
      const jsm = await jetstreamManager(nc);
      for await (const s of jsm.streams.names()) await jsm.streams.delete(s);
    } finally {
      await nc.close();
    }
    const n = ++this.n;
    const port = await freePort();
    this.base = `http://127.0.0.1:${port}`;
    return writeYaml(join(this.dir, `hub-${n}.yaml`), {
      ...commonConfig(),
      edr: { tenant: 'fleet', files: o.edrFiles === false ? [] : [this.set.edr] },
      store: { url: await this.pg.createDatabase(`hub${n}`) },
      api: apiConfig(port),
      fleet: { servers: this.cluster.servers, user: this.cluster.hub.user, password_file: join(this.dir, 'hub.pw'), replicas: 3, max_bytes: 64 * 1024 * 1024, ...fleet },
    });
  }

  /** The same hub config with other `fleet` settings (a restart with another setting). */
  withFleet(config: string, fleet: Record<string, unknown>): string {
    const c = YAML.parse(readFileSync(config, 'utf8')) as { fleet: Record<string, unknown> };
    c.fleet = { ...c.fleet, ...fleet };
    return writeYaml(config.replace(/\.yaml$/, '-b.yaml'), c);
  }

  async startHub(config: string): Promise<Proc> {
    this.hub = llmtap(['hub', '--config', config]);
    await waitReady(this.base, this.hub);
    return this.hub;
  }

  async stopHub(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await stopProc(this.hub, signal);
    this.hub = undefined;
  }

  /**
   * A sensor process replaying its device's capture into the fleet (servers: the cluster's, or a
   * proxy's); `stdin`: the capture is read from standard input, which the test writes (paced).
   */
  sensor(d: FleetDevice, o: { servers?: string[]; fleet?: Record<string, unknown>; stdin?: boolean } = {}): Proc {
    const name = sensorOf(d);
    const cfg = writeYaml(join(this.dir, `${name}-${this.n}.yaml`), {
      ...commonConfig(),
      store: { path: join(this.dir, `${name}-${this.n}.db`) },
      fleet: { servers: o.servers ?? this.cluster.servers, user: this.cluster.sensor('fleet', name).user, password_file: join(this.dir, `${name}.pw`), tenant: 'fleet', sensor: name, drain_s: 120, ...o.fleet },
    });
    const p = llmtap(['replay', '--config', cfg, '--format', 'json', o.stdin === true ? '-' : this.captures[this.set.devices.indexOf(d)]!], { stdin: o.stdin === true });
    this.sensors.push(p);
    return p;
  }

  private sensors: Proc[] = [];

  /** Sensors a failed test left running (one waiting for its standard input): killed. */
  async stopSensors(): Promise<void> {
    await Promise.all(this.sensors.map((p) => stopProc(p, 'SIGKILL')));
    this.sensors = [];
  }

  async stop(): Promise<void> {
    await this.stopSensors();
    await this.stopHub();
    await this.cluster?.stop();
    await this.pg?.stop();
  }
}

/**
 * A classic pcap file cut in two at a packet boundary (the first `share` of its packets): the
 * first part with the file header, the second the rest of the packet records, so writing both
 * one after the other is the whole file.
 */
export function splitPcap(path: string, share: number): [Buffer, Buffer] {
  const b = readFileSync(path);
  const magic = b.readUInt32LE(0);
  if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) throw new Error(`${path}: not a little-endian classic pcap`);
  const offsets: number[] = [];
  for (let off = 24; off + 16 <= b.length; off += 16 + b.readUInt32LE(off + 8)) offsets.push(off);
  const cut = offsets[Math.floor(offsets.length * share)]!;
  return [b.subarray(0, cut), b.subarray(cut)];
}

/** A sensor's JSON summary (what it printed on stdout). */
export function sensorSummary(p: Proc): { alerts: { heuristic: string }[]; fleet: { published: number; duplicates: number; buffered: number; dropped: number; refused: number; retries: number } } {
  return JSON.parse(p.stdout.join('')) as ReturnType<typeof sensorSummary>;
}
