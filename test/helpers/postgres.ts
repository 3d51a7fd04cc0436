/**
 * A throwaway PostgreSQL 15 cluster (Debian package `postgresql`) for store tests: initdb in a
 * temporary directory, started on a free loopback port (its socket in the same directory, so the
 * system cluster on 5432 is never touched), trust authentication for one superuser, stopped and
 * removed by `stop()`. PostgreSQL refuses to run as root, so when the test runs as root the
 * server runs as the `postgres` system user the package creates (runuser).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { freePort } from './prometheus.js';

export const PG_BIN = process.env['LLMTAP_PG_BIN'] ?? '/usr/lib/postgresql/15/bin';

/** Whether the server binaries are there; under CI=true their absence is an error. */
export function havePostgres(): boolean {
  const ok = existsSync(join(PG_BIN, 'initdb')) && existsSync(join(PG_BIN, 'pg_ctl'));
  if (!ok && process.env['CI'] === 'true') throw new Error(`PostgreSQL is not installed in ${PG_BIN} (Debian package \`postgresql\`)`);
  return ok;
}

/** Runs a server binary, as `postgres` when this process is root. */
function asServerUser(bin: string, args: string[]): { cmd: string; argv: string[] } {
  const path = join(PG_BIN, bin);
  if (process.getuid?.() === 0) return { cmd: 'runuser', argv: ['-u', 'postgres', '--', path, ...args] };
  return { cmd: path, argv: args };
}

function run(bin: string, args: string[], what: string): void {
  const { cmd, argv } = asServerUser(bin, args);
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`postgres: ${what} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}`);
}

/** Same as `run`, without blocking the event loop (pg_ctl start waits for the server). */
async function runAsync(bin: string, args: string[], what: string): Promise<void> {
  const { cmd, argv } = asServerUser(bin, args);
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const code = await new Promise<number | null>((res) => child.once('close', res));
  if (code !== 0) throw new Error(`postgres: ${what} failed (${code}): ${out}`);
}

export class Postgres {
  private stopped = false;
  private dbs = 0;

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  /** The superuser's URL of database `db` (default `postgres`). */
  url(db = 'postgres'): string {
    return `postgres://llmtap@127.0.0.1:${this.port}/${db}`;
  }

  static async start(): Promise<Postgres> {
    const dir = mkdtempSync(join(tmpdir(), 'llmtap-pg-'));
    if (process.getuid?.() === 0) chownSync(dir, uidOf('postgres'), gidOf('postgres'));
    const data = join(dir, 'data');
    try {
      run('initdb', ['-D', data, '-A', 'trust', '-U', 'llmtap', '-E', 'UTF8', '--locale=C.UTF-8'], 'initdb');
      // a few ports may be taken between freePort and the bind: try again on another
      for (let attempt = 0; ; attempt++) {
        const port = await freePort();
        // fsync off: a test cluster lives for one run (the store's durability is the server's business)
        const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`;
        try {
          await runAsync('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '60', '-o', opts, 'start'], 'pg_ctl start');
          return new Postgres(dir, port);
        } catch (err) {
          if (attempt >= 2) throw new Error(`${(err as Error).message}\n${tail(join(dir, 'log'))}`);
        }
      }
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** A fresh, empty database for one test; returns its URL. */
  async createDatabase(prefix = 't'): Promise<string> {
    const name = `${prefix}_${process.pid}_${++this.dbs}`;
    const c = new pg.Client({ connectionString: this.url() });
    await c.connect();
    try {
      await c.query(`CREATE DATABASE ${name}`);
    } finally {
      await c.end();
    }
    return this.url(name);
  }

  /** The server's log (for failure messages). */
  log(): string {
    return tail(join(this.dir, 'log'));
  }

  /** Stops the server, keeping its data (an outage); `resume` starts it again on the same port. */
  async pause(): Promise<void> {
    await runAsync('pg_ctl', ['-D', join(this.dir, 'data'), '-m', 'fast', '-w', '-t', '60', 'stop'], 'pg_ctl stop');
  }

  async resume(): Promise<void> {
    const opts = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`;
    await runAsync('pg_ctl', ['-D', join(this.dir, 'data'), '-l', join(this.dir, 'log'), '-w', '-t', '60', '-o', opts, 'start'], 'pg_ctl start');
  }

  /** Fast shutdown (open connections are ended), then the directory is removed. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      await runAsync('pg_ctl', ['-D', join(this.dir, 'data'), '-m', 'fast', '-w', '-t', '60', 'stop'], 'pg_ctl stop');
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/** The server of a test file, started once for all its tests (see `usePostgres`). */
export interface PostgresForFile {
  /** Whether the server binaries are installed (false only outside CI). */
  readonly present: boolean;
  /** The running server; throws before `beforeAll` has started it. */
  readonly server: Postgres;
}

/**
 * Starts one server before the file's tests and stops it after them (register it before other
 * hooks that use the server: hooks run in order and are undone in reverse). Without the binaries
 * nothing starts (`present` is false) — under CI=true `havePostgres` has thrown already.
 */
export function usePostgres(): PostgresForFile {
  const present = havePostgres();
  let server: Postgres | undefined;
  beforeAll(async () => {
    if (present) server = await Postgres.start();
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  }, 60_000);
  return {
    present,
    get server(): Postgres {
      if (server === undefined) throw new Error('postgres: the server of this file has not started');
      return server;
    },
  };
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-3000);
  } catch {
    return '';
  }
}

function idOf(flag: '-u' | '-g', name: string): number {
  const r = spawnSync('id', [flag, name], { encoding: 'utf8' });
  const n = Number(r.stdout.trim());
  if (r.status !== 0 || !Number.isInteger(n)) throw new Error(`postgres: no system user ${name} (is the postgresql package installed?)`);
  return n;
}

function uidOf(name: string): number {
  return idOf('-u', name);
}

function gidOf(name: string): number {
  return idOf('-g', name);
}
