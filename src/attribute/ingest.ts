/**
 * EDR feed input: text (NDJSON, JSON array, concatenated pretty JSON, or a Windows event XML
 * stream), files (gzip transparently), HTTP bodies (gzip, size-bounded). Every record gets an
 * outcome: accepted (a connection record went to the sink) or a named reason in `rejected`
 * — including context-only events such as Sysmon process creation, which feed the process
 * table rather than the join. One bad record never rejects the batch.
 */
import { createReadStream } from 'node:fs';
import { createGunzip, gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { EdrConnection } from '../records.js';
import { createIngestState, type FeedContext, type IngestState } from './feeds/context.js';
import { parseXmlEvent, splitXmlEvents } from './feeds/xml.js';
import { detectJson, detectWinEvent, type Detected } from './detect.js';

export { EdrFollower, type FollowerOptions } from './follower.js';
export { createIngestState, type IngestState } from './feeds/context.js';

export interface IngestResult {
  accepted: number;
  rejected: Record<string, number>;
  byFormat: Record<string, number>;
}

export interface IngestOptions {
  tenant: string;
  /** Whether an EDR tenant id a record carries belongs to `tenant` (API ingest; see FeedContext). */
  edrTenantOk?: (edrTenantId: string) => boolean;
  /** The tenant's secret for the lineage HMAC. */
  lineageKey: string;
  /** Long-lived process table and DNS hints; defaults to one shared state per tenant. */
  state?: IngestState;
  /** Ingest time stamped on records (ms); defaults to Date.now(). */
  receivedAtMs?: number;
}

export function emptyResult(): IngestResult {
  return { accepted: 0, rejected: {}, byFormat: {} };
}

export function mergeResult(into: IngestResult, r: IngestResult): void {
  into.accepted += r.accepted;
  for (const [k, v] of Object.entries(r.rejected)) into.rejected[k] = (into.rejected[k] ?? 0) + v;
  for (const [k, v] of Object.entries(r.byFormat)) into.byFormat[k] = (into.byFormat[k] ?? 0) + v;
}

const MAX_TENANT_STATES = 1024;
const tenantStates = new Map<string, IngestState>();

function stateFor(tenant: string): IngestState {
  let s = tenantStates.get(tenant);
  if (s === undefined) {
    s = createIngestState();
    tenantStates.set(tenant, s);
    if (tenantStates.size > MAX_TENANT_STATES) {
      const first = tenantStates.keys().next();
      if (first.done !== true) tenantStates.delete(first.value);
    }
  }
  return s;
}

/** Pretty-printed objects span lines; give up after this many characters. */
const MAX_RECORD_CHARS = 1 << 20;

function bump(m: Record<string, number>, k: string): void {
  m[k] = (m[k] ?? 0) + 1;
}

/**
 * Records are run in windows of this many: the start-event pre-pass covers the window, and the
 * parsed objects of a window become garbage together (a whole-file window measured 2x slower,
 * mostly GC).
 */
const UNIT_WINDOW = 2048;

/** Split text into detection units; parse failures become units with a reason. */
function unitsOf(text: string, drain: (units: Detected[]) => void): void {
  let units: Detected[] = [];
  unitsOfInto(text, () => units, () => { drain(units); units = []; });
  drain(units);
}

function unitsOfInto(text: string, cur: () => Detected[], flush: () => void): void {
  let units = cur();
  const t = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const head = t.trimStart();
  if (head.startsWith('<')) {
    const { events, rest } = splitXmlEvents(head);
    for (const xml of events) {
      const ev = parseXmlEvent(xml);
      units.push(ev === undefined ? { format: 'unknown', run: () => 'ingest.bad_xml_event' } : detectWinEvent(ev));
    }
    if (rest.trim() !== '') units.push({ format: 'unknown', run: () => 'ingest.truncated_xml_event' });
    return;
  }
  if (head.startsWith('[')) {
    let arr: unknown;
    try { arr = JSON.parse(head); } catch { arr = undefined; }
    if (Array.isArray(arr)) {
      for (const v of arr) detectJson(v, units);
      return;
    }
  }
  const lines = t.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '' || line === '[' || line === ']') continue;
    const one = line.endsWith(',') ? line.slice(0, -1) : line;
    let v: unknown;
    let ok = false;
    try { v = JSON.parse(one); ok = true; } catch { ok = false; }
    if (units.length >= UNIT_WINDOW) { flush(); units = cur(); }
    if (ok) { detectJson(v, units); continue; }
    // A pretty-printed value: gather lines until a column-0 closing brace parses. A new
    // column-0 '{' means the start line was a broken record on its own.
    let acc = lines[i] ?? '';
    let j = i + 1;
    let done = false;
    for (; j < lines.length && acc.length < MAX_RECORD_CHARS; j++) {
      const raw = lines[j] ?? '';
      if (raw.startsWith('{')) break;
      acc += '\n' + raw;
      if (raw.startsWith('}') || raw.startsWith(']')) {
        const tail = acc.trimEnd();
        try { v = JSON.parse(tail.endsWith(',') ? tail.slice(0, -1) : tail); done = true; } catch { done = false; }
        if (done) break;
      }
    }
    if (done) {
      detectJson(v, units);
      i = j;
    } else {
      units.push({ format: 'unknown', run: () => 'ingest.bad_json' });
    }
  }
}

/** Run units: start events first (process table), then every outcome counted. */
function runUnits(ctx: FeedContext, units: Detected[], sink: (r: EdrConnection) => void, res: IngestResult): void {
  for (const u of units) {
    if (u.prepass === undefined) continue;
    try { u.prepass(ctx); } catch { /* counted below when run() fails the same way */ }
  }
  for (const u of units) {
    bump(res.byFormat, u.format);
    let out;
    try { out = u.run(ctx); } catch { out = 'ingest.adapter_error'; }
    if (typeof out === 'string') { bump(res.rejected, out); continue; }
    res.accepted++;
    sink(out);
  }
}

function contextOf(opts: IngestOptions): FeedContext {
  return {
    tenant: opts.tenant,
    edrTenantOk: opts.edrTenantOk,
    lineageKey: opts.lineageKey,
    receivedAtMs: opts.receivedAtMs ?? Date.now(),
    state: opts.state ?? stateFor(opts.tenant),
  };
}

export function parseEdrText(text: string, opts: IngestOptions, sink: (r: EdrConnection) => void): IngestResult {
  const ctx = contextOf(opts);
  const res = emptyResult();
  unitsOf(text, (units) => runUnits(ctx, units, sink, res));
  return res;
}

/** Chunk size for files; a chunk ends where a new top-level record starts. */
const FILE_CHUNK_CHARS = 4 << 20;
/** Files that are one JSON array (or one XML document without line breaks) are read whole up to this. */
const MAX_WHOLE_FILE_CHARS = 512 << 20;

function safeCut(text: string): number {
  const a = text.lastIndexOf('\n{');
  const b = text.lastIndexOf('\n<Event');
  return Math.max(a, b);
}

export async function readEdrFile(path: string, opts: IngestOptions, sink: (r: EdrConnection) => void): Promise<IngestResult> {
  const total = emptyResult();
  const raw = createReadStream(path);
  const first = await new Promise<Buffer>((resolve, reject) => {
    const probe = createReadStream(path, { start: 0, end: 1 });
    const parts: Buffer[] = [];
    probe.on('data', (c) => parts.push(typeof c === 'string' ? Buffer.from(c) : c));
    probe.on('end', () => resolve(Buffer.concat(parts)));
    probe.on('error', reject);
  });
  const gz = first.length === 2 && first[0] === 0x1f && first[1] === 0x8b;
  const stream = gz ? raw.pipe(createGunzip()) : raw;
  const decoder = new TextDecoder('utf-8');
  let buf = '';
  let wholeFile = false;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    buf += decoder.decode(chunk, { stream: true });
    if (buf.length > MAX_WHOLE_FILE_CHARS) throw new Error(`LLMTAP_ERR_EDR_FILE_TOO_LARGE: ${path}`);
    if (!wholeFile && buf.trimStart().startsWith('[')) wholeFile = true;
    if (wholeFile || buf.length < FILE_CHUNK_CHARS) continue;
    const cut = safeCut(buf);
    if (cut <= 0) continue;
    mergeResult(total, parseEdrText(buf.slice(0, cut + 1), opts, sink));
    buf = buf.slice(cut + 1);
  }
  buf += decoder.decode();
  if (buf.trim() !== '') mergeResult(total, parseEdrText(buf, opts, sink));
  return total;
}

/** Batch-level refusal of an HTTP body (the API maps codes to 413/415/400). */
export class EdrIngestError extends Error {
  constructor(readonly code: 'LLMTAP_ERR_EDR_TOO_LARGE' | 'LLMTAP_ERR_EDR_ENCODING' | 'LLMTAP_ERR_EDR_BAD_GZIP', message: string) {
    super(message);
    this.name = 'EdrIngestError';
  }
}

export interface BodyLimits {
  /** Largest accepted body as sent (bytes). */
  maxBodyBytes?: number;
  /** Largest body after gunzip (bytes). */
  maxDecodedBytes?: number;
}

const gunzipAsync = promisify(gunzip);

export async function ingestBody(
  body: Buffer,
  contentEncoding: string | undefined,
  opts: IngestOptions & BodyLimits,
  sink: (r: EdrConnection) => void,
): Promise<IngestResult> {
  const maxBody = opts.maxBodyBytes ?? 16 << 20;
  const maxDecoded = opts.maxDecodedBytes ?? 64 << 20;
  if (body.length > maxBody) throw new EdrIngestError('LLMTAP_ERR_EDR_TOO_LARGE', `body of ${body.length} bytes exceeds ${maxBody}`);
  const enc = (contentEncoding ?? 'identity').trim().toLowerCase();
  let data: Buffer;
  if (enc === 'identity' || enc === '') data = body;
  else if (enc === 'gzip' || enc === 'x-gzip') {
    try {
      data = await gunzipAsync(body, { maxOutputLength: maxDecoded });
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (code === 'ERR_BUFFER_TOO_LARGE') throw new EdrIngestError('LLMTAP_ERR_EDR_TOO_LARGE', `decoded body exceeds ${maxDecoded} bytes`);
      throw new EdrIngestError('LLMTAP_ERR_EDR_BAD_GZIP', 'body is not valid gzip');
    }
  } else throw new EdrIngestError('LLMTAP_ERR_EDR_ENCODING', `unsupported content-encoding ${JSON.stringify(enc.slice(0, 32))}`);
  if (data.length > maxDecoded) throw new EdrIngestError('LLMTAP_ERR_EDR_TOO_LARGE', `body exceeds ${maxDecoded} bytes`);
  return parseEdrText(data.toString('utf8'), opts, sink);
}
