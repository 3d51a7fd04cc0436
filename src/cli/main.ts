/**
 * `llmtap <command>`: replay (capture files), ingest (Zeek/Suricata logs), run (live interface), rules (explain/export/check),
 * config (check). Every command returns an exit code (src/cli/exit.ts: 0 ok, 1 runtime failure,
 * 2 usage or config error) and prints its usage with -h/--help; errors are one clear line on
 * stderr, never a stack trace.
 */
import { EXIT, exitCodeFor } from './exit.js';

const USAGE = `llmtap — find programs talking to LLM/AI services, from network metadata only

usage:
  llmtap replay FILE|DIR|-... [--edr FILE]... [--config FILE] [--db PATH] [--flows OUT.ndjson]
                [--format table|json] [--serve] [--quiet]
  llmtap ingest zeek|eve PATH... [--edr FILE]... [--config FILE] [--db PATH] [--format table|json]
  llmtap run --iface NAME [--config FILE]
  llmtap hub --config FILE [--db PATH] [--no-api]
  llmtap rules explain HOST [--process NAME] [--port N] [--rules FILE]
  llmtap rules export [--format json|zeek-intel|suricata] [--out FILE]
  llmtap rules check FILE
  llmtap report usage [--db PATH] [--window 24h] [--group device,provider] [--format table|csv|json]
  llmtap config check FILE
  llmtap --version

  llmtap COMMAND --help   the options of one command

exit codes: 0 success, 1 runtime failure, 2 usage or configuration error
`;

export async function main(argv: string[]): Promise<void> {
  // `llmtap replay ... --flows - | head` closes our stdout early: that is not an error
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  });
  const [cmd, ...rest] = argv;
  let code: number;
  try {
    switch (cmd) {
      case 'replay': {
        const m = await import('./replay.js');
        code = await m.replayCommand(rest);
        break;
      }
      case 'ingest': {
        const m = await import('./ingest.js');
        code = await m.ingestCommand(rest);
        break;
      }
      case 'run': {
        const m = await import('./run.js');
        code = await m.runCommand(rest);
        break;
      }
      case 'hub': {
        const m = await import('./hub.js');
        code = await m.hubCommand(rest);
        break;
      }
      case 'rules': {
        const m = await import('./rules.js');
        code = await m.rulesCommand(rest);
        break;
      }
      case 'report': {
        const m = await import('./report.js');
        code = await m.reportCommand(rest);
        break;
      }
      case 'config': {
        const m = await import('./config-check.js');
        code = await m.configCommand(rest);
        break;
      }
      case '--version':
      case 'version':
        process.stdout.write(`llmtap ${(await import('../version.js')).LLMTAP_VERSION}\n`);
        code = 0;
        break;
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(USAGE);
        code = EXIT.ok;
        break;
      case undefined:
        process.stderr.write(`llmtap: no command given\n${USAGE}`);
        code = EXIT.usage;
        break;
      default:
        process.stderr.write(`llmtap: unknown command '${cmd}'\n${USAGE}`);
        code = EXIT.usage;
    }
  } catch (err) {
    const e = err as { code?: string; message?: string };
    process.stderr.write(`llmtap: ${e.code !== undefined && String(e.code).startsWith('LLMTAP_ERR') ? `${e.code}: ` : ''}${e.message ?? String(err)}\n`);
    if (process.env['LLMTAP_DEBUG'] === '1') process.stderr.write(`${(err as Error).stack ?? ''}\n`);
    code = exitCodeFor(err);
    if (code === EXIT.usage && (e.code === 'LLMTAP_ERR_USAGE' || String(e.code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`(llmtap ${cmd ?? ''} --help shows the usage)\n`);
    }
  }
  process.exitCode = code;
  exitGuard(cmd ?? '', code);
}

/** How long a finished command may leave the process alive. */
const EXIT_GRACE_MS = 5000;

/**
 * The command is done and has closed what it opened. Should anything still hold the event loop
 * (a client library's timer left behind, say), the process must not linger as if it were
 * working: after a grace period, name what is left on stderr and exit with the command's code.
 * The guard's own timer is unref'd, so a clean exit never waits for it; output still being
 * written to a slow pipe is waited for.
 */
function exitGuard(cmd: string, code: number): void {
  setTimeout(() => {
    if (process.stdout.writableLength > 0 || process.stderr.writableLength > 0) {
      exitGuard(cmd, code);
      return;
    }
    const left = new Map<string, number>();
    // the standard streams are pipes or terminals of their own: not what held the process
    for (const r of process.getActiveResourcesInfo()) if (r !== 'PipeWrap' && r !== 'TTYWrap') left.set(r, (left.get(r) ?? 0) + 1);
    const what = [...left].map(([r, n]) => `${r} x${n}`).join(', ');
    process.stderr.write(`llmtap${cmd !== '' ? ` ${cmd}` : ''}: finished, but ${what !== '' ? what : 'a handle'} still held the process; exiting with ${code}\n`);
    process.exit(code);
  }, EXIT_GRACE_MS).unref();
}
