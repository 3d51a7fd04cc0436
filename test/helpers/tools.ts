/** Server binaries the tests start (installed by scripts/setup-debian.sh). */
import { spawnSync } from 'node:child_process';

/** Whether `cmd --version` runs; under CI=true its absence is an error naming the Debian package. */
export function haveTool(cmd: string, debianPackage: string, versionFlag = '--version'): boolean {
  const ok = spawnSync(cmd, [versionFlag]).status === 0;
  if (!ok && process.env['CI'] === 'true') throw new Error(`${cmd} is not installed (Debian package \`${debianPackage}\`, scripts/setup-debian.sh installs it)`);
  return ok;
}
