/** Test helper: start capture-child.ts inside a namespace and collect its summary. */
import type { ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
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

export interface RunningChild {
  proc: ChildProcess;
  /** Sends SIGTERM and resolves with the summary line. */
  stop(): Promise<ChildSummary>;
}

/** Starts the capture child and resolves once it printed `ready` (rejects on early exit). */
export function startCaptureChild(env: VethNs, iface: string, backend: 'native' | 'cap'): Promise<RunningChild> {
  const viteNode = join(repoRoot, 'node_modules', '.bin', 'vite-node');
  const proc = env.spawn(viteNode, [join(here, 'capture-child.ts'), iface, backend], {
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
        stop: async () => {
          proc.kill('SIGTERM');
          const kill = setTimeout(() => proc.kill('SIGKILL'), 30_000);
          const code = await exited;
          clearTimeout(kill);
          const line = out.split('\n').find((l) => l.startsWith('{'));
          if (!line) throw new Error(`capture child exited ${code} without summary: ${err}`);
          return JSON.parse(line) as ChildSummary;
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
