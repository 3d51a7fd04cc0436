/**
 * EDR feed input: text (NDJSON, JSON array, concatenated pretty JSON, or a Windows event XML
 * stream), files (gzip transparently), HTTP bodies (gzip, size-bounded). All of them go
 * through one reader (reader.ts: record-size cap enforced while reading, linear time). Every
 * record gets an outcome: accepted (a connection record went to the sink) or a named reason in `rejected`
 * — including context-only events such as Sysmon process creation, which feed the process
 * table rather than the join. One bad record never rejects the batch.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip, gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { EdrConnection } from '../records.js';
import { EdrReader, readEdrBytes, type IngestOptions, type IngestResult } from './reader.js';

export { EdrFollower, type FollowerOptions } from './follower.js';
export { createIngestState, type IngestState } from './feeds/context.js';
export {
  EdrReader, emptyResult, mergeResult, readEdrBytes, DEFAULT_MAX_RECORD_BYTES, BINARY, TOO_LONG, configureIngestBounds, ingestBounds,
  type IngestOptions, type IngestResult,
} from './reader.js';

export function parseEdrText(text: string, opts: IngestOptions, sink: (r: EdrConnection) => void): IngestResult {
  const r = new EdrReader(opts, sink);
  r.push(Buffer.from(text, 'utf8'));
  return r.end();
}

/** A read error naming the file and how far it got (bytes of the file; of the text when gzip). */
export class EdrFileError extends Error {
  readonly code = 'LLMTAP_ERR_EDR_FILE';
  /** What was read before the error (those records already went to the sink). */
  result: IngestResult | undefined;
  constructor(readonly file: string, readonly offset: number, readonly decodedOffset: number | undefined, cause: Error) {
    super(`${file}: ${decodedOffset !== undefined ? `gzip stream broken at compressed byte ${offset} (decompressed byte ${decodedOffset})` : `byte offset ${offset}`}: ${cause.message}`);
    this.name = 'EdrFileError';
  }
}

/** Plain files are read into one reused buffer of this size (no garbage per chunk). */
const READ_BYTES = 256 << 10;

/** Stream a feed file (gzip detected from its magic) through the reader; memory is bounded by the record cap. */
export async function readEdrFile(path: string, opts: IngestOptions, sink: (r: EdrConnection) => void): Promise<IngestResult> {
  const reader = new EdrReader(opts, sink);
  // non-blocking open and a regular-file check: a FIFO or device named as a feed never blocks the read
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new EdrFileError(path, 0, undefined, e as Error);
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw new EdrFileError(path, 0, undefined, new Error('not a regular file (only regular files and .gz are read)'));
  }
  let pos = 0;
  let textBytes = 0;
  try {
    const buf = Buffer.allocUnsafe(READ_BYTES);
    const first = await fh.read(buf, 0, 2, 0);
    const gz = first.bytesRead === 2 && buf[0] === 0x1f && buf[1] === 0x8b;
    if (!gz) {
      for (;;) {
        let n: number;
        try {
          n = (await fh.read(buf, 0, buf.length, pos)).bytesRead;
        } catch (e) {
          throw Object.assign(new EdrFileError(path, pos, undefined, e as Error), { result: reader.end() });
        }
        if (n === 0) break;
        reader.push(buf.subarray(0, n));
        pos += n;
      }
      return reader.end();
    }
    const raw = fh.createReadStream({ start: 0, autoClose: false, highWaterMark: READ_BYTES });
    raw.on('data', (c) => { pos += c.length; });
    const gunzip = createGunzip({ chunkSize: 64 << 10 });
    raw.on('error', (e) => gunzip.destroy(e));
    try {
      for await (const chunk of raw.pipe(gunzip) as AsyncIterable<Buffer>) {
        reader.push(chunk);
        textBytes += chunk.length;
      }
    } catch (e) {
      // the records before the break are kept: they go to the sink before the error is raised
      throw Object.assign(new EdrFileError(path, pos, textBytes, e as Error), { result: reader.end() });
    }
    return reader.end();
  } finally {
    await fh.close();
  }
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
  return readEdrBytes(data, opts, sink);
}
