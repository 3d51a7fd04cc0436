/**
 * Capture files as a stream of PacketBatches: classic pcap (µs/ns, either byte order) or pcapng,
 * detected from the magic number (never the file name), gzip detected from its own magic.
 *
 * Streamed in chunks: records are walked in place inside each chunk; only a record cut by the
 * chunk boundary is copied to the front of a carry buffer. Memory is bounded by the chunk size,
 * whatever the file size.
 */
import type { SourceReason } from './reasons.js';
import { closeSync, constants, createReadStream, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
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
  /** What the file name `-` reads (default: process.stdin). */
  stdin?: Readable;
  /**
   * Plain files: the buffer to read the next chunk into, instead of one reusable buffer (the
   * replay reader reads straight into shared memory its workers read). Called before each read,
   * after every batch of the previous buffer was delivered; the unconsumed end of the previous
   * buffer is copied to its front. Undefined, or one shorter than `minBytes`: a buffer of the
   * reader's own is used for that read.
   */
  readBuffer?: (minBytes: number) => Buffer | undefined;
}

/** The file name that reads a capture from standard input; messages call it `standard input`. */
export const STDIN_NAME = '-';

export interface FileReadResult {
  file: string;
  format: 'pcap' | 'pcapng';
  compressed: boolean;
  stats: SourceStats;
  reasons: Record<string, number>;
  /** A corruption that stopped the read: everything before `offset` was delivered. */
  error?: { reason: SourceReason; offset: number; message: string };
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

/** What a non-regular file is, for messages. */
export function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/**
 * Open a capture for reading: regular files only (a FIFO, device or directory named like a
 * capture is refused with a message naming it, before any read that could block). Non-blocking
 * open, so a FIFO without a writer cannot hang the open itself.
 */
function openCapture(file: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new CaptureFileError(file, 0, `cannot open: ${(e as Error).message}`);
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    throw new CaptureFileError(file, 0, `${fileKind(st)}, not a capture file (only regular files and .gz are read)`);
  }
  return { fd, size: st.size };
}

type Format = { kind: 'pcap'; h: PcapHeader } | { kind: 'pcapng'; st: PcapngState };

function detect(file: string, head: Buffer): Format {
  if (head.length >= 4 && head.readUInt32LE(0) === PCAPNG_SHB) return { kind: 'pcapng', st: new PcapngState() };
  const h = parsePcapHeader(head);
  if (h !== undefined) return { kind: 'pcap', h };
  if (head.length < 24) throw new CaptureFileError(file, 0, `file too short for a capture header (${head.length} bytes)`);
  throw new CaptureFileError(file, 0, `not a pcap or pcapng file (magic 0x${head.readUInt32BE(0).toString(16).padStart(8, '0')})`);
}

interface Opened {
  stream: Readable | undefined;
  compressed: boolean;
  /** Compressed bytes read so far (gzip only). */
  rawBytes: () => number;
  /** Stop the file stream; true when the stream owned (and closed) the descriptor. */
  close: () => boolean;
}

/**
 * Standard input: the first two bytes decide gzip or not; they are handed on in front of the
 * rest of the stream.
 */
async function openInput(input: Readable, chunkBytes: number): Promise<Opened> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  let head = Buffer.alloc(0);
  let ended = false;
  while (head.length < 2) {
    const n = await it.next();
    if (n.done === true) {
      ended = true;
      break;
    }
    head = Buffer.concat([head, Buffer.from(n.value)]);
  }
  let rawBytes = 0;
  async function* rest(): AsyncGenerator<Buffer> {
    rawBytes += head.length;
    if (head.length > 0) yield head;
    if (ended) return;
    for (;;) {
      const n = await it.next();
      if (n.done === true) return;
      const b = Buffer.from(n.value);
      rawBytes += b.length;
      yield b;
    }
  }
  const raw = Readable.from(rest(), { objectMode: false });
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return gunzipped(raw, chunkBytes, () => rawBytes);
  return { stream: raw, compressed: false, rawBytes: () => rawBytes, close: () => { raw.destroy(); return true; } };
}

/** A gzip stream's decompressed side; closing it stops both streams. */
function gunzipped(raw: Readable, chunkBytes: number, rawBytes: () => number): Opened {
  const gunzip = createGunzip({ chunkSize: chunkBytes });
  raw.on('error', (e) => gunzip.destroy(e));
  return { stream: raw.pipe(gunzip), compressed: true, rawBytes, close: () => { raw.destroy(); gunzip.destroy(); return true; } };
}

function openStream(fd: number, chunkBytes: number): Opened {
  const magic = Buffer.alloc(2);
  const n = readSync(fd, magic, 0, 2, 0);
  if (n === 2 && magic[0] === 0x1f && magic[1] === 0x8b) {
    // the stream owns the descriptor from here (it closes it when it ends or is destroyed)
    const raw = createReadStream('', { fd, start: 0, highWaterMark: chunkBytes });
    let rawBytes = 0;
    raw.on('data', (c) => { rawBytes += c.length; });
    return gunzipped(raw, chunkBytes, () => rawBytes);
  }
  return { stream: undefined, compressed: false, rawBytes: () => 0, close: () => false };
}

interface Chunk {
  buf: Buffer;
  /** true: a new Buffer from a stream (the carry is prepended); false: the reusable read buffer */
  fresh: boolean;
  read: number;
  /** reusable buffer only: bytes from `stop` on are moved to the front for the next read */
  keep(stop: number): void;
  /** stop reading (corruption) */
  stop(): void;
}

/**
 * Plain files are read with positioned reads into one reusable buffer (no allocation per chunk;
 * a partial record is moved to the front with copyWithin); gzip comes through zlib's stream.
 */
async function* chunks(file: string, fd: number, stream: Readable | undefined, chunkBytes: number, readBuffer?: (minBytes: number) => Buffer | undefined): AsyncGenerator<Chunk> {
  const noop = (): void => undefined;
  if (stream !== undefined) {
    for await (const c of stream) {
      const b = c as Buffer;
      yield { buf: b, fresh: true, read: b.length, keep: noop, stop: noop };
    }
    return;
  }
  // Synchronous positioned reads: an async read per chunk measured ~1.5 ms of idle hand-off per
  // 4 MiB on this path; a page-cache read of 4 MiB blocks the loop for well under a millisecond.
  if (readBuffer !== undefined) {
    let prev: Buffer | undefined;
    let keepFrom = 0;
    let filePos = 0;
    let stopped = false;
    while (!stopped) {
      const have = prev === undefined ? 0 : prev.length - keepFrom;
      const minBytes = have + 64 * 1024;
      let buf = readBuffer(minBytes);
      if (buf === undefined || buf.length < minBytes) buf = Buffer.allocUnsafe(have + chunkBytes);
      if (have > 0) prev!.copy(buf, 0, keepFrom);
      let bytesRead: number;
      try {
        bytesRead = readSync(fd, buf, have, buf.length - have, filePos);
      } catch (e) {
        throw new CaptureFileError(file, filePos, `read error: ${(e as Error).message}`);
      }
      if (bytesRead === 0) return;
      filePos += bytesRead;
      const view = buf.subarray(0, have + bytesRead);
      keepFrom = view.length;
      yield {
        buf: view,
        fresh: false,
        read: bytesRead,
        keep: (stop: number) => {
          keepFrom = stop;
        },
        stop: () => {
          stopped = true;
        },
      };
      prev = view;
    }
    return;
  }
  {
    // room for one chunk plus a carried partial record (≤ 16 MiB pcapng block bound)
    const big = Buffer.allocUnsafe(chunkBytes + 16 * 1024 * 1024 + 64);
    let have = 0;
    let filePos = 0;
    let stopped = false;
    while (!stopped) {
      let bytesRead: number;
      try {
        bytesRead = readSync(fd, big, have, Math.min(chunkBytes, big.length - have), filePos);
      } catch (e) {
        throw new CaptureFileError(file, filePos, `read error: ${(e as Error).message}`);
      }
      if (bytesRead === 0) return;
      filePos += bytesRead;
      const view = big.subarray(0, have + bytesRead);
      let kept = view.length;
      yield {
        buf: view,
        fresh: false,
        read: bytesRead,
        keep: (stop: number) => {
          kept = view.length - stop;
          if (stop > 0) big.copyWithin(0, stop, view.length);
        },
        stop: () => {
          stopped = true;
        },
      };
      have = kept;
    }
  }
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
  if (file === STDIN_NAME) {
    const opened = await openInput(opts.stdin ?? process.stdin, chunkBytes);
    try {
      return await walkFile('standard input', -1, 0, onBatch, opts, chunkBytes, batch, opened);
    } finally {
      opened.close();
    }
  }
  const { fd, size: totalBytes } = openCapture(file);
  // The opened stream owns fd once it exists (its close() says whether it closed it).
  let streamClosedFd = false;
  try {
    let opened: Opened;
    try {
      opened = openStream(fd, chunkBytes);
    } catch (e) {
      throw new CaptureFileError(file, 0, `read error: ${(e as Error).message}`);
    }
    try {
      return await walkFile(file, fd, totalBytes, onBatch, opts, chunkBytes, batch, opened);
    } finally {
      streamClosedFd = opened.close();
    }
  } finally {
    if (!streamClosedFd) closeSync(fd);
  }
}

async function walkFile(
  file: string,
  fd: number,
  totalBytes: number,
  onBatch: (b: PacketBatch) => void,
  opts: FileReadOptions,
  chunkBytes: number,
  batch: PacketBatch,
  opened: Opened,
): Promise<FileReadResult> {
  const { stream, compressed } = opened;
  const reasons: Record<string, number> = {};
  const count = (r: SourceReason): void => {
    reasons[r] = (reasons[r] ?? 0) + 1;
  };
  const stats: SourceStats = { packets: 0, capBytes: 0, wireBytes: 0, fileBytes: 0, truncatedRecords: 0 };

  let fmt: Format | undefined;
  let carry = Buffer.alloc(0); // stream mode: unconsumed bytes of the previous chunk
  let leftover = 0; // bytes not consumed after the last chunk (a partial record)
  let pos = 0; // (uncompressed) file offset of buf[0]
  let error: FileReadResult['error'];

  const flush = (buf: Buffer): void => {
    if (batch.count === 0) return;
    batch.buf = buf;
    for (let i = 0; i < batch.count; i++) {
      stats.capBytes += batch.capLen[i]!;
      stats.wireBytes += batch.wireLen[i]!;
    }
    stats.packets += batch.count;
    onBatch(batch);
    batch.count = 0;
  };

  /** Walk buf[off..end); returns the offset of the first unconsumed byte, or -1 on corruption. */
  const walk = (f: Format, buf: Buffer, off: number, end: number): number => {
    let p = off;
    for (;;) {
      const r = f.kind === 'pcap' ? walkPcapRecords(f.h, buf, p, end, batch) : walkPcapngBlocks(f.st, buf, p, end, batch, count);
      p += r.consumed;
      const full = batch.count === batch.offset.length;
      flush(buf);
      if (!r.ok) {
        count(r.reason);
        const at = pos + r.at;
        const detail = 'detail' in r ? r.detail : `record length beyond ${262144} bytes`;
        error = { reason: r.reason, offset: at, message: `${file}: byte offset ${at}: ${detail}` };
        return -1;
      }
      if (!full) return p;
    }
  };

  try {
    for await (const chunk of chunks(file, fd, stream, chunkBytes, opts.readBuffer)) {
      const buf = chunk.fresh && carry.length > 0 ? Buffer.concat([carry, chunk.buf]) : chunk.buf;
      stats.fileBytes += chunk.read;
      let off = 0;
      if (fmt === undefined) {
        if (buf.length < 24 && chunk.read > 0) {
          if (chunk.fresh) carry = Buffer.from(buf);
          else chunk.keep(0);
          leftover = buf.length;
          continue;
        }
        fmt = detect(file, buf);
        if (fmt.kind === 'pcap') off = 24;
      }
      const stop = walk(fmt, buf, off, buf.length);
      if (stop < 0) {
        stream?.destroy();
        chunk.stop();
        break;
      }
      pos += stop;
      leftover = buf.length - stop;
      if (chunk.fresh) carry = leftover > 0 ? Buffer.from(buf.subarray(stop)) : Buffer.alloc(0);
      else chunk.keep(stop);
      if (opts.onProgress) opts.onProgress(stats.fileBytes, compressed ? 0 : totalBytes);
    }
  } catch (e) {
    if (!compressed || e instanceof CaptureFileError) throw e;
    // a broken or truncated gzip stream: everything decompressed before it was read
    stream?.destroy();
    const at = pos + leftover;
    const what = `gzip stream broken at compressed byte ${opened.rawBytes()} (decompressed byte ${at}): ${(e as Error).message}`;
    if (fmt === undefined) throw new CaptureFileError(file, 0, what);
    const message = `${file}: ${what}`;
    count('source.gzip_error');
    return { file, format: fmt.kind, compressed, stats, reasons, error: { reason: 'source.gzip_error', offset: at, message } };
  }
  if (fmt === undefined) {
    throw new CaptureFileError(file, 0, `file too short for a capture header (${leftover} bytes)`);
  }
  if (error === undefined && leftover > 0) {
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
