/**
 * Follow a growing EDR log like `tail -F`: bounded polling (one stat and at most
 * `maxReadBytes` per poll), survives rotation (a new inode at the path: the old file is read
 * to its end first, then the new one from its start) and truncation (size below the read
 * position: start over). Bytes go through the shared EDR reader (reader.ts): only complete
 * records are parsed, a partial last record waits (held up to the record-size cap, never
 * more), an oversize or binary record is skipped and counted as in files and the API.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import type { EdrConnection } from '../records.js';
import { EdrReader, emptyResult, mergeResult, type IngestOptions, type IngestResult } from './reader.js';

export interface FollowerOptions extends IngestOptions {
  /** Poll interval (ms). */
  pollMs?: number;
  /** Most bytes read per poll (bounds the work of one tick). */
  maxReadBytes?: number;
  /** Start at the end of an existing file (live) instead of its beginning. */
  fromEnd?: boolean;
  /** Called after each poll that parsed something. */
  onResult?: (r: IngestResult) => void;
  /** Called when the file cannot be read (missing files are retried, not reported). */
  onError?: (err: Error) => void;
}

export class EdrFollower {
  private fh: FileHandle | undefined;
  private ino = -1;
  private pos = 0;
  private readonly reader: EdrReader;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private closed = false;
  readonly totals: IngestResult = emptyResult();
  rotations = 0;
  truncations = 0;

  constructor(
    private readonly path: string,
    private readonly opts: FollowerOptions,
    sink: (r: EdrConnection) => void,
  ) {
    this.reader = new EdrReader(opts, sink);
  }

  /** Begin polling. The first poll runs immediately. */
  start(): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = setInterval(() => void this.poll(), this.opts.pollMs ?? 500);
    void this.poll();
  }

  /** One poll; exposed so tests and replays can drive the follower without timers. */
  async poll(): Promise<void> {
    if (this.busy || this.closed) return;
    this.busy = true;
    try {
      await this.step();
    } catch (e) {
      this.opts.onError?.(e as Error);
    } finally {
      this.busy = false;
    }
  }

  private async step(): Promise<void> {
    let st;
    try {
      st = await stat(this.path);
    } catch {
      return; // missing (mid-rotation): retry next poll
    }
    if (this.fh === undefined || st.ino !== this.ino) {
      if (this.fh !== undefined) {
        await this.drain(); // rest of the rotated file
        await this.fh.close();
        this.fh = undefined;
        this.rotations++;
        this.flushPending(true);
      }
      const first = this.ino === -1;
      this.fh = await open(this.path, 'r');
      this.ino = st.ino;
      this.pos = first && this.opts.fromEnd === true ? st.size : 0;
    } else if (st.size < this.pos) {
      this.truncations++;
      this.pos = 0;
      this.reader.reset();
    }
    await this.drain();
  }

  private async drain(): Promise<void> {
    const fh = this.fh;
    if (fh === undefined) return;
    const max = this.opts.maxReadBytes ?? 1 << 20;
    const buf = Buffer.allocUnsafe(Math.min(max, 1 << 20));
    let readTotal = 0;
    while (readTotal < max) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, max - readTotal), this.pos);
      if (bytesRead === 0) break;
      this.pos += bytesRead;
      readTotal += bytesRead;
      this.reader.push(buf.subarray(0, bytesRead));
    }
    if (readTotal > 0) this.flushPending(false);
  }

  /** Run the records read so far; at the end of a rotated file, its incomplete tail too. */
  private flushPending(final: boolean): void {
    let r: IngestResult;
    if (final) {
      r = this.reader.end();
      this.reader.reset();
    } else {
      this.reader.flush();
      r = this.reader.take();
    }
    if (r.accepted === 0 && Object.keys(r.rejected).length === 0) return;
    mergeResult(this.totals, r);
    this.opts.onResult?.(r);
  }

  /** Stop polling and release the file. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    const fh = this.fh;
    this.fh = undefined;
    if (fh !== undefined) await fh.close();
  }
}
