// A throwaway PostgreSQL 15 cluster for benchmarks (Debian package `postgresql`): initdb in a
// temporary directory, started on a free loopback port with the server's durable defaults (fsync
// on, what a hub's server does), trust authentication for the superuser `llmtap`. As root the
// server runs as the `postgres` system user (PostgreSQL refuses root). Shared by bench/fleet.mjs
// and bench/pg-store.mjs.
import { spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PG_BIN = '/usr/lib/postgresql/15/bin';

/** A loopback TCP port nothing listens on right now. */
export function freePort() {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}

function asPostgres(bin, args) {
  const r = process.getuid() === 0 ? spawnSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, bin), ...args], { encoding: 'utf8' }) : spawnSync(join(PG_BIN, bin), args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${bin}: ${r.stderr || r.stdout}`);
}

/** Starts a cluster in a new directory named `prefix…`; `stop()` shuts it down and removes it. */
export async function startPostgres(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (process.getuid() === 0) {
    const id = (f) => Number(spawnSync('id', [f, 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chownSync(dir, id('-u'), id('-g'));
  }
  const port = await freePort();
  asPostgres('initdb', ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'llmtap', '-E', 'UTF8', '--locale=C.UTF-8']);
  asPostgres('pg_ctl', ['-D', join(dir, 'data'), '-l', join(dir, 'log'), '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, 'start']);
  return {
    port,
    url: `postgres://llmtap@127.0.0.1:${port}/postgres`,
    stop() {
      asPostgres('pg_ctl', ['-D', join(dir, 'data'), '-m', 'fast', '-w', 'stop']);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
