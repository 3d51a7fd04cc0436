/**
 * The only file that wires stages together, in order:
 *
 *   source ─► decode ─► flow ─► dissect ─► names ─► attribute ─► classify ─► detect ─► store
 *
 * `PacketPath` is the per-packet part (decode, flow, dissect); everything after it works per
 * flow record. The packet loop is written so that a packet that is not in the handshake phase
 * costs decode + one hash lookup + counter updates, nothing else.
 */
import type { DnsAnswer, FlowMeta, FlowRecord, PacketBatch } from './records.js';
import { Decoder } from './decode/decoder.js';
import { DECODE_REASONS } from './decode/reasons.js';
import { PacketView, TCP_FIN, TCP_RST, TCP_SYN } from './decode/view.js';
import { FlowTable, type FlowTableOptions } from './flow/table.js';
import { readCaptureFile, type FileReadOptions, type FileReadResult } from './source/file.js';

/** What the packet path needs from dissect (src/dissect/index.ts implements it). */
export interface PacketDissector {
  onPacket(view: PacketView, meta: FlowMeta): void;
  onFlowEnd(meta: FlowMeta): void;
  stats(): Record<string, number>;
}

export interface PacketPathDeps {
  dissector?: PacketDissector;
  onFlow(rec: FlowRecord, meta: FlowMeta): void;
}

/** How often (packet time) idle flows are expired. */
const EXPIRE_EVERY_US = 1e6;

export class PacketPath {
  readonly view = new PacketView();
  readonly decoder = new Decoder();
  readonly flows: FlowTable;
  private readonly dissector: PacketDissector | undefined;
  private nextExpireUs = 0;
  /** Newest packet time seen (drives expiry and `tick`). */
  nowUs = 0;
  packets = 0;
  wireBytes = 0;
  unkeyed = 0;
  /** Packets whose timestamp went backwards by more than a second (counted, still processed). */
  timeBackwards = 0;

  constructor(flowOpts: Partial<FlowTableOptions>, deps: PacketPathDeps) {
    this.dissector = deps.dissector;
    const d = deps.dissector;
    this.flows = new FlowTable(flowOpts, (rec, meta) => {
      if (d !== undefined && meta.inspect) {
        d.onFlowEnd(meta);
        if (meta.handshake !== undefined) rec.handshake = meta.handshake;
        if (meta.payloadEntropy !== undefined) rec.payloadEntropy = meta.payloadEntropy;
      } else if (d !== undefined && meta.dissectState !== undefined) {
        d.onFlowEnd(meta);
      }
      deps.onFlow(rec, meta);
    });
  }

  onBatch(b: PacketBatch): void {
    const v = this.view;
    const dec = this.decoder;
    const flows = this.flows;
    const d = this.dissector;
    const buf = b.buf;
    for (let i = 0; i < b.count; i++) {
      const ts = b.tsUs[i]!;
      const wire = b.wireLen[i]!;
      this.packets++;
      this.wireBytes += wire;
      if (ts > this.nowUs) {
        this.nowUs = ts;
        if (ts >= this.nextExpireUs) {
          if (this.nextExpireUs !== 0) flows.expire(ts);
          this.nextExpireUs = ts + EXPIRE_EVERY_US;
        }
      } else if (ts < this.nowUs - 1e6) this.timeBackwards++;
      if (!dec.decode(v, buf, b.offset[i]!, b.capLen[i]!, wire, b.linkType[i]!, ts, b.ifIndex[i]!)) continue;
      const slot = flows.update(v);
      if (slot < 0) {
        this.unkeyed++;
        continue;
      }
      if (d !== undefined) {
        const meta = flows.meta[slot]!;
        if (meta.inspect && (v.payloadLen > 0 || (v.tcpFlags & (TCP_SYN | TCP_FIN | TCP_RST)) !== 0)) d.onPacket(v, meta);
      }
    }
  }

  /** Advance packet time without packets (live capture on a quiet link). */
  tick(nowUs: number): void {
    if (nowUs > this.nowUs) this.nowUs = nowUs;
    this.flows.expire(this.nowUs);
  }

  /** End of input: emit every open flow. */
  finish(): void {
    this.flows.flushAll();
  }

  decodeStats(): Record<string, number> {
    const out: Record<string, number> = {};
    DECODE_REASONS.forEach((r, i) => {
      const n = this.decoder.counts[i]!;
      if (n > 0) out[r] = n;
    });
    return out;
  }
}

export interface ReplayFileOptions extends FileReadOptions {
  flow?: Partial<FlowTableOptions>;
  dissector?: PacketDissector;
  onFlow?(rec: FlowRecord, meta: FlowMeta): void;
  onDns?(a: DnsAnswer): void;
}

/**
 * Replay one capture file through decode → flow (→ dissect when a dissector is given) and return
 * every flow record. For tests and tools; the CLI uses the full Pipeline.
 */
export async function replayFile(
  path: string,
  opts: ReplayFileOptions = {},
): Promise<{ flows: FlowRecord[]; read: FileReadResult; path: PacketPath }> {
  const flows: FlowRecord[] = [];
  const deps: PacketPathDeps = {
    onFlow: (rec, meta) => {
      flows.push(rec);
      opts.onFlow?.(rec, meta);
    },
  };
  if (opts.dissector !== undefined) deps.dissector = opts.dissector;
  const pp = new PacketPath(opts.flow ?? {}, deps);
  const read = await readCaptureFile(path, (b) => pp.onBatch(b), opts);
  pp.finish();
  return { flows, read, path: pp };
}
