/**
 * Tests that spawn `bin/llmtap.js` run the compiled `dist/`. This brings it up to date once:
 * as a vitest `globalSetup` (default export) and as `ensureBuilt()` for a test file's
 * `beforeAll`. dist counts as fresh when its stamp is newer than every file under `src/`.
 * A lock directory keeps two test workers from compiling at the same time; waiting for it is
 * bounded.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './corpus.js';

const STAMP = join(repoRoot, 'dist', '.build-stamp');
const LOCK = join(repoRoot, 'dist', '.build-lock');
const LOCK_WAIT_MS = 120_000;

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtimeMs(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function stampMtimeMs(): number {
  try {
    return statSync(STAMP).mtimeMs;
  } catch {
    return 0;
  }
}

function isFresh(): boolean {
  return stampMtimeMs() > newestMtimeMs(join(repoRoot, 'src'));
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Compile `src/` into `dist/` unless it is already current. Type errors do not stop emission. */
export function ensureBuilt(): void {
  if (isFresh()) return;
  mkdirSync(join(repoRoot, 'dist'), { recursive: true });
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error('dist build lock held for too long (remove dist/.build-lock if stale)');
      sleepSync(250);
    }
  }
  try {
    if (isFresh()) return;
    const started = Date.now();
    const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: repoRoot, encoding: 'utf8', timeout: 300_000 });
    if (r.error !== undefined) throw new Error(`cannot run tsc: ${r.error.message}`);
    // tsc exits non-zero on type errors but still emits; only a missing entry point is fatal.
    statSync(join(repoRoot, 'dist', 'cli', 'main.js'));
    // The stamp carries the build's start time, so a source edited during the build is stale.
    writeFileSync(STAMP, `${new Date(started).toISOString()}\n`);
    utimesSync(STAMP, started / 1000, started / 1000);
  } finally {
    rmdirSync(LOCK);
  }
}

/** vitest globalSetup entry. */
export default function setup(): void {
  ensureBuilt();
}
