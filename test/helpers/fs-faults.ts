/**
 * Test helper: real storage faults for the store tests. A small tmpfs mounted by the test (the
 * full disk), `chattr +i` (a read-only file even for root) and a second SQLite connection
 * holding the write lock. Mount points are unique per run and unmounted by `cleanup()`.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './corpus.js';

/** Why the fault tests cannot run here, or undefined when they can. */
export function faultsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'needs root (mounts a tmpfs, chattr +i)';
  try {
    execFileSync('chattr', ['--help'], { stdio: 'ignore' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'needs chattr (e2fsprogs)';
  }
  return undefined;
}

export interface Tmpfs {
  dir: string;
  /** Writes a filler file until the file system is full, then gives `leaveKiB` back; returns its path. */
  fill(leaveKiB?: number): string;
  cleanup(): void;
}

export function mountTmpfs(sizeKiB: number): Tmpfs {
  const base = mkdtempSync(join(tmpdir(), 'llmtap-tmpfs-'));
  const dir = join(base, 'mnt');
  mkdirSync(dir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0755`, 'tmpfs', dir], { stdio: 'pipe' });
  return {
    dir,
    fill: (leaveKiB = 0) => {
      const p = join(dir, 'filler');
      const fd = openSync(p, 'a');
      const chunk = Buffer.alloc(4096, 0x55);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      } finally {
        closeSync(fd);
      }
      if (leaveKiB > 0) truncateSync(p, Math.max(0, statSync(p).size - leaveKiB * 1024));
      return p;
    },
    cleanup: () => {
      try {
        execFileSync('umount', [dir], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      }
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/** `chattr +i` / `-i`: an immutable file cannot be opened for writing, not even by root. */
export function setImmutable(path: string, on: boolean): void {
  execFileSync('chattr', [on ? '+i' : '-i', path], { stdio: 'pipe' });
}

/**
 * A scratch directory on a file system that supports `chattr +i` (tmpfs does not: the system
 * temp directory is tried after the repository's node_modules/.cache). Removed by `cleanup()`.
 */
export function immutableCapableDir(): { dir: string; cleanup(): void } {
  const candidates = [join(repoRoot, 'node_modules', '.cache'), tmpdir()];
  const errors: string[] = [];
  for (const c of candidates) {
    mkdirSync(c, { recursive: true });
    const dir = mkdtempSync(join(c, 'llmtap-ro-'));
    const probe = join(dir, 'probe');
    closeSync(openSync(probe, 'w'));
    try {
      setImmutable(probe, true);
      setImmutable(probe, false);
      rmSync(probe);
      return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
    } catch (e) {
      errors.push(`${c}: ${(e as Error).message}`);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  throw new Error(`no directory supports chattr +i: ${errors.join('; ')}`);
}
