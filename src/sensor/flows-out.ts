/**
 * Every flow record as one NDJSON line (`--flows OUT`, `-` for standard output). Two writers:
 *
 * - `sync`: lines gathered into chunks of up to 1 MiB and written synchronously. For inputs read
 *   synchronously (capture files, logs): a write stream would buffer every record of the run in
 *   memory, since the event loop never gets to drain it. Standard output to a pipe or file is
 *   synchronous on Linux, so `-` writes straight through.
 * - `stream`: a file write stream, for live capture (the event loop runs between batches, and a
 *   reader following the file sees records as they come).
 */
import { closeSync, createWriteStream, openSync, writeSync } from 'node:fs';

export interface FlowsOut {
  write(line: string): void;
  /** Flushes what is buffered and closes the file (standard output stays open). */
  close(): Promise<void>;
}

/** Lines written to a file descriptor in chunks of up to 1 MiB, synchronously (bounded memory). */
export class LineWriter {
  private parts: string[] = [];
  private chars = 0;
  constructor(private readonly fd: number) {}

  write(line: string): void {
    this.parts.push(line);
    this.chars += line.length;
    if (this.chars >= 1 << 20) this.flush();
  }

  flush(): void {
    if (this.parts.length === 0) return;
    const buf = Buffer.from(this.parts.join(''), 'utf8');
    this.parts = [];
    this.chars = 0;
    for (let off = 0; off < buf.length; ) off += writeSync(this.fd, buf, off);
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

/** Opens the writer for `path` (`-`: standard output). Throws when the file cannot be created. */
export function openFlowsOut(path: string, mode: 'sync' | 'stream'): FlowsOut {
  if (path === '-') return { write: (line) => void process.stdout.write(line), close: async () => {} };
  if (mode === 'sync') {
    const w = new LineWriter(openSync(path, 'w'));
    return { write: (line) => w.write(line), close: async () => w.close() };
  }
  const s = createWriteStream(path);
  return { write: (line) => void s.write(line), close: () => new Promise<void>((res) => s.end(res)) };
}
