/** Feed synthetic TCP segments through the Dissector (no capture file needed). */
import { PacketView } from '../../src/decode/view.js';
import { Dissector, defaultDissectOptions } from '../../src/dissect/index.js';
import type { DissectOptions } from '../../src/dissect/index.js';
import type { FlowMeta } from '../../src/records.js';

export const SYN = 0x02;
export const ACK = 0x10;
export const FIN = 0x01;
export const PSH = 0x08;

export class TcpFeed {
  readonly d: Dissector;
  readonly meta: FlowMeta = { flowId: 1, proto: 6, respPort: 443, origPort: 40000, inspect: true };
  private readonly view = new PacketView();

  constructor(
    readonly isn = 1000,
    opts: Partial<DissectOptions> = {},
  ) {
    this.d = new Dissector({ ...defaultDissectOptions, ...opts }, { onDns: () => undefined });
  }

  /** One packet; payload is copied into a larger buffer at an offset, as capture chunks are. */
  packet(fromOrig: boolean, seq: number, ack: number, flags: number, payload: Buffer = Buffer.alloc(0)): void {
    if (!this.meta.inspect) return;
    const buf = Buffer.concat([Buffer.alloc(54, 0xaa), payload, Buffer.alloc(8, 0xbb)]);
    const v = this.view;
    v.buf = buf;
    v.proto = 6;
    v.payloadOff = 54;
    v.payloadLen = payload.length;
    v.payloadWireLen = payload.length;
    v.tcpSeq = seq >>> 0;
    v.tcpAck = ack >>> 0;
    v.tcpFlags = flags;
    v.fromOrig = fromOrig;
    v.srcPort = fromOrig ? 40000 : 443;
    v.dstPort = fromOrig ? 443 : 40000;
    this.d.onPacket(v, this.meta);
  }

  syn(): void {
    this.packet(true, this.isn, 0, SYN);
  }

  /** Client data at stream offset `rel` (0 = first byte after the SYN). */
  client(rel: number, data: Buffer): void {
    this.packet(true, this.isn + 1 + rel, 5001, ACK | PSH, data);
  }

  /** Server data acknowledging `ackRel` client bytes. */
  server(ackRel: number, data: Buffer): void {
    this.packet(false, 5001, this.isn + 1 + ackRel, ACK | PSH, data);
  }

  end(): void {
    this.d.onFlowEnd(this.meta);
  }

  get stats(): Record<string, number> {
    return this.d.stats();
  }
}
