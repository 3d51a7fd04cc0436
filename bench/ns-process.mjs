// A process in the benchmark's network namespace (`ip netns exec`), started and waited for until
// its output says it is ready, stopped with SIGTERM (SIGKILL after a bounded wait). Shared by
// bench/capture.mjs and bench/capture-workers.mjs.
import { spawn } from 'node:child_process';

/**
 * Runs `argv` in namespace `ns`; resolves once `isReady(stdout, stderr)` holds (polled every
 * `pollMs`), rejects if it exits first or is not ready within `readyMs`. `stop()` ends it and
 * gives its whole output.
 */
export function startInNs(ns, argv, { what, isReady, pollMs = 20, readyMs = 60_000, stopMs = 120_000 }) {
  const p = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => { out += d; });
  p.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((r) => p.on('exit', r));
  return new Promise((res, rej) => {
    const t = setTimeout(() => { clearInterval(iv); p.kill('SIGKILL'); rej(new Error(`${what} not ready: ${err.slice(-500)}`)); }, readyMs);
    void exited.then((code) => {
      if (isReady(out, err)) return;
      clearInterval(iv);
      clearTimeout(t);
      rej(new Error(`${what} exited ${code}: ${err.slice(-500)}`));
    });
    const iv = setInterval(() => {
      if (!isReady(out, err)) return;
      clearInterval(iv);
      clearTimeout(t);
      res({
        stop: async () => {
          p.kill('SIGTERM');
          const k = setTimeout(() => p.kill('SIGKILL'), stopMs);
          await exited;
          clearTimeout(k);
          return { out, err };
        },
      });
    }, pollMs);
  });
}
