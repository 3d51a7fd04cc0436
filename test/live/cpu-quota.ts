/**
 * A real CPU quota on one thread: a cgroup (v1 `cpu` hierarchy, whose `tasks` file takes thread
 * ids) with a CFS quota, and the thread moved into it. Used to starve one capture worker while
 * the others run freely. The cgroup is made per test and removed by `release()`, which first
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

/** The id of the thread of process `pid` whose name (comm) is `name`. */
export function threadId(pid: number, name: string): number {
  const tasks = join('/proc', String(pid), 'task');
  for (const tid of readdirSync(tasks)) {
    let comm = '';
    try { comm = readFileSync(join(tasks, tid, 'comm'), 'utf8').trim(); } catch { continue; }
    if (comm === name) return Number(tid);
  }
  throw new Error(`no thread named ${name} in process ${pid}`);
}

export interface ThreadQuota {
  /** The group's CFS periods and how many of them ran out of quota (`cpu.stat`). */
  throttled(): { periods: number; throttledPeriods: number };
  release(): void;
}

/** Limits thread `tid` to `quotaUs` of CPU per `periodUs` (the kernel's minimum quota is 1 ms). */
export function limitThread(tid: number, quotaUs: number, periodUs: number): ThreadQuota {
  const dir = join(CPU_V1, `llmtap-test-${process.pid}-${tid}`);
  mkdirSync(dir);
  try {
    writeFileSync(join(dir, 'cpu.cfs_period_us'), String(periodUs));
    writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quotaUs));
    writeFileSync(join(dir, 'tasks'), String(tid));
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
      try { writeFileSync(join(CPU_V1, 'tasks'), String(tid)); } catch { /* the thread has ended */ }
      rmdirSync(dir);
    },
  };
}
