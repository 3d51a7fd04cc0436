/**
 * A real NATS JetStream cluster (Debian package `nats-server`, 2.9) on loopback for fleet tests:
 * three nodes, each with its own client and cluster port and its own store directory, routed to
 * each other, sharing one config that defines the account `LLMTAP` (JetStream enabled) with a hub
 * user (everything) and one user per sensor with exactly `sensorPermissions(tenant, sensor)` —
 * so tenant isolation is the server's, as in production. Nodes can be killed (-9) and restarted
 * on the same ports and store; `stop` ends every node (SIGTERM, then SIGKILL after a bounded wait).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { sensorInbox, sensorPermissions } from '../../src/fleet/subjects.js';
import { freePort } from './prometheus.js';
import { haveTool } from './tools.js';

/** Whether the binary is there; under CI=true its absence is an error. */
export function haveNatsServer(): boolean {
  return haveTool('nats-server', 'nats-server');
}

export interface SensorUser {
  tenant: string;
  sensor: string;
  /** Default: `<tenant>-<sensor>`. */
  user?: string;
  password?: string;
}

export interface Credentials {
  user: string;
  pass: string;
}

interface Node {
  name: string;
  port: number;
  clusterPort: number;
  /** The monitoring endpoint (/connz: which client is connected where). */
  httpPort: number;
  dir: string;
  conf: string;
  child?: ChildProcess;
  log: string[];
}

const HUB: Credentials = { user: 'hub', pass: 'hub-secret' };

function q(s: string): string {
  return JSON.stringify(s);
}

function permissionsConf(p: ReturnType<typeof sensorPermissions>): string {
  return `permissions: { publish: { allow: [${p.publish.allow.map(q).join(', ')}] }, subscribe: { allow: [${p.subscribe.allow.map(q).join(', ')}] } }`;
}

export class NatsCluster {
  readonly hub = HUB;
  private readonly sensorCreds = new Map<string, Credentials>();

  private constructor(private readonly nodes: Node[]) {}

  /** Start three routed JetStream nodes under `dir` with the given sensor users; resolves when
   * the cluster has a JetStream meta leader (streams can be made). */
  static async start(dir: string, sensors: SensorUser[]): Promise<NatsCluster> {
    mkdirSync(dir, { recursive: true });
    const nodes: Node[] = [];
    for (let i = 0; i < 3; i++) {
      const name = `n${i + 1}`;
      nodes.push({ name, port: await freePort(), clusterPort: await freePort(), httpPort: await freePort(), dir: join(dir, name), conf: join(dir, `${name}.conf`), log: [] });
    }
    const c = new NatsCluster(nodes);
    const users: string[] = [`{ user: ${q(HUB.user)}, password: ${q(HUB.pass)} }`];
    for (const s of sensors) {
      const cred = { user: s.user ?? `${s.tenant}-${s.sensor}`, pass: s.password ?? `pw-${s.tenant}-${s.sensor}` };
      c.sensorCreds.set(`${s.tenant}/${s.sensor}`, cred);
      users.push(`{ user: ${q(cred.user)}, password: ${q(cred.pass)}, ${permissionsConf(sensorPermissions(s.tenant, s.sensor))} }`);
    }
    for (const n of nodes) {
      mkdirSync(n.dir, { recursive: true });
      const routes = nodes.filter((o) => o !== n).map((o) => q(`nats://127.0.0.1:${o.clusterPort}`));
      writeFileSync(
        n.conf,
        [
          `server_name: ${n.name}`,
          `listen: 127.0.0.1:${n.port}`,
          `http: 127.0.0.1:${n.httpPort}`,
          `jetstream { store_dir: ${q(n.dir)}, max_memory_store: 64MB, max_file_store: 8GB }`,
          // no_advertise: a client knows only the servers it was given (a sensor behind a cut
          // link proxy does not reconnect around the cut to a node it learned of)
          `cluster { name: llmtap-test, listen: 127.0.0.1:${n.clusterPort}, routes: [${routes.join(', ')}], no_advertise: true }`,
          'accounts {',
          `  LLMTAP { jetstream: enabled, users: [ ${users.join(', ')} ] }`,
          '  SYS { users: [ { user: sys, password: sys-secret } ] }',
          '}',
          'system_account: SYS',
          '',
        ].join('\n'),
      );
    }
    for (let i = 0; i < nodes.length; i++) c.spawn(i);
    await c.waitReady();
    return c;
  }

  /** Client URLs of every node (a client given all of them fails over). */
  get servers(): string[] {
    return this.nodes.map((n) => `nats://127.0.0.1:${n.port}`);
  }

  sensor(tenant: string, sensor: string): Credentials {
    const c = this.sensorCreds.get(`${tenant}/${sensor}`);
    if (c === undefined) throw new Error(`no NATS user for sensor ${tenant}/${sensor}`);
    return c;
  }

  /** A connection as a sensor's NATS user, with its inbox prefix (as src/fleet/publisher.ts connects); the caller closes it. */
  connectSensor(tenant: string, sensor: string, extra: Partial<ConnectionOptions> = {}): Promise<NatsConnection> {
    const c = this.sensor(tenant, sensor);
    return connect({ servers: this.servers, user: c.user, pass: c.pass, inboxPrefix: sensorInbox(tenant, sensor), ...extra });
  }

  tail(i: number): string {
    return this.nodes[i]!.log.join('').slice(-3000);
  }

  private spawn(i: number): void {
    const n = this.nodes[i]!;
    const child = spawn('nats-server', ['-c', n.conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (b: Buffer) => {
      n.log.push(b.toString());
      if (n.log.length > 400) n.log.splice(0, 100);
    });
    n.child = child;
  }

  private async portOpen(port: number): Promise<boolean> {
    return new Promise((res) => {
      const s = netConnect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        res(true);
      });
      s.once('error', () => res(false));
    });
  }

  /** Bounded wait until every running node listens and JetStream answers (a meta leader). */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const [i, n] of this.nodes.entries()) {
      if (n.child === undefined) continue;
      while (!(await this.portOpen(n.port))) {
        if (n.child.exitCode !== null) throw new Error(`nats-server ${n.name} exited (${n.child.exitCode})\n${this.tail(i)}`);
        if (Date.now() > deadline) throw new Error(`nats-server ${n.name} did not listen\n${this.tail(i)}`);
        await sleep(100);
      }
    }
    let last: unknown;
    while (Date.now() < deadline) {
      let nc: NatsConnection | undefined;
      try {
        nc = await connect({ servers: this.servers, user: HUB.user, pass: HUB.pass, timeout: 2000 });
        const jsm = await jetstreamManager(nc, { timeout: 2000 });
        await jsm.getAccountInfo();
        return;
      } catch (err) {
        last = err;
      } finally {
        await nc?.close().catch(() => {});
      }
      await sleep(250);
    }
    throw new Error(`JetStream cluster not ready: ${(last as Error)?.message}\n${this.tail(0)}`);
  }

  /** SIGKILL node i (0-2) and wait for it to be gone. */
  async kill(i: number): Promise<void> {
    const child = this.nodes[i]!.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((res) => child.once('exit', res));
    child.kill('SIGKILL');
    await exited;
  }

  /**
   * Freeze node i (SIGSTOP): its connections stay open but nothing is answered, so what a client
   * sends it meanwhile is in flight when the node is then killed.
   */
  freeze(i: number): void {
    this.nodes[i]!.child?.kill('SIGSTOP');
  }

  /** The index of the running node a client of this NATS user is connected to (-1: none). */
  async nodeOfUser(user: string): Promise<number> {
    for (const [i, n] of this.nodes.entries()) {
      if (n.child === undefined || n.child.exitCode !== null || n.child.signalCode !== null) continue;
      const r = (await (await fetch(`http://127.0.0.1:${n.httpPort}/connz?auth=true&limit=1024`)).json()) as { connections?: { authorized_user?: string }[] };
      if ((r.connections ?? []).some((c) => c.authorized_user === user)) return i;
    }
    return -1;
  }

  /** Start node i again with the same ports and store. */
  async restart(i: number): Promise<void> {
    await this.kill(i);
    this.spawn(i);
    await this.waitReady();
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (n) => {
        const child = n.child;
        if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((res) => child.once('exit', res));
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(10_000)]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }),
    );
  }
}
