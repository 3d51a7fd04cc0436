/** Test helper: run the llmtap CLI from source (cli-child.ts), optionally inside a namespace. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './child.js';
import type { VethNs } from './netns.js';

const viteNode = join(repoRoot, 'node_modules', '.bin', 'vite-node');
const cliChild = join(repoRoot, 'test', 'live', 'cli-child.ts');

export interface CliRun {
  done: Promise<{ code: number | null; stderr: string }>;
  kill(s: NodeJS.Signals): void;
  stderr(): string;
  /** Resolves true once stderr contains `text`, false after `timeoutMs`. */
  waitFor(text: string, timeoutMs: number): Promise<boolean>;
}

/** Starts `llmtap ARGS`; SIGKILLed after `guardMs` if it has not exited by then. */
export function runCli(args: string[], ns?: VethNs, guardMs = 120_000): CliRun {
  const opts = { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] as ('ignore' | 'pipe')[] };
  const p = ns ? ns.spawn(viteNode, [cliChild, ...args], opts) : spawn(viteNode, [cliChild, ...args], opts);
  let err = '';
  p.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  p.stdout?.on('data', () => undefined);
  const guard = setTimeout(() => p.kill('SIGKILL'), guardMs);
  let exited = false;
  const done = new Promise<{ code: number | null; stderr: string }>((res) => p.on('exit', (code) => {
    exited = true;
    clearTimeout(guard);
    res({ code, stderr: err });
  }));
  const waitFor = async (text: string, timeoutMs: number): Promise<boolean> => {
    const until = Date.now() + timeoutMs;
    while (!err.includes(text)) {
      if (exited || Date.now() > until) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
    return true;
  };
  return { done, kill: (s) => p.kill(s), stderr: () => err, waitFor };
}
