/**
 * Capture files as a stream of PacketBatches: classic pcap (µs/ns, either byte order) or pcapng,
 * detected from the magic number (never the file name), gzip detected from its own magic.
 *
 * Streamed in chunks: records are walked in place inside each chunk; only a record cut by the
 * chunk boundary is copied to the front of a carry buffer. Memory is bounded by the chunk size,
 * whatever the file size.
 */
import { createReadStream, statSync } from 'node:fs';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { PacketBatch, SourceStats } from '../records.js';
import { allocBatch } from './batch.js';
import { parsePcapHeader, walkPcapRecords, type PcapHeader } from './pcap.js';
import { PCAPNG_SHB, PcapngState, walkPcapngBlocks } from './pcapng.js';

export interface FileReadOptions {
  /** Packets per batch (descriptor arrays are preallocated to this). */
  batchPackets?: number;
  /** Read chunk size in bytes. */
  chunkBytes?: number;
  /** Called with the bytes of the file consumed so far (compressed bytes for .gz). */
  onProgress?: (fileBytes: number, totalBytes: number) => void;
}

export interface FileReadResult {
  file: string;
  format: 'pcap' | 'pcapng';
  compressed: boolean;
  stats: SourceStats;
  reasons: Record<string, number>;
  /** A corruption that stopped the read: everything before `offset` was delivered. */
  error?: { reason: string; offset: number; message: string };
}

export class CaptureFileError extends Error {
  readonly code = 'LLMTAP_ERR_CAPTURE_FILE';
  constructor(
    readonly file: string,
    readonly offset: number,
    message: string,
  ) {
    super(`${file}: byte offset ${offset}: ${message}`);
  }
}

type Format = { kind: 'pcap'; h: PcapHeader } | { kind: 'pcapng'; st: PcapngState };

function detect(file: string, head: Buffer): Format {
  if (head.length >= 4 && head.readUInt32LE(0) === PCAPNG_SHB) return { kind: 'pcapng', st: new PcapngState() };
  const h = parsePcapHeader(head);
  if (h !== undefined) return { kind: 'pcap', h };
  if (head.length < 24) throw new CaptureFileError(file, 0, `file too short for a capture header (${head.length} bytes)`);
  throw new CaptureFileError(file, 0, `not a pcap or pcapng file (magic 0x${head.readUInt32BE(0).toString(16).padStart(8, '0')})`);
}

async function openStream(file: string, chunkBytes: number): Promise<{ stream: Readable; compressed: boolean }> {
  const probe = createReadStream(file, { start: 0, end: 1 });
  let magic = Buffer.alloc(0);
  for await (const c of probe) magic = Buffer.concat([magic, c as Buffer]);
  const raw = createReadStream(file, { highWaterMark: chunkBytes });
  if (magic.length === 2 && magic[0] === 0x1f && magic[1] === 0x8b) {
    return { stream: raw.pipe(createGunzip({ chunkSize: chunkBytes })), compressed: true };
  }
  return { stream: raw, compressed: false };
}

/**
 * Read a capture file, calling `onBatch` for each batch of packets (valid only during the call).
 * Throws CaptureFileError (file + offset) when the header is not a capture header; corruption
 * later in the file stops the read, keeps everything before it and is returned in `error`.
 */
export async function readCaptureFile(
  file: string,
  onBatch: (b: PacketBatch) => void,
  opts: FileReadOptions = {},
): Promise<FileReadResult> {
  const chunkBytes = opts.chunkBytes ?? 4 * 1024 * 1024;
  const batch = allocBatch(opts.batchPackets ?? 8192);
  const totalBytes = statSync(file).size;
  const { stream, compressed } = await openStream(file, chunkBytes);
  const reasons: Record<string, number> = {};
  const count = (r: string): void => {
    reasons[r] = (reasons[r] ?? 0) + 1;
  };
  const stats: SourceStats = { packets: 0, capBytes: 0, wireBytes: 0, fileBytes: 0, truncatedRecords: 0 };

  let fmt: Format | undefined;
  let carry = Buffer.alloc(0); // unconsumed bytes from the previous chunk (a partial record)
  let pos = 0; // file (uncompressed) offset of carry[0] / chunk start
  let error: FileReadResult['error'];

  const flush = (buf: Buffer): void => {
    if (batch.count === 0) return;
    batch.buf = buf;
    for (let i = 0; i < batch.count; i++) {
      stats.capBytes += batch.capLen[i] ?? 0;
      stats.wireBytes += batch.wireLen[i] ?? 0;
    }
    stats.packets += batch.count;
    onBatch(batch);
    batch.count = 0;
  };

  /** Walk buf[off..end); returns the offset of the first unconsumed byte, or -1 on corruption. */
  const walk = (buf: Buffer, off: number, end: number): number => {
    let p = off;
    for (;;) {
      if (fmt === undefined) return p;
      const r =
        fmt.kind === 'pcap'
          ? walkPcapRecords(fmt.h, buf, p, end, batch)
          : walkPcapngBlocks(fmt.st, buf, p, end, batch, count);
      p += r.consumed;
      flush(buf);
      if (!r.ok) {
        count(r.reason);
        const at = pos + r.at;
        const detail = 'detail' in r ? r.detail : 'record length beyond 262144 bytes';
        error = { reason: r.reason, offset: at, message: `${file}: byte offset ${at}: ${detail}` };
        return -1;
      }
      // batch full → keep walking; otherwise we stopped at a partial record
      if (batch.count === 0 && r.consumed === 0) return p;
    }
  };

  let done = false;
  for await (const chunkAny of stream) {
    if (done) break;
    const chunk = chunkAny as Buffer;
    let buf: Buffer;
    if (carry.length > 0) {
      buf = Buffer.concat([carry, chunk]);
    } else {
      buf = chunk;
    }
    let off = 0;
    if (fmt === undefined) {
      if (buf.length < 24) {
        carry = Buffer.from(buf);
        continue;
      }
      fmt = detect(file, buf);
      if (fmt.kind === 'pcap') off = 24;
    }
    // `pos` is the (uncompressed) file offset of buf[0]; error offsets are pos + index
    const stop = walk(buf, off, buf.length);
    if (stop < 0) {
      done = true;
      break;
    }
    pos += stop;
    carry = stop < buf.length ? Buffer.from(buf.subarray(stop)) : Buffer.alloc(0);
    stats.fileBytes += chunk.length;
    if (opts.onProgress) opts.onProgress(stats.fileBytes, compressed ? 0 : totalBytes);
  }
  if (done) stream.destroy();
  if (fmt === undefined) {
    throw new CaptureFileError(file, 0, `file too short for a capture header (${carry.length} bytes)`);
  }
  if (!done && carry.length > 0) {
    // a partial record at the end of the file: counted, everything before kept
    stats.truncatedRecords++;
    count('source.truncated_record');
  }
  return {
    file,
    format: fmt.kind,
    compressed,
    stats,
    reasons,
    ...(error !== undefined ? { error } : {}),
  };
}
