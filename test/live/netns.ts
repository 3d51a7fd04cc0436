/**
 * Test helper: a private network namespace holding a veth pair (`cap` end for the sensor,
 * `peer` end for tcpreplay). Names are unique per run; destroy() deletes the namespace, which
 * deletes both veth ends. Traffic never leaves the namespace.
 */
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface VethNs {
  ns: string;
  capIf: string;
  peerIf: string;
  /** Runs a command inside the namespace and returns its stdout. */
  run(cmd: string, args: string[], timeoutMs?: number): string;
  /** Spawns a command inside the namespace. */
  spawn(cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
  /** Runs a command inside the namespace without blocking the event loop; rejects on failure. */
  runAsync(cmd: string, args: string[], timeoutMs?: number): Promise<string>;
  destroy(): void;
}

/** Why namespace tests cannot run here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
    execFileSync('tcpreplay', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'needs iproute2 and tcpreplay';
  }
  return undefined;
}

export function createVethNs(prefix = 'lt'): VethNs {
  const tag = `${prefix}${process.pid.toString(36)}${randomBytes(3).toString('hex')}`.slice(0, 12);
  const ns = `${tag}ns`;
  const capIf = `${tag}a`;
  const peerIf = `${tag}b`;
  const ip = (...args: string[]): void => {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
  };
  const sysctl = (kv: string): void => {
    execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', kv], { stdio: 'ignore', timeout: 10_000 });
  };
  ip('netns', 'add', ns);
  const destroy = (): void => {
    try {
      ip('netns', 'del', ns);
    } catch {
      // already gone
    }
  };
  try {
    // No IPv6 on the new links: no router/neighbour solicitations or MLD reports appear
    // on the capture end besides what tcpreplay sends.
    sysctl('net.ipv6.conf.all.disable_ipv6=1');
    sysctl('net.ipv6.conf.default.disable_ipv6=1');
    ip('-n', ns, 'link', 'add', capIf, 'mtu', '9000', 'type', 'veth', 'peer', 'name', peerIf, 'mtu', '9000');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'link', 'set', capIf, 'up');
    ip('-n', ns, 'link', 'set', peerIf, 'up');
  } catch (e) {
    destroy();
    throw e;
  }
  return {
    ns,
    capIf,
    peerIf,
    run: (cmd, args, timeoutMs = 120_000) =>
      execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] }),
    spawn: (cmd, args, opts = {}) => spawn('ip', ['netns', 'exec', ns, cmd, ...args], opts),
    runAsync: (cmd, args, timeoutMs = 120_000) => new Promise((res, rej) => {
      execFile('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) => {
        if (err) rej(new Error(`${cmd} failed: ${err.message} ${stderr}`));
        else res(stdout);
      });
    }),
    destroy,
  };
}

/** tcpreplay's "Successful packets:" and "Actual: N packets (B bytes)" summary. */
export function parseTcpreplay(out: string): { packets: number; bytes: number; failed: number } {
  const m = /Actual:\s+(\d+) packets \((\d+) bytes\)/.exec(out);
  const f = /Failed packets:\s+(\d+)/.exec(out);
  if (!m) throw new Error(`unexpected tcpreplay output: ${out.slice(0, 400)}`);
  return { packets: Number(m[1]), bytes: Number(m[2]), failed: f ? Number(f[1]) : 0 };
}
