/**
 * Fleet-mode end-to-end pieces: per-device captures cut from the fleet set's tap, configs for
 * sensors and the hub, `llmtap` child processes (hub, sensors, single-box replay) and a SIEM
 * poller that follows a hub's /v1/alerts with its cursor.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import YAML from 'yaml';
import { repoRoot } from './corpus.js';

export const FLEET = join(repoRoot, 'pcaps', 'fleet');
export const BIN = join(repoRoot, 'bin', 'llmtap.js');
export const EDR = join(FLEET, 'edr', 'llmtap.ndjson');

/** The devices of the fleet set that ran the new binary (pcaps/fleet/README.md, step 4). */
export const DEVICES = [
  { name: 'a', v4: '10.77.0.101', v6: 'fd77:0:0:77::101' },
  { name: 'b', v4: '10.77.0.102', v6: 'fd77:0:0:77::102' },
  { name: 'e', v4: '10.77.0.105', v6: 'fd77:0:0:77::105' },
] as const;

/** One device's traffic on the tap (its addresses, DNS included) as its own capture, with tcpdump. */
export function deviceCapture(dir: string, d: (typeof DEVICES)[number]): string {
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
  out: string[];
  exited: Promise<number | null>;
}

export function llmtap(args: string[], opts: { cwd?: string } = {}): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  child.stdout?.on('data', (b: Buffer) => out.push(b.toString()));
  child.stderr?.on('data', (b: Buffer) => {
    out.push(b.toString());
    if (out.length > 2000) out.splice(0, 500);
  });
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  return { child, out, exited };
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
