/**
 * `llmtap ingest zeek|eve PATH...`: the logs a Zeek or Suricata sensor already writes, instead
 * of a capture, through the same names → attribute → classify → detect → store path as
 * `llmtap replay`, then the same summary. Zeek conn/ssl/quic/dns logs are joined by uid, EVE
 * flow/tls/quic/dns events by flow_id (src/source/zeek.ts, src/source/eve.ts); every connection
 * becomes one flow record at its end time, every DNS response one passive-DNS answer at its time.
 */
import type { LogReason } from '../source/reasons.js';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, type SensorConfig } from '../config.js';
import type { Sensor } from '../sensor/index.js';
import { canonicalAddr, parseAddr } from '../decode/addr.js';
import { communityId } from '../flow/community-id.js';
import type { DnsAnswer, FlowRecord } from '../records.js';
import { ZeekReader, zeekTypeOfName } from '../source/zeek.js';
import { EveReader } from '../source/eve.js';
import type { LogDns, LogFlow, LogReadResult } from '../source/logs.js';
import type { ReplaySummary } from './summary.js';
import { EXIT, printUsage, wantsHelp } from './exit.js';
import { BATCH_COMMANDS, endBatch, finishBatch, openBatch, optionsUsage, parseOptions, pipelineSummary, readEdr } from './batch.js';

export const INGEST_USAGE = `usage: llmtap ingest zeek|eve PATH... [options]

Reads the logs a Zeek or Suricata sensor wrote and runs what they say through the same join,
classification and detection as a capture (llmtap replay), into the database; prints a summary.

  zeek PATH...   Zeek conn, ssl, quic and dns logs, TSV or JSON, optionally .gz (a directory:
                 the conn/ssl/quic/dns logs in it); joined by uid
  eve PATH...    Suricata eve.json (flow, tls, quic and dns events), optionally .gz (a
                 directory: the *.json files in it); joined by flow_id

options:
${optionsUsage('ingest')}
Lines that are not records of the log format are counted by reason in the summary, never fatal.
exit codes: 0 success, 1 a log unreadable (everything before it processed),
            2 usage or configuration error
`;

const ZEEK_FILE = /\.(log|json)(\.gz)?$/i;
const EVE_FILE = /\.json(\.gz)?$/i;

/** Files named and the log files in named directories (sorted, not recursive). */
export function expandLogInputs(kind: 'zeek' | 'eve', paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (!existsSync(p)) throw Object.assign(new Error(`${p}: no such file or directory`), { code: 'LLMTAP_ERR_INPUT' });
    const st = statSync(p);
    if (st.isDirectory()) {
      const found = readdirSync(p)
        .filter((n) => (kind === 'zeek' ? ZEEK_FILE.test(n) && zeekTypeOfName(n) !== undefined : EVE_FILE.test(n)))
        .sort()
        .map((n) => join(p, n))
        .filter((f) => statSync(f).isFile());
      if (found.length === 0) {
        const what = kind === 'zeek' ? 'conn/ssl/quic/dns logs (*.log, *.json, optionally .gz)' : 'EVE files (*.json, optionally .gz)';
        throw Object.assign(new Error(`${p}: a directory with no ${what}`), { code: 'LLMTAP_ERR_INPUT' });
      }
      out.push(...found);
    } else if (st.isFile()) out.push(p);
    else throw Object.assign(new Error(`${p}: not a regular file`), { code: 'LLMTAP_ERR_INPUT' });
  }
  return out;
}

/** What turning log records into pipeline records dropped, by reason. */
export type ConvertDrops = Partial<Record<LogReason, number>>;

/**
 * A log's connection → the flow record the flow table would have emitted for it: canonical
 * address text, the Community ID (computed, seed 0), a flow id in order.
 */
export function toFlowRecord(f: LogFlow, flowId: number, drops: ConvertDrops): FlowRecord | undefined {
  const oa = canonicalAddr(f.origAddr);
  const ra = canonicalAddr(f.respAddr);
  const ob = oa === undefined ? undefined : parseAddr(oa);
  const rb = ra === undefined ? undefined : parseAddr(ra);
  if (oa === undefined || ra === undefined || ob === undefined || rb === undefined || ob.length !== rb.length) {
    drops['ingest.bad_addr'] = (drops['ingest.bad_addr'] ?? 0) + 1;
    return undefined;
  }
  const rec: FlowRecord = {
    flowId,
    // llmtap's own (seed 0), as for a capture: a sensor may log its Community ID with another seed
    communityId: communityId(f.proto, ob, f.origPort, rb, f.respPort),
    proto: f.proto,
    vlan: f.vlan,
    origAddr: oa,
    origPort: f.origPort,
    respAddr: ra,
    respPort: f.respPort,
    origBy: 'first',
    origPkts: f.origPkts,
    respPkts: f.respPkts,
    origWireBytes: f.origWireBytes,
    respWireBytes: f.respWireBytes,
    origCapBytes: f.origWireBytes,
    respCapBytes: f.respWireBytes,
    origIpBytes: f.origIpBytes,
    respIpBytes: f.respIpBytes,
    origPayloadBytes: f.origPayloadBytes,
    respPayloadBytes: f.respPayloadBytes,
    firstTsUs: f.firstTsUs,
    lastTsUs: f.lastTsUs,
    origTcpFlags: 0,
    respTcpFlags: 0,
    endReason: f.endReason,
    ifIndex: 0,
    hostSource: 'none',
  };
  if (f.handshake !== undefined) rec.handshake = f.handshake;
  return rec;
}

/** A log's DNS response → the answer dissect would have handed names. */
export function toDnsAnswer(d: LogDns, drops: ConvertDrops): DnsAnswer | undefined {
  const client = canonicalAddr(d.client);
  const server = canonicalAddr(d.server);
  if (client === undefined || server === undefined) {
    drops['ingest.bad_addr'] = (drops['ingest.bad_addr'] ?? 0) + 1;
    return undefined;
  }
  const answers = [];
  for (const r of d.answers) {
    if (r.type === 'A' || r.type === 'AAAA') {
      const a = canonicalAddr(r.data);
      if (a === undefined) continue;
      answers.push({ ...r, data: a });
    } else answers.push(r);
  }
  return { tsUs: d.tsUs, client, server, proto: d.proto, id: d.id, rcode: d.rcode, qname: d.qname, qtype: d.qtype, answers, flowId: 0, vlan: d.vlan };
}

/** Read the logs, then every flow and answer in time order (answers first on a tie). */
export async function readLogs(kind: 'zeek' | 'eve', files: string[]): Promise<LogReadResult> {
  const reader = kind === 'zeek' ? new ZeekReader() : new EveReader();
  for (const f of files) await reader.add(f);
  return reader.result();
}

/** Feed what the logs hold to a sensor in time order; returns what conversion dropped. */
export function feedLogs(feed: Sensor['feed'], logs: LogReadResult): ConvertDrops {
  const drops: ConvertDrops = {};
  type Ev = { t: number; order: number; dns?: LogDns; flow?: LogFlow };
  const evs: Ev[] = [];
  for (const d of logs.dns) evs.push({ t: d.tsUs, order: 0, dns: d });
  for (const f of logs.flows) evs.push({ t: f.lastTsUs, order: 1, flow: f });
  evs.sort((a, b) => a.t - b.t || a.order - b.order || (a.flow?.firstTsUs ?? 0) - (b.flow?.firstTsUs ?? 0));
  let flowId = 0;
  for (const e of evs) {
    if (e.dns !== undefined) {
      const a = toDnsAnswer(e.dns, drops);
      if (a !== undefined) feed.dns(a);
    } else if (e.flow !== undefined) {
      const rec = toFlowRecord(e.flow, ++flowId, drops);
      if (rec !== undefined) feed.flow(rec);
    }
  }
  return drops;
}

const CMD = 'llmtap ingest';

export async function ingestCommand(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) return printUsage(INGEST_USAGE);
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: parseOptions(BATCH_COMMANDS.ingest.options) });
  const [kind, ...paths] = positionals;
  if (kind !== 'zeek' && kind !== 'eve') {
    process.stderr.write(`${CMD}: ${kind === undefined ? 'give the log kind' : `unknown log kind '${kind}'`}: zeek or eve (${CMD} --help shows the usage)\n`);
    return EXIT.usage;
  }
  if (paths.length === 0) {
    process.stderr.write(`${CMD} ${kind}: give one or more log files or directories (${CMD} --help shows the usage)\n`);
    return EXIT.usage;
  }
  const format = values.format ?? 'table';
  if (!['table', 'json'].includes(format)) {
    process.stderr.write(`${CMD}: --format must be table or json (got '${format}'; ${CMD} --help shows the usage)\n`);
    return EXIT.usage;
  }
  const cfg: SensorConfig = loadConfig(values.config);
  let files: string[];
  try {
    files = expandLogInputs(kind, paths);
  } catch (err) {
    process.stderr.write(`${CMD} ${kind}: ${(err as Error).message}\n`);
    return EXIT.failed;
  }
  let failed = false;
  const sensor = await openBatch(CMD, cfg, values, 'nothing was read');
  if (sensor === undefined) return EXIT.failed;
  const edr = await readEdr(CMD, sensor, values);
  if (edr.failed) failed = true;

  const t0 = process.hrtime.bigint();
  const logs = await readLogs(kind, files);
  for (const f of logs.files) {
    if (f.error !== undefined) {
      failed = true;
      process.stderr.write(`${CMD} ${kind}: ${f.error} (everything before it was read)\n`);
    }
  }
  const drops = feedLogs(sensor.feed, logs);
  const fin = await finishBatch(CMD, sensor);
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  if (fin.failed) failed = true;

  const malformed: Record<string, number> = { ...drops };
  for (const f of logs.files) for (const [k, v] of Object.entries(f.bad)) malformed[k] = (malformed[k] ?? 0) + v;
  const summary: ReplaySummary = {
    files: logs.files.map((f) => ({ file: f.file, format: kind, compressed: /\.gz$/i.test(f.file), packets: 0, error: f.error })),
    skipped: [],
    packets: 0,
    wireBytes: 0,
    flows: sensor.pipeline.counters.flows,
    flowsEnded: {},
    malformed,
    wallS,
    edr: edr.results,
    ...pipelineSummary(sensor),
    ...(fin.fleet !== undefined ? { fleet: fin.fleet } : {}),
    logs: logs.files.map(({ file, lines, used, ignored, bad }) => ({ file, lines, used, ignored, bad })),
  };
  return endBatch(sensor, summary, { format, quiet: values.quiet === true, serve: values.serve === true, loss: fin.loss, failed });
}
