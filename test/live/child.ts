/** Test helper: start capture-child.ts inside a namespace and collect its summary. */
import type { ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LiveWorkerStat } from '../../src/workers/live.js';
import type { KeyedPacket } from './flow-key.js';
import type { VethNs } from './netns.js';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');

export interface ChildSummary {
  packets: number;
  capBytes: number;
  wireBytes: number;
  capLens: number[];
  digest: string;
  nonMonotonic: number;
  maxSkewMs: number;
  firstTsUs: number;
  lastTsUs: number;
  batches: number;
  maxBatch: number;
  kernelReceived: number | null;
  kernelDropped: number | null;
  ifDropped: number | null;
  linkType: number;
  extra: { handlerErrors: number; batches: number; loopDupSkipped: number; endError: string | null };
}

export interface RunningChild<T = ChildSummary> {
  proc: ChildProcess;
  /** What the child printed so far. */
  output(): string;
  /** Sends SIGTERM and resolves with the summary line. */
  stop(): Promise<T>;
}

/** Starts the capture child and resolves once it printed `ready` (rejects on early exit). */
export function startCaptureChild(env: VethNs, iface: string, backend: 'native' | 'cap'): Promise<RunningChild> {
  return startJsonChild<ChildSummary>(env, 'capture-child.ts', [iface, backend]);
}

/** One fanout member's view (fanout-child.ts). */
export interface FanoutMember {
  /** Each delivered packet (digest, flow key), in delivery order. */
  received: KeyedPacket[];
  packets: number;
  kernelReceived: number | null;
  kernelDropped: number | null;
  extra: { handlerErrors: number; fanoutPrejoinSkipped: number; endError: string | null };
}

/** Starts fanout-child.ts: one native source per interface listed, all in fanout group `group`. */
export function startFanoutChild(env: VethNs, ifaces: string[], group: number,
  opt: { bufferBytes?: number; batchPackets?: number; slowMs?: number } = {}): Promise<RunningChild<FanoutMember[]>> {
  return startJsonChild<FanoutMember[]>(env, 'fanout-child.ts', [ifaces.join(','), String(group), JSON.stringify(opt)]);
}

/** What workers-child.ts prints at the end. */
export interface WorkersSummary {
  flows: string[][];
  dns: string[][];
  stats: LiveWorkerStat[];
  restarts: { worker: number; error: string }[];
  watermarkBackwards: number[];
}

/** Starts workers-child.ts: `n` live workers on `iface` in fanout group `group`. */
export function startWorkersChild(env: VethNs, iface: string, group: number, n: number,
  hooks: { failAfterPackets?: Record<number, number>; bufferBytes?: Record<number, number> } = {}): Promise<RunningChild<WorkersSummary>> {
  return startJsonChild<WorkersSummary>(env, 'workers-child.ts', [iface, String(group), String(n), JSON.stringify(hooks)]);
}

/** Starts a test child script of this folder inside the namespace; it prints `ready`, and one
 * JSON line (its summary; `[` or `{` first) after SIGTERM. */
function startJsonChild<T>(env: VethNs, script: string, args: string[]): Promise<RunningChild<T>> {
  const viteNode = join(repoRoot, 'node_modules', '.bin', 'vite-node');
  const proc = env.spawn(viteNode, [join(here, script), ...args], {
    cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((res) => proc.on('exit', (code) => res(code)));
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`capture child not ready: ${err}`)); }, 60_000);
    const poll = setInterval(() => {
      if (!out.includes('ready\n')) return;
      clearInterval(poll);
      clearTimeout(timer);
      resolveReady({
        proc,
        output: () => out,
        stop: async () => {
          proc.kill('SIGTERM');
          const kill = setTimeout(() => proc.kill('SIGKILL'), 30_000);
          const code = await exited;
          clearTimeout(kill);
          const line = out.split('\n').find((l) => l.startsWith('{') || l.startsWith('['));
          if (!line) throw new Error(`capture child exited ${code} without summary: ${err}`);
          return JSON.parse(line) as T;
        },
      });
    }, 50);
    void exited.then((code) => {
      if (out.includes('ready\n')) return;
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`capture child exited ${code}: ${err}`));
    });
  });
}
