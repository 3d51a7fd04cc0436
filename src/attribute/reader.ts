/**
 * The one EDR input reader behind files (`--edr`, `edr.files`, gzip too), the follower and
 * `POST /v1/edr/events`: bytes in, records out, in one pass over the input.
 *
 * A byte scanner splits the stream into records before anything is parsed: in JSON input a
 * record is one top-level value (an NDJSON line, a pretty-printed object spanning lines, or
 * one element of a top-level array, on one line or many); in Windows event XML it is one
 * `<Event>…</Event>` block. Only the bytes of the current record are held, and never more
 * than `maxRecordBytes` of them: a longer record is skipped while it is read (its bytes are
 * dropped as they arrive, the scanner only follows its structure to find its end) and
 * counted `ingest.record_too_long`. A record with bytes no text has (NUL and other control
 * characters, invalid UTF-8) is skipped to the end of its line and counted
 * `ingest.binary_record`. Cost is linear in the input and memory is bounded by the cap,
 * whatever the input.
 *
 * Resynchronisation after a broken JSON record: a raw line break inside a string, or a `{`
 * in column 0 while a record is still open, ends the broken record (`ingest.bad_json`) and
 * reading goes on from there, so one bad line never swallows the good ones after it.
 */
import type { RejectReason } from './reasons.js';
import { schemaDefaults } from '../config.js';
import { isUtf8 } from 'node:buffer';
import type { EdrConnection } from '../records.js';
import { createIngestState, type FeedContext, type IngestState } from './feeds/context.js';
import { parseXmlEvent, splitXmlEvents } from './feeds/xml.js';
import { detectJson, detectWinEvent, type Detected } from './detect.js';
import { LruMap, type BoundStat } from '../bounded/lru.js';

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
  /** Largest record read (bytes); longer ones are skipped while read. */
  maxRecordBytes?: number;
}

/** Default record-size cap: far above any real EDR event (a few KB), far below memory trouble. */
export const DEFAULT_MAX_RECORD_BYTES = 1 << 20;

export const TOO_LONG = 'ingest.record_too_long';
export const BINARY = 'ingest.binary_record';

export function emptyResult(): IngestResult {
  return { accepted: 0, rejected: {}, byFormat: {} };
}

export function mergeResult(into: IngestResult, r: IngestResult): void {
  into.accepted += r.accepted;
  for (const [k, v] of Object.entries(r.rejected)) into.rejected[k] = (into.rejected[k] ?? 0) + v;
  for (const [k, v] of Object.entries(r.byFormat)) into.byFormat[k] = (into.byFormat[k] ?? 0) + v;
}

const MAX_TENANT_STATES = 1024;
/** The shared per-tenant states (read with `peek`: the oldest tenant's is dropped first). */
const tenantStates = new LruMap<string, IngestState>('attribute.ingest_tenants', MAX_TENANT_STATES);
/** Bounds of the shared states' tables (`edr.max_processes`, `edr.max_dns_hints`). */
const EDR_DEFAULTS = schemaDefaults('edr');
const stateBounds = { maxProcesses: EDR_DEFAULTS.max_processes, maxDnsHints: EDR_DEFAULTS.max_dns_hints };

/** Set the table bounds of the shared per-tenant states made from now on. */
export function configureIngestBounds(b: { maxProcesses: number; maxDnsHints: number }): void {
  stateBounds.maxProcesses = b.maxProcesses;
  stateBounds.maxDnsHints = b.maxDnsHints;
}

/** The shared states' process tables and DNS hints, summed over tenants. */
export function ingestBounds(): BoundStat[] {
  const procs: BoundStat = { structure: 'attribute.process_table', entries: 0, max: 0, evictions: 0 };
  const dns: BoundStat = { structure: 'attribute.dns_hints', entries: 0, max: 0, evictions: 0 };
  for (const s of tenantStates.values()) {
    for (const [into, b] of [[procs, s.procs.stat()], [dns, s.dns.stat()]] as const) {
      into.entries += b.entries;
      into.max += b.max;
      into.evictions += b.evictions;
    }
  }
  return [procs, dns, tenantStates.stat()];
}

function stateFor(tenant: string): IngestState {
  let s = tenantStates.peek(tenant);
  if (s === undefined) {
    s = createIngestState(stateBounds.maxProcesses, stateBounds.maxDnsHints);
    tenantStates.set(tenant, s);
  }
  return s;
}

function bump(m: Record<string, number>, k: string): void {
  m[k] = (m[k] ?? 0) + 1;
}

/**
 * Records are run in windows of this many units: the start-event pre-pass covers the window,
 * and the parsed objects of a window become garbage together.
 */
const UNIT_WINDOW = 2048;

const NL = 0x0a;
const CR = 0x0d;
const TAB = 0x09;
const SP = 0x20;
const QUOTE = 0x22;
const BSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACK = 0x5b;
const RBRACK = 0x5d;
const COMMA = 0x2c;
const LT = 0x3c;
const END_EVENT = Buffer.from('</Event>');

/** Control characters that no text record carries (tab, LF, CR are whitespace). */
function isBinaryByte(c: number): boolean {
  return c < SP && c !== TAB && c !== NL && c !== CR;
}

type Mode = 'detect' | 'json' | 'xml';
/** What the current record is: a JSON object/array, a JSON scalar or garbage up to the end of line, an XML event. */
type Kind = 'none' | 'struct' | 'scalar' | 'xml';

export class EdrReader {
  private readonly ctx: FeedContext;
  private readonly cap: number;
  private res: IngestResult = emptyResult();
  private units: Detected[] = [];

  private mode: Mode = 'detect';
  private bomSeen = 0;
  /** Inside a top-level JSON array: its elements are the records. */
  private inArray = false;
  private lineStart = true;

  private kind: Kind = 'none';
  private depth = 0;
  private inString = false;
  private escape = false;
  /** Bytes matched of `</Event>`. */
  private endMatch = 0;
  /** Why the current record is being skipped (its bytes are not kept). */
  private drop: string | undefined;
  /** Binary skips end at the end of the line, whatever the structure says. */
  private dropToEol = false;

  /** The current record's bytes from earlier chunks (at most `cap`). */
  private acc: Buffer | undefined;
  private accLen = 0;
  /** Length of the current record so far (including bytes already dropped). */
  private recLen = 0;

  constructor(opts: IngestOptions, private readonly sink: (r: EdrConnection) => void) {
    this.ctx = {
      tenant: opts.tenant,
      edrTenantOk: opts.edrTenantOk,
      lineageKey: opts.lineageKey,
      receivedAtMs: opts.receivedAtMs ?? Date.now(),
      state: opts.state ?? stateFor(opts.tenant),
    };
    this.cap = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  }

  /** Outcomes since the last `take()` (or since the start). */
  take(): IngestResult {
    const r = this.res;
    this.res = emptyResult();
    return r;
  }

  /** Forget a partial record and the format seen (the input starts over, e.g. a truncated file). */
  reset(): void {
    this.mode = 'detect';
    this.bomSeen = 0;
    this.inArray = false;
    this.lineStart = true;
    this.clearRecord();
  }

  /** Feed the next bytes of the input. */
  push(chunk: Uint8Array): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.mode === 'detect') {
        i = this.detect(chunk, i);
        continue;
      }
      if (this.kind === 'none') {
        i = this.mode === 'xml' ? this.startXml(chunk, i) : this.startJson(chunk, i);
        if ((this.kind as Kind) === 'struct' && i < n) i = this.wholeLine(chunk, i);
        continue;
      }
      const start = i;
      const end = this.mode === 'xml' ? this.scanXml(chunk, i) : this.scanJson(chunk, i);
      if (end < 0) {
        // the record goes on past this chunk: keep its bytes if they fit under the cap
        this.keep(chunk, start, n);
        i = n;
      } else {
        this.finish(chunk, start, end);
        i = end;
      }
    }
    if (this.units.length >= UNIT_WINDOW) this.flush();
  }

  /** End of input: a record still open is complete (scalar) or broken (structure). */
  end(): IngestResult {
    if (this.kind !== 'none') {
      if (this.drop !== undefined) bump(this.res.rejected, this.drop);
      else if (this.kind === 'scalar') this.emitBytes(this.acc ?? Buffer.alloc(0), 0, this.accLen);
      else if (this.kind === 'xml') this.unknown(this.hasEventStart() ? 'ingest.truncated_xml_event' : undefined);
      else this.unknown('ingest.bad_json');
      this.clearRecord();
    }
    this.flush();
    return this.take();
  }

  /** Run the units read so far (pre-pass first, then each outcome counted). */
  flush(): void {
    const units = this.units;
    if (units.length === 0) return;
    this.units = [];
    const ctx = this.ctx;
    for (const u of units) {
      if (u.prepass === undefined) continue;
      try { u.prepass(ctx); } catch { /* counted below when run() fails the same way */ }
    }
    for (const u of units) {
      bump(this.res.byFormat, u.format);
      let out;
      try { out = u.run(ctx); } catch { out = 'ingest.adapter_error'; }
      if (typeof out === 'string') { bump(this.res.rejected, out); continue; }
      this.res.accepted++;
      this.sink(out);
    }
  }

  // ── format detection ──

  private detect(b: Uint8Array, i: number): number {
    const n = b.length;
    for (; i < n; i++) {
      const c = b[i]!;
      // a UTF-8 byte-order mark before the first record
      if (this.bomSeen < 3 && c === [0xef, 0xbb, 0xbf][this.bomSeen]) { this.bomSeen++; continue; }
      this.bomSeen = 3;
      if (c === SP || c === TAB || c === NL || c === CR) continue;
      this.mode = c === LT ? 'xml' : 'json';
      this.lineStart = i === 0 || b[i - 1] === NL;
      return i;
    }
    return n;
  }

  // ── JSON ──

  /** Between records: skip separators, open a record at the next significant byte. */
  private startJson(b: Uint8Array, i: number): number {
    const n = b.length;
    for (; i < n; i++) {
      const c = b[i]!;
      if (c === NL) { this.lineStart = true; continue; }
      if (c === SP || c === TAB || c === CR) { this.lineStart = false; continue; }
      if (c === COMMA && this.inArray) { this.lineStart = false; continue; }
      if (c === LBRACK && !this.inArray) { this.inArray = true; this.lineStart = false; continue; }
      if (c === RBRACK && this.inArray) { this.inArray = false; this.lineStart = false; continue; }
      this.kind = c === LBRACE || c === LBRACK ? 'struct' : 'scalar';
      this.depth = 0;
      this.inString = false;
      this.escape = false;
      return i;
    }
    return n;
  }

  /**
   * Fast path for the common case, a record that is exactly the rest of its line (NDJSON): the
   * line is found and parsed natively. Anything else (no line end in this chunk, over the cap,
   * not valid JSON alone) is left to the byte scanner from the same place.
   */
  private wholeLine(b: Uint8Array, i: number): number {
    const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length);
    const nl = buf.indexOf(NL, i);
    if (nl < 0 || nl - i > this.cap) return i;
    const line = buf.subarray(i, nl);
    if (!isUtf8(line)) return i;
    let v: unknown;
    try {
      v = JSON.parse(line.toString('utf8'));
    } catch {
      return i;
    }
    if (typeof v !== 'object' || v === null) return i;
    this.clearRecord();
    detectJson(v, this.units);
    if (this.units.length >= UNIT_WINDOW) this.flush();
    return nl;
  }

  /**
   * Scan the open record from `i`; return the index just past its last byte, or -1 when it
   * continues past the chunk. A broken record found here is counted and closed (the return
   * value is where the next record may start).
   */
  private scanJson(b: Uint8Array, i: number): number {
    const n = b.length;
    const struct = this.kind === 'struct';
    for (; i < n; i++) {
      const c = b[i]!;
      if (this.dropToEol) {
        if (c === NL) return this.cutAt(i);
        continue;
      }
      if (isBinaryByte(c)) {
        this.skip(BINARY);
        this.dropToEol = true;
        continue;
      }
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (c === BSLASH) this.escape = true;
        else if (c === QUOTE) this.inString = false;
        else if (c === NL) return this.broken(i); // raw line break: the string never closed
        this.lineStart = c === NL;
        continue;
      }
      if (c === NL) {
        this.lineStart = true;
        if (!struct) return this.cutAt(i);
        continue;
      }
      const atLineStart = this.lineStart;
      this.lineStart = false;
      if (c === QUOTE) { this.inString = true; continue; }
      if (!struct) {
        if (this.inArray && (c === COMMA || c === RBRACK)) return this.cutAt(i);
        continue;
      }
      if (c === LBRACE || c === LBRACK) {
        if (c === LBRACE && atLineStart && this.depth > 0) { this.lineStart = true; return this.broken(i); }
        this.depth++;
      } else if (c === RBRACE || c === RBRACK) {
        if (--this.depth === 0) return i + 1;
      }
    }
    return -1;
  }

  /** The record ends before `i` (a line break or an array separator, not part of it). */
  private cutAt(i: number): number {
    this.dropToEol = false;
    return i;
  }

  /** A broken JSON record ends before `i`: counted, and reading resumes at `i`. */
  private broken(i: number): number {
    if (this.drop === undefined) this.skip('ingest.bad_json');
    return i;
  }

  // ── Windows event XML ──

  private startXml(b: Uint8Array, i: number): number {
    const n = b.length;
    for (; i < n; i++) {
      const c = b[i]!;
      if (c === SP || c === TAB || c === NL || c === CR) continue;
      this.kind = 'xml';
      this.endMatch = 0;
      return i;
    }
    return n;
  }

  private scanXml(b: Uint8Array, i: number): number {
    const n = b.length;
    for (; i < n; i++) {
      const c = b[i]!;
      if (this.dropToEol) {
        if (c === NL) return this.cutAt(i);
        if (c !== LT && this.endMatch === 0) continue;
      } else if (isBinaryByte(c)) {
        this.skip(BINARY);
        this.dropToEol = true;
        this.endMatch = 0;
        continue;
      }
      if (c === END_EVENT[this.endMatch]) {
        if (++this.endMatch === END_EVENT.length) { this.dropToEol = false; return i + 1; }
      } else this.endMatch = c === LT ? 1 : 0;
    }
    return -1;
  }

  private hasEventStart(): boolean {
    return this.acc !== undefined && this.acc.subarray(0, this.accLen).includes('<Event');
  }

  // ── record bytes ──

  /** Keep bytes `[s, e)` of the open record, or start skipping it when it outgrows the cap. */
  private keep(b: Uint8Array, s: number, e: number): void {
    this.recLen += e - s;
    if (this.drop !== undefined) return;
    if (this.recLen > this.cap) {
      this.skip(TOO_LONG);
      return;
    }
    if (this.acc === undefined) this.acc = Buffer.allocUnsafe(Math.min(this.cap, Math.max(64 << 10, this.recLen)));
    if (this.accLen + (e - s) > this.acc.length) {
      const bigger = Buffer.allocUnsafe(Math.min(this.cap, Math.max(this.acc.length * 2, this.accLen + (e - s))));
      this.acc.copy(bigger, 0, 0, this.accLen);
      this.acc = bigger;
    }
    this.acc.set(b.subarray(s, e), this.accLen);
    this.accLen += e - s;
  }

  /** Start skipping the open record for `reason` (counted when it ends); its bytes are dropped. */
  private skip(reason: RejectReason): void {
    if (this.drop !== undefined) return;
    this.drop = reason;
    this.accLen = 0;
  }

  /** The open record ends at `e` (its bytes in this chunk start at `s`). */
  private finish(b: Uint8Array, s: number, e: number): void {
    const drop = this.drop;
    if (drop === undefined && this.recLen + (e - s) > this.cap) bump(this.res.rejected, TOO_LONG);
    else if (drop !== undefined) bump(this.res.rejected, drop);
    else if (this.accLen === 0) this.emitBytes(b, s, e);
    else {
      this.keep(b, s, e);
      if (this.drop !== undefined) bump(this.res.rejected, this.drop);
      else this.emitBytes(this.acc!, 0, this.accLen);
    }
    this.clearRecord();
    if (this.units.length >= UNIT_WINDOW) this.flush();
  }

  private clearRecord(): void {
    this.kind = 'none';
    this.drop = undefined;
    this.dropToEol = false;
    this.depth = 0;
    this.inString = false;
    this.escape = false;
    this.endMatch = 0;
    this.accLen = 0;
    this.recLen = 0;
    // a large buffer from one long record is not kept for the rest of the input
    if (this.acc !== undefined && this.acc.length > 64 << 10) this.acc = undefined;
  }

  private unknown(reason: RejectReason | undefined): void {
    if (reason !== undefined) this.units.push({ format: 'unknown', run: () => reason });
  }

  /** Parse one complete record (bytes `[s, e)` of `b`) into detection units. */
  private emitBytes(b: Uint8Array, s: number, e: number): void {
    const bytes = b.subarray(s, e);
    if (!isUtf8(bytes)) {
      bump(this.res.rejected, BINARY);
      return;
    }
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8').trim();
    if (text === '') return;
    if (this.mode === 'xml') {
      const { events } = splitXmlEvents(text);
      if (events.length === 0) this.unknown('ingest.bad_xml_event');
      for (const xml of events) {
        const ev = parseXmlEvent(xml);
        this.units.push(ev === undefined ? { format: 'unknown', run: () => 'ingest.bad_xml_event' } : detectWinEvent(ev));
      }
      return;
    }
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      this.unknown('ingest.bad_json');
      return;
    }
    detectJson(v, this.units);
  }
}

/** Read a whole text (tests, small inputs). */
export function readEdrBytes(data: Uint8Array, opts: IngestOptions, sink: (r: EdrConnection) => void): IngestResult {
  const r = new EdrReader(opts, sink);
  r.push(data);
  return r.end();
}
