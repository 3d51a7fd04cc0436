/**
 * Runs a crash writer (a script that commits observations and prints `committed N` after each
 * commit, then `done`) under vite-node and SIGKILLs it once `killAfter` observations are
 * committed. Shared by the SQLite and PostgreSQL crash tests.
 */
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export function runWriterAndKill(
  writer: string,
  target: string,
  total: number,
  killAfter: number,
): Promise<{ committed: number; finished: boolean }> {
  return new Promise((res, rej) => {
    const child = spawn(join(repo, 'node_modules/.bin/vite-node'), [writer, target, String(total)], {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let committed = 0;
    let finished = false;
    let buf = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) {
        if (l === 'done') finished = true;
        const m = /^committed (\d+)$/.exec(l);
        if (m) committed = Number(m[1]);
        if (committed >= killAfter && !child.killed) child.kill('SIGKILL');
      }
    });
    child.on('error', rej);
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL' && code !== 0) rej(new Error(`writer failed (${code}): ${err}`));
      else res({ committed, finished });
    });
  });
}
