/**
 * A real CPU quota on a worker's threads: a cgroup (v1 `cpu` hierarchy, whose `tasks` file takes thread
 * ids) with a CFS quota or a CPU weight, and the thread moved into it. Used to starve one capture
 * worker while another keeps a generous share of the machine, however loaded it is. The cgroup is made per test and removed by `release()`, which first
 * moves the thread back to the root group so it can finish.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const CPU_V1 = '/sys/fs/cgroup/cpu';

/** Why a per-thread CPU quota cannot be set here, or undefined when it can. */
export function cpuQuotaUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'per-thread CPU quota: not root';
  if (!existsSync(join(CPU_V1, 'tasks')) || !existsSync(join(CPU_V1, 'cpu.cfs_quota_us'))) {
    return `per-thread CPU quota: no cgroup v1 cpu hierarchy at ${CPU_V1}`;
  }
  return undefined;
}

/** The ids of the threads of process `pid` whose name (comm) is `name`: a worker's JS thread and
 * the native capture thread it started, which inherits its name. */
export function threadIds(pid: number, name: string): number[] {
  const tasks = join('/proc', String(pid), 'task');
  const ids: number[] = [];
  for (const tid of readdirSync(tasks)) {
    let comm = '';
    try { comm = readFileSync(join(tasks, tid, 'comm'), 'utf8').trim(); } catch { continue; }
    if (comm === name) ids.push(Number(tid));
  }
  if (ids.length === 0) throw new Error(`no thread named ${name} in process ${pid}`);
  return ids;
}

export interface ThreadQuota {
  /** The group's CFS periods and how many of them ran out of quota (`cpu.stat`). */
  throttled(): { periods: number; throttledPeriods: number };
  release(): void;
}

/** Puts threads `tids` (and no other) in a cgroup of the `cpu` hierarchy: `quota` limits it to `quotaUs` of
 * CPU per `periodUs` (the kernel's smallest quota is 1 ms); `shares` gives it that weight against
 * the rest of the machine (the root group's default is 1024). */
export function limitThreads(tids: number[], cpu: { quotaUs: number; periodUs: number } | { shares: number }): ThreadQuota {
  const dir = join(CPU_V1, `llmtap-test-${process.pid}-${tids[0]}`);
  mkdirSync(dir);
  try {
    if ('shares' in cpu) {
      writeFileSync(join(dir, 'cpu.shares'), String(cpu.shares));
    } else {
      writeFileSync(join(dir, 'cpu.cfs_period_us'), String(cpu.periodUs));
      writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(cpu.quotaUs));
    }
    for (const tid of tids) writeFileSync(join(dir, 'tasks'), String(tid));
  } catch (e) {
    rmdirSync(dir);
    throw e;
  }
  let released = false;
  return {
    throttled: () => {
      const st = Object.fromEntries(readFileSync(join(dir, 'cpu.stat'), 'utf8').trim().split('\n').map((l) => l.split(' ')));
      return { periods: Number(st['nr_periods']), throttledPeriods: Number(st['nr_throttled']) };
    },
    release: () => {
      if (released) return;
      released = true;
      for (const tid of tids) {
        try { writeFileSync(join(CPU_V1, 'tasks'), String(tid)); } catch { /* the thread has ended */ }
      }
      rmdirSync(dir);
    },
  };
}
