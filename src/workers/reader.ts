/**
 * The replay reader (a worker thread): reads the capture files in order, decodes each packet
 * just far enough to key it (the same decoder as the packet path), picks its worker with the
 * shard function and puts its descriptor into that worker's ring. Plain files are read straight
 * into the shared chunks the descriptors point into; other input (gzip) is copied there once per
 * stretch of packets, not per packet. It also numbers the packets of the whole
 * stream (`seq`), drives idle expiry the way one packet path would (an expiry marker into every
 * ring when the stream's packet time crosses the next expiry step) and ends every input batch in
 * every ring (the watermark, and the batch end the pipeline ticks on).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { readCaptureFile, type FileReadResult } from '../source/file.js';
import { EXPIRE_EVERY_US } from '../flow/lists.js';
import { ChunkWriter, RingProducer, type RingBuffers } from './ring.js';
import { PacketKeyer } from './shard.js';

export interface ReaderData {
  files: string[];
  rings: RingBuffers[];
  maxFragments: number;
  batchPackets?: number;
  /** A module whose `shard` export replaces the flow hash (tests force placements with it). */
  shardModule?: string;
}

export type ReaderMessage =
  | { t: 'progress'; file: string; done: number; total: number; packets: number }
  | { t: 'file'; result: FileReadResult }
  | { t: 'file-error'; file: string; message: string }
  | { t: 'end'; packets: number; waitMs: number[]; cpuMs: number };

async function run(d: ReaderData): Promise<void> {
  const port = parentPort!;
  const rings = d.rings.map((r) => new RingProducer(r));
  const n = rings.length;
  const keyer = await PacketKeyer.create(n, d.maxFragments, d.shardModule);
  const chunks = new ChunkWriter(d.rings[0]!.chunks);
  const cb = chunks.bytes;
  let seq = 0;
  let nowUs = 0;
  let nextExpireUs = 0;
  // every slot referring to the current chunk goes out before the writer moves on (and may reuse it)
  const nextChunk = (): void => {
    for (const r of rings) r.flush(seq, nowUs);
    chunks.next();
  };
  for (const file of d.files) {
    try {
      const result = await readCaptureFile(file, (b) => {
        const buf = b.buf;
        const count = b.count;
        // one packet, its bytes at `off` in chunk `c`
        const one = (i: number, c: number, off: number): void => {
          const ts = b.tsUs[i]!;
          // what PacketPath.onBatch does with its own packet time, for the whole stream
          if (ts > nowUs) {
            nowUs = ts;
            if (ts >= nextExpireUs) {
              if (nextExpireUs !== 0) for (const r of rings) r.marker(seq, ts);
              nextExpireUs = ts + EXPIRE_EVERY_US;
            }
          }
          rings[keyer.worker(b, i)]!.push(c, off, Math.min(b.capLen[i]!, cb), b.wireLen[i]!, ts, b.linkType[i]!, b.ifIndex[i]!, seq);
          seq++;
        };
        if (buf.buffer === chunks.bufs[chunks.cur]!.buffer && buf.byteOffset === 0) {
          // read straight into the current shared chunk: nothing to copy
          const c = chunks.cur;
          for (let i = 0; i < count; i++) one(i, c, b.offset[i]!);
        } else {
          let i = 0;
          while (i < count) {
            // the packets from i on that fit into the rest of the current chunk: one copy for all
            const start = b.offset[i]!;
            const space = cb - chunks.used;
            let j = i;
            let end = start;
            while (j < count) {
              const e = b.offset[j]! + Math.min(b.capLen[j]!, cb);
              if (e - start > space) break;
              end = e;
              j++;
            }
            if (j === i) {
              // chunk full
              nextChunk();
              continue;
            }
            const c = chunks.cur;
            buf.copy(chunks.bufs[c]!, chunks.used, start, end);
            const delta = chunks.used - start;
            chunks.used += end - start;
            for (; i < j; i++) one(i, c, b.offset[i]! + delta);
          }
        }
        for (const r of rings) r.publish(seq, true, nowUs);
      }, {
        ...(d.batchPackets !== undefined ? { batchPackets: d.batchPackets } : {}),
        // plain files are read straight into the shared chunks
        readBuffer: (minBytes) => {
          if (minBytes > cb) return undefined;
          nextChunk();
          chunks.used = cb;
          return chunks.bufs[chunks.cur];
        },
        onProgress: (done, total) => port.postMessage({ t: 'progress', file, done, total, packets: seq } satisfies ReaderMessage),
      });
      port.postMessage({ t: 'file', result } satisfies ReaderMessage);
    } catch (err) {
      port.postMessage({ t: 'file-error', file, message: (err as Error).message } satisfies ReaderMessage);
    }
  }
  for (const r of rings) r.close();
  const c = process.threadCpuUsage();
  port.postMessage({ t: 'end', packets: seq, waitMs: rings.map((r) => r.waitMs), cpuMs: (c.user + c.system) / 1000 } satisfies ReaderMessage);
}

if (parentPort !== null && (workerData as { kind?: string } | undefined)?.kind === 'reader') void run((workerData as { data: ReaderData }).data);
