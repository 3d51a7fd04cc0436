/**
 * `llmtap report usage`: the usage summary (the shadow-AI playbook's table) from a database
 * file — per tenant, grouped by device or source address, provider and destination:
 * connections, first and last seen, bytes sent and received, distinct destinations, over a
 * window. As a table, CSV or JSON. The same numbers as `GET /v1/usage`; no user identity.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { stringify } from 'csv-stringify/sync';
import { parseGroup, parseWindowMs, presentUsageRow } from '../api/routes/usage.js';
import { configPath, loadConfig } from '../config.js';
import { isLlmtapError, LlmtapError } from '../errors.js';
import { Store } from '../store/store.js';
import type { UsageDimension, UsageRow } from '../store/types.js';
import { printUsage, wantsHelp } from './exit.js';

const USAGE = `usage: llmtap report usage [--db PATH | --config FILE] [--tenant T]... [--window 24h]
                           [--until latest|now|ISO-TIME] [--group device,provider]
                           [--format table|csv|json] [--limit N]

  --window   how far back from --until: 30m, 24h, 7d (at most 90d; default 24h)
  --until    end of the window: the newest stored connection (latest, the default),
             the current time (now) or an ISO 8601 time
  --group    comma-separated, each at most once: device, source, provider, destination
             (default device,provider; device is the EDR device id, else the source address)
  --tenant   one tenant (repeatable); default every tenant in the database

exit codes: 0 success, 1 runtime failure, 2 usage or configuration error
`;

const COLUMNS = ['connections', 'first_seen', 'last_seen', 'bytes_sent', 'bytes_received', 'distinct_destinations'] as const;

interface TenantReport {
  tenant: string;
  items: Record<string, unknown>[];
  total: Record<string, unknown> | undefined;
  truncated: boolean;
}

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => `  ${r.map((c, i) => c.padEnd(w[i] ?? 0)).join('  ').trimEnd()}\n`;
  return line(head) + line(w.map((x) => '─'.repeat(x))) + rows.map(line).join('');
}

function usageCmd(args: string[]): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      db: { type: 'string' },
      config: { type: 'string' },
      tenant: { type: 'string', multiple: true },
      window: { type: 'string', default: '24h' },
      until: { type: 'string', default: 'latest' },
      group: { type: 'string', default: 'device,provider' },
      format: { type: 'string', default: 'table' },
      limit: { type: 'string', default: '1000' },
    },
  });
  if (positionals.length > 0) throw new LlmtapError('LLMTAP_ERR_USAGE', `unexpected argument ${positionals[0] ?? ''}`);
  const windowMs = parseWindowMs(values.window);
  if (windowMs === undefined) throw new LlmtapError('LLMTAP_ERR_USAGE', `--window ${values.window}: give minutes, hours or days (30m, 24h, 7d), at most 90d`);
  const names = values.group.split(',').filter((g) => g !== '');
  const unknown = names.find((g) => !['device', 'source', 'provider', 'destination'].includes(g));
  if (unknown !== undefined) throw new LlmtapError('LLMTAP_ERR_USAGE', `--group: unknown key ${unknown} (device, source, provider, destination)`);
  const group = parseGroup(names.join(','));
  if (typeof group === 'string') throw new LlmtapError('LLMTAP_ERR_USAGE', `--${group}`);
  if (!['table', 'csv', 'json'].includes(values.format)) throw new LlmtapError('LLMTAP_ERR_USAGE', `--format ${values.format}: table, csv or json`);
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new LlmtapError('LLMTAP_ERR_USAGE', `--limit ${values.limit}: 1 to 100000`);
  let untilMs: number | undefined;
  if (values.until === 'now') untilMs = Date.now();
  else if (values.until !== 'latest') {
    untilMs = Date.parse(values.until);
    if (!Number.isFinite(untilMs)) throw new LlmtapError('LLMTAP_ERR_USAGE', `--until ${values.until}: latest, now or an ISO 8601 time`);
  }

  const cfg = values.config !== undefined ? loadConfig(values.config) : undefined;
  const dbPath = values.db ?? (cfg !== undefined ? configPath(cfg, cfg.store.path, { output: true }) : 'llmtap.db');
  // A report never creates a database: a wrong path is an error, not an empty report.
  if (!existsSync(dbPath)) throw new LlmtapError('LLMTAP_ERR_USAGE', `no database at ${dbPath} (--db PATH or --config FILE)`);
  const store = Store.open(dbPath, { flushIntervalMs: 0 });
  try {
    const tenants = values.tenant ?? store.observationTenants();
    if (untilMs === undefined) {
      // latest: just after the newest connection stored for the reported tenants
      let last: number | undefined;
      for (const t of tenants) {
        const s = store.observationSpan(t);
        if (s !== undefined && (last === undefined || s.lastUs > last)) last = s.lastUs;
      }
      untilMs = last === undefined ? Date.now() : Math.floor(last / 1000) + 1;
    }
    const sinceUs = (untilMs - windowMs) * 1000;
    const untilUs = untilMs * 1000;
    const reports: TenantReport[] = tenants.map((tenant) => {
      const rows: UsageRow[] = store.usage(tenant, { sinceUs, untilUs, group, limit: limit + 1 });
      const total = store.usage(tenant, { sinceUs, untilUs, group: [], limit: 1 })[0];
      return {
        tenant,
        items: rows.slice(0, limit).map(presentUsageRow),
        total: total === undefined ? undefined : presentUsageRow(total),
        truncated: rows.length > limit,
      };
    });
    const window = { from: new Date(untilMs - windowMs).toISOString(), until: new Date(untilMs).toISOString(), length: values.window };
    process.stdout.write(render(values.format, window, group, reports));
  } finally {
    store.close();
  }
  return 0;
}

function render(format: string, window: { from: string; until: string; length: string }, group: UsageDimension[], reports: TenantReport[]): string {
  if (format === 'json') {
    const tenants = reports.map((r) => ({ tenant: r.tenant, items: r.items, ...(r.total !== undefined ? { total: r.total } : {}), truncated: r.truncated }));
    return `${JSON.stringify({ window, group, tenants }, null, 2)}\n`;
  }
  const head = ['tenant', ...group, ...COLUMNS];
  const cells = (tenant: string, row: Record<string, unknown>): string[] => [tenant, ...[...group, ...COLUMNS].map((c) => String(row[c] ?? ''))];
  if (format === 'csv') {
    const rows = reports.flatMap((r) => r.items.map((row) => cells(r.tenant, row)));
    return stringify([head, ...rows]);
  }
  let out = `AI usage ${window.from} → ${window.until} (${window.length}), by ${group.length > 0 ? group.join(', ') : 'tenant'}\n`;
  if (reports.length === 0) return `${out}  no AI connections stored\n`;
  for (const r of reports) {
    const t = r.total;
    out += `\ntenant ${r.tenant}: ${t === undefined ? 'no AI connections in the window' : `${String(t['connections'])} connection(s), ${String(t['bytes_sent'])} bytes sent, ${String(t['distinct_destinations'])} destination(s)`}\n`;
    if (r.items.length > 0) out += table([...group, ...COLUMNS.map((c) => c.replace(/_/g, ' '))], r.items.map((row) => cells(r.tenant, row).slice(1)));
    if (r.truncated) out += `  (first ${r.items.length} rows; --limit shows more)\n`;
  }
  return out;
}

export async function reportCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '-h' || sub === '--help' || (sub === 'usage' && wantsHelp(rest))) return printUsage(USAGE);
  try {
    if (sub === 'usage') return usageCmd(rest);
    process.stderr.write(USAGE);
    return 2;
  } catch (e) {
    if (isLlmtapError(e, 'LLMTAP_ERR_USAGE') || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) {
      process.stderr.write(`llmtap report: ${(e as Error).message}\n${USAGE}`);
      return 2;
    }
    throw e;
  }
}
